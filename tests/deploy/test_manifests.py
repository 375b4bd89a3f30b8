"""The kustomizations in deploy/ render offline, validate against the Kubernetes 1.32 schemas,
and say what the deployment guide promises: restricted pods, probes, secrets, GPUs, policies."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from asktell.worker.cli import worker_command
from tests.deploy.kube import (
    DEPLOY,
    KUSTOMIZATIONS,
    REPO,
    SECRET_FILES,
    SECRETS,
    Obj,
    arg,
    container,
    copy_deploy,
    env,
    find,
    kustomize,
    pod_spec,
    port,
    render,
)

KUBERNETES_VERSION = "1.32.0"
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}


def validate(doc: Obj) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def check_crd(doc: Obj) -> None:
    """The Prometheus Operator kinds, which kubernetes-validate has no schema for."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    spec = doc["spec"]
    if doc["kind"] == "PrometheusRule":
        assert set(spec) == {"groups"}
        for group in spec["groups"]:
            assert set(group) <= {"name", "interval", "rules"} and group["rules"]
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
                assert ("alert" in rule) != ("record" in rule) and rule["expr"]
        return
    endpoints_key = "endpoints" if doc["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
    assert set(spec) == {"jobLabel", "selector", endpoints_key}, spec
    assert spec["selector"]["matchLabels"]
    for endpoint in spec[endpoints_key]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert isinstance(endpoint["port"], str) and endpoint["path"].startswith("/")


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_every_object_validates_offline(name: str) -> None:
    objects = render(name)
    assert objects
    for doc in objects:
        if doc["kind"] in CRD_KINDS:
            check_crd(doc)
        else:
            validate(doc)


def test_strict_validation_catches_a_misspelt_field() -> None:
    import kubernetes_validate

    deployment = copy.deepcopy(find(render("base"), "Deployment", "asktell-server"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def _workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_pods_run_restricted(name: str) -> None:
    for workload in _workloads(render(name)):
        where = f"{name}: {workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for c in spec["containers"]:
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            resources = c["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where
            if c["image"].split("/")[-1].startswith("asktell-") and c["name"] != "create":
                mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
                assert "/tmp" in mounts or c["name"] == "best", where
    service_accounts = [o for o in render(name) if o["kind"] == "ServiceAccount"]
    for account in service_accounts:
        assert account["automountServiceAccountToken"] is False


def test_images_are_the_dockerfile_targets_with_a_tag() -> None:
    for name in KUSTOMIZATIONS:
        for workload in _workloads(render(name)):
            for c in pod_spec(workload)["containers"]:
                image = c["image"]
                assert re.search(r":\d+(\.\d+)+[\w.-]*$", image), f"{image}: pin a version"
                repository = image.rsplit(":", 1)[0].split("/")[-1]
                assert repository in {"asktell-server", "asktell-worker", "postgres"}, image


@pytest.mark.parametrize("name", ["base", "dev", "production"])
def test_services_reach_the_server_ports(name: str) -> None:
    objects = render(name)
    server = find(objects, "Deployment", "asktell-server")
    labels = server["spec"]["template"]["metadata"]["labels"]
    named_ports = {p["name"] for p in container(server, "server")["ports"]}
    for service_name in ("asktell", "asktell-headless"):
        service = find(objects, "Service", service_name)
        selector = service["spec"]["selector"]
        assert selector.items() <= labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= named_ports
        assert any(p["port"] == 50051 and p["name"] == "grpc" for p in service["spec"]["ports"])
    assert find(objects, "Service", "asktell-headless")["spec"]["clusterIP"] == "None"
    metrics = {p["name"]: p["port"] for p in find(objects, "Service", "asktell")["spec"]["ports"]}
    assert metrics["metrics"] == 9090


def test_prometheus_rule_has_exactly_the_rule_files_groups() -> None:
    rule_file = yaml.safe_load((DEPLOY / "prometheus" / "asktell-rules.yml").read_text())
    rule = find(render("production"), "PrometheusRule", "asktell")
    assert rule["spec"]["groups"] == rule_file["groups"]


def test_grafana_dashboard_config_map_is_the_dashboard_file() -> None:
    config_map = find(render("production"), "ConfigMap", "asktell-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = (DEPLOY / "grafana" / "asktell-dashboard.json").read_text()
    assert json.loads(config_map["data"]["asktell-dashboard.json"]) == json.loads(dashboard)


def test_monitors_scrape_named_metrics_ports() -> None:
    objects = render("production")
    service_monitor = find(objects, "ServiceMonitor", "asktell-server")
    service = find(objects, "Service", "asktell")
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in service_monitor["spec"]["endpoints"]} <= service_ports

    pod_monitor = find(objects, "PodMonitor", "asktell-worker")
    worker = find(objects, "Deployment", "asktell-worker")
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= (
        worker["spec"]["template"]["metadata"]["labels"].items()
    )
    worker_container = container(worker, "worker")
    for endpoint in pod_monitor["spec"]["podMetricsEndpoints"]:
        metrics_port = port(worker_container, endpoint["port"])
        assert arg(worker_container["args"], "--metrics-port") == str(metrics_port)


def test_dev_runs_one_server_on_sqlite_on_a_claim_without_auth() -> None:
    objects = render("dev")
    server = find(objects, "Deployment", "asktell-server")
    assert server["spec"]["replicas"] == 1
    assert server["spec"]["strategy"]["type"] == "Recreate"  # one SQLite writer at a time
    c = container(server, "server")
    variables = env(c)
    assert "ASKTELL_AUTH_FILE" not in variables
    db = variables["ASKTELL_DB"]["value"]
    assert db.startswith("sqlite:////")
    mount = next(
        m
        for m in c["volumeMounts"]
        if db.removeprefix("sqlite:///").startswith(m["mountPath"] + "/")
    )
    volume = next(v for v in pod_spec(server)["volumes"] if v["name"] == mount["name"])
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert set(volume) == {"name", "persistentVolumeClaim"}
    find(objects, "PersistentVolumeClaim", claim)
    assert not [o for o in objects if o["kind"] == "Secret"]


def _secret_data(objects: list[Obj], name: str) -> dict[str, str]:
    import base64

    secret = find(objects, "Secret", name)
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def test_production_server_takes_its_database_and_tokens_from_secrets() -> None:
    objects = render("production")
    server = find(objects, "Deployment", "asktell-server")
    assert server["spec"]["replicas"] == 3
    c = container(server, "server")
    variables = env(c)
    reference = variables["ASKTELL_DB"]["valueFrom"]["secretKeyRef"]
    assert set(variables["ASKTELL_DB"]) == {"name", "valueFrom"}
    url = _secret_data(objects, reference["name"])[reference["key"]]
    assert url.startswith("postgresql://")
    assert "@asktell-postgres:5432/" in url  # the StatefulSet's Service

    auth_file = variables["ASKTELL_AUTH_FILE"]["value"]
    mount = next(m for m in c["volumeMounts"] if auth_file.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod_spec(server)["volumes"] if v["name"] == mount["name"])
    tokens_file = _secret_data(objects, volume["secret"]["secretName"])[
        auth_file.removeprefix(mount["mountPath"] + "/")
    ]
    from asktell.server.auth import Role, load_tokens

    table: dict[str, str] = yaml.safe_load(tokens_file)["tokens"]
    client_tokens = _secret_data(objects, "asktell-client-tokens")
    assert {role: token for token, role in table.items()} == client_tokens
    import hashlib
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(tokens_file)
        f.flush()
        digests = load_tokens(f.name)  # the server accepts the file as it is
    for role, token in client_tokens.items():
        assert digests[hashlib.sha256(token.encode()).digest()].role == Role[role.upper()]


def test_production_does_not_render_without_its_secret_files(tmp_path: Path) -> None:
    def ignored(name: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", str(SECRETS / name)], cwd=REPO)
        assert check.returncode in (0, 1), "git check-ignore failed"
        return check.returncode == 0

    # git never takes the real files, and keeps what the overlay ships.
    assert all(ignored(name) for name in SECRET_FILES)
    shipped = [".gitignore", "README.md", "generate.sh", *(f"{n}.example" for n in SECRET_FILES)]
    assert not any(ignored(name) for name in shipped)
    assert all((SECRETS / name).is_file() for name in shipped)
    secrets = copy_deploy(tmp_path) / SECRETS.relative_to(DEPLOY)
    result = kustomize(secrets.parent)
    assert result.returncode != 0 and "secrets/db.env" in result.stderr, result.stderr
    subprocess.run(["sh", str(secrets / "generate.sh")], check=True, capture_output=True)
    for name in SECRET_FILES:  # each of the four is needed
        content = (secrets / name).read_text()
        (secrets / name).unlink()
        result = kustomize(secrets.parent)
        assert result.returncode != 0 and f"secrets/{name}" in result.stderr, result.stderr
        (secrets / name).write_text(content)
    assert kustomize(secrets.parent).returncode == 0


def test_generate_writes_private_files_and_never_overwrites(tmp_path: Path) -> None:
    secrets = copy_deploy(tmp_path) / SECRETS.relative_to(DEPLOY)
    generate = ["sh", str(secrets / "generate.sh")]
    subprocess.run(generate, check=True, capture_output=True)
    for name in SECRET_FILES:
        assert (secrets / name).stat().st_mode & 0o077 == 0, name
    before = {name: (secrets / name).read_text() for name in SECRET_FILES}
    again = subprocess.run(generate, capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr
    assert before == {name: (secrets / name).read_text() for name in SECRET_FILES}


def _secrets_problems(objects: list[Obj]) -> list[str]:
    """What `asktell serve` and a careful operator would refuse in the rendered Secrets."""
    from asktell.server.auth import password_problem, token_problem
    from asktell.server.cli import database_password_problem

    problems = []
    url = _secret_data(objects, "asktell-db")["url"]
    if database_password_problem(url):
        problems.append("asktell-db/url")
    postgres = _secret_data(objects, "asktell-postgres")
    if password_problem(postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_USER"]):
        problems.append("asktell-postgres/POSTGRES_PASSWORD")
    for role, token in _secret_data(objects, "asktell-client-tokens").items():
        if token_problem(token):
            problems.append(f"asktell-client-tokens/{role}")
    return problems


def test_production_secrets_are_real_and_agree() -> None:
    from urllib.parse import urlparse

    objects = render("production")
    assert _secrets_problems(objects) == []
    url = urlparse(_secret_data(objects, "asktell-db")["url"])
    postgres = _secret_data(objects, "asktell-postgres")
    assert (url.username, url.password, url.path) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "/" + postgres["POSTGRES_DB"],
    )


def test_the_example_secret_files_render_but_are_refused(tmp_path: Path) -> None:
    import tempfile

    from asktell.server.auth import PlaceholderSecretError, load_tokens

    secrets = copy_deploy(tmp_path) / SECRETS.relative_to(DEPLOY)
    for name in SECRET_FILES:
        shutil.copy(secrets / f"{name}.example", secrets / name)
    result = kustomize(secrets.parent)
    assert result.returncode == 0, result.stderr  # kustomize cannot tell; the server can
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert _secrets_problems(objects) == [
        "asktell-db/url",
        "asktell-postgres/POSTGRES_PASSWORD",
        "asktell-client-tokens/admin",
        "asktell-client-tokens/viewer",
        "asktell-client-tokens/worker",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(_secret_data(objects, "asktell-auth")["tokens.yaml"])
        f.flush()
        with pytest.raises(PlaceholderSecretError, match="placeholder"):
            load_tokens(f.name)


def test_production_scaling_disruption_and_database() -> None:
    objects = render("production")
    hpa = find(objects, "HorizontalPodAutoscaler", "asktell-server")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "asktell-server",
    }
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = find(objects, "PodDisruptionBudget", "asktell-server")
    assert pdb["spec"]["minAvailable"] == 2
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    server_labels = find(objects, "Deployment", "asktell-server")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= server_labels.items()

    postgres = find(objects, "StatefulSet", "asktell-postgres")
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert postgres["spec"]["serviceName"] == "asktell-postgres"
    find(objects, "Service", "asktell-postgres")


def test_production_workers_get_a_gpu_and_a_worker_token() -> None:
    objects = render("production")
    worker = find(objects, "Deployment", "asktell-worker")
    c = container(worker, "worker")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    tolerations = pod_spec(worker)["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    token_file = arg(c["args"], "--token-file")
    mount = next(m for m in c["volumeMounts"] if token_file.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod_spec(worker)["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["items"] == [{"key": "worker", "path": "worker"}]
    assert arg(c["args"], "--server") == "dns:///asktell-headless:50051"


def _ingress_ports(policy: Obj) -> list[tuple[int, list[Any]]]:
    return [(p["port"], rule["from"]) for rule in policy["spec"]["ingress"] for p in rule["ports"]]


def test_production_network_policies() -> None:
    objects = render("production")
    server = _ingress_ports(find(objects, "NetworkPolicy", "asktell-server"))
    assert sorted(p for p, _ in server) == [9090, 50051]
    grpc_from = next(f for p, f in server if p == 50051)
    worker_labels = find(objects, "Deployment", "asktell-worker")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert any(
        set(f) == {"podSelector"}
        and f["podSelector"]["matchLabels"].items() <= worker_labels.items()
        for f in grpc_from
    )
    metrics_from = next(f for p, f in server if p == 9090)
    assert all("namespaceSelector" in f and "podSelector" in f for f in metrics_from)
    postgres = _ingress_ports(find(objects, "NetworkPolicy", "asktell-postgres"))
    assert postgres == [
        (5432, [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "asktell-server"}}}])
    ]


def _worker_options(args: list[str]) -> set[str]:
    return {a for a in args if re.fullmatch(r"--[a-z][-a-z]*", a)}


def test_worker_command_lines_use_real_options() -> None:
    known = {opt for p in worker_command.params for opt in getattr(p, "opts", [])}
    used: set[str] = set()
    for name in KUSTOMIZATIONS:
        for workload in _workloads(render(name)):
            for c in pod_spec(workload)["containers"]:
                if c["image"].rsplit(":", 1)[0].endswith("asktell-worker"):
                    words = " ".join(c.get("args", [])).split()
                    used |= _worker_options(words)
    assert {"--server", "--study", "--task", "--metrics-port", "--token-file"} <= used
    assert used <= known, f"the worker has no {sorted(used - known)}"


# ------------------------------------------------------------------ the dashboard component
def _with_dashboard(overlay: str, directory: Path) -> list[Obj]:
    """An overlay (dev or production, in a copy of deploy/ in `directory`, production with
    its secret files generated) with the deploy/dashboard component added to its
    kustomization as docs/dashboard.md says, rendered."""
    root = copy_deploy(directory)
    if overlay == "production":
        secrets = root / SECRETS.relative_to(DEPLOY)
        subprocess.run(["sh", str(secrets / "generate.sh")], check=True, capture_output=True)
    kustomization = root / "overlays" / overlay / "kustomization.yaml"
    assert "components:" not in kustomization.read_text()
    with kustomization.open("a") as out:
        out.write("components:\n  - ../../dashboard\n")
    result = kustomize(kustomization.parent)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_the_dashboard_component_is_not_in_any_overlay_by_default() -> None:
    for name in KUSTOMIZATIONS:  # (production's Grafana ConfigMap has the name too)
        kinds = {o["kind"] for o in render(name) if o["metadata"]["name"] == "asktell-dashboard"}
        assert not kinds & {"Deployment", "Service"}, name


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_the_dashboard_component_validates_and_runs_restricted(
    overlay: str, tmp_path: Path
) -> None:
    objects = _with_dashboard(overlay, tmp_path)
    for doc in objects:
        if doc["kind"] in CRD_KINDS:
            check_crd(doc)
        else:
            validate(doc)
    dashboard = find(objects, "Deployment", "asktell-dashboard")
    service = find(objects, "Service", "asktell-dashboard")
    server = find(objects, "Deployment", "asktell-server")
    namespace = server["metadata"]["namespace"]  # the overlay's namespace applies to it
    assert dashboard["metadata"]["namespace"] == service["metadata"]["namespace"] == namespace
    spec = pod_spec(dashboard)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = spec["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) <= set(c["resources"]["limits"])
    assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}
    assert re.fullmatch(r"registry\.example\.com/asktell-server:\d+(\.\d+)+", c["image"])
    # The Service reaches the dashboard's named port; the probes need no server.
    labels = dashboard["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    assert port(c, "http") == 8080
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"].startswith("/static/"), probe
    # A caller of the server: production's NetworkPolicy admits it.
    assert labels["asktell.io/client"] == "true"


def test_the_dashboard_component_reads_the_servers_with_the_viewer_token(
    tmp_path: Path,
) -> None:
    from asktell.dashboard.cli import dashboard_command

    objects = _with_dashboard("production", tmp_path)
    dashboard = find(objects, "Deployment", "asktell-dashboard")
    c = container(dashboard, "dashboard")
    assert c["command"] == ["/bin/sh", "-c"]
    script = c["args"][0]
    words = script.replace(";", " ").split()
    command = words[words.index("asktell") :]
    assert command[:2] == ["asktell", "dashboard"]
    known = {opt for p in dashboard_command.params for opt in getattr(p, "opts", [])}
    used = {w for w in command if w.startswith("--")}
    assert used <= known, f"asktell dashboard has no {sorted(used - known)}"
    assert arg(command, "--server") == "dns:///asktell-headless:50051"
    assert arg(command, "--host") == "0.0.0.0" and arg(command, "--port") == "8080"
    # The token file is the viewer key of the client tokens Secret, when there is one.
    assert "--token-file /token/viewer" in script and "[ -f /token/viewer ]" in script
    volumes = {v["name"]: v for v in pod_spec(dashboard)["volumes"]}
    secret = volumes["token"]["secret"]
    assert secret["secretName"] == "asktell-client-tokens" and secret["optional"] is True
    assert secret["items"] == [{"key": "viewer", "path": "viewer"}]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["token"]["mountPath"] == "/token" and mounts["token"]["readOnly"] is True
    assert "viewer" in find(objects, "Secret", secret["secretName"])["data"]
    server = find(objects, "Service", "asktell-headless")
    assert any(p["port"] == 50051 for p in server["spec"]["ports"])
