"""The retraining example, offline: the Kubernetes Jobs say what the pipeline needs (a study
per run, a warm start, workers that wait for it, wait then best, exit codes that fail the Job),
and the Argo CronWorkflow is well formed: the fields Argo knows, containers that validate
against the Kubernetes 1.32 schema, and every template, task, parameter and volume it refers
to defined. Its commands are run for real in test_retraining_pipeline.py."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests.deploy.kube import DEPLOY, Obj, container, find, pod_spec, render

EXAMPLE = DEPLOY / "examples" / "retraining"
WORKFLOW = EXAMPLE / "argo" / "weekly-retraining.yaml"
KUBERNETES_VERSION = "1.32.0"
_REF = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")

# The fields of the Argo Workflows v1alpha1 types this file uses (argo-workflows' schema).
CRON_SPEC = {
    "schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "workflowSpec",
    "workflowMetadata", "stopStrategy", "when",
}  # fmt: skip
WORKFLOW_SPEC = {
    "entrypoint", "serviceAccountName", "automountServiceAccountToken", "executor",
    "podMetadata", "securityContext", "ttlStrategy", "arguments", "volumes", "templates",
    "podGC", "activeDeadlineSeconds", "nodeSelector", "tolerations", "parallelism",
    "volumeClaimTemplates", "onExit", "retryStrategy", "imagePullSecrets", "priority",
    "podPriorityClassName", "workflowMetadata", "archiveLogs", "artifactGC", "hooks",
}  # fmt: skip
TEMPLATE = {
    "name", "inputs", "outputs", "container", "script", "dag", "steps", "resource", "suspend",
    "volumes", "retryStrategy", "tolerations", "nodeSelector", "securityContext", "metadata",
    "activeDeadlineSeconds", "podSpecPatch", "initContainers", "sidecars", "serviceAccountName",
    "automountServiceAccountToken", "timeout", "parallelism", "failFast", "affinity",
}  # fmt: skip
DAG_TASK = {
    "name", "template", "depends", "dependencies", "arguments", "withSequence", "withItems",
    "withParam", "when", "continueOn", "hooks", "onExit", "templateRef",
}  # fmt: skip
KINDS = {"container", "script", "dag", "steps", "resource", "suspend"}
TASK_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned"}


@pytest.fixture(scope="module")
def workflow() -> Obj:
    doc: Obj = yaml.safe_load(WORKFLOW.read_text())
    return doc


def _refs(node: Any) -> set[str]:
    """Every {{...}} reference in a YAML subtree."""
    if isinstance(node, str):
        return set(_REF.findall(node))
    if isinstance(node, dict):
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _filled(node: Any) -> Any:
    """The subtree with each {{...}} replaced by a plain word, as Argo would fill it."""
    if isinstance(node, str):
        return _REF.sub("value", node)
    if isinstance(node, dict):
        return {k: _filled(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_filled(v) for v in node]
    return node


def test_the_cron_workflow_uses_only_fields_argo_knows(workflow: Obj) -> None:
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1"
    assert workflow["kind"] == "CronWorkflow"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", workflow["metadata"]["name"])
    spec = workflow["spec"]
    assert set(spec) <= CRON_SPEC, set(spec) - CRON_SPEC
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    wf = spec["workflowSpec"]
    assert set(wf) <= WORKFLOW_SPEC, set(wf) - WORKFLOW_SPEC
    names = [t["name"] for t in wf["templates"]]
    assert len(names) == len(set(names)) and wf["entrypoint"] in names
    for template in wf["templates"]:
        assert set(template) <= TEMPLATE, (template["name"], set(template) - TEMPLATE)
        assert len(KINDS & set(template)) == 1, template["name"]
        for task in template.get("dag", {}).get("tasks", []):
            assert set(task) <= DAG_TASK, (task["name"], set(task) - DAG_TASK)


def test_every_reference_in_the_workflow_is_defined(workflow: Obj) -> None:
    wf = workflow["spec"]["workflowSpec"]
    templates = {t["name"]: t for t in wf["templates"]}
    globals_ = {f"workflow.parameters.{p['name']}" for p in wf["arguments"]["parameters"]}
    workflow_volumes = {v["name"] for v in wf.get("volumes", [])}
    dag = templates[wf["entrypoint"]]["dag"]["tasks"]
    tasks = {t["name"]: t for t in dag}
    for name, template in templates.items():
        inputs = {f"inputs.parameters.{p['name']}" for p in template.get("inputs", {}).get(
            "parameters", []
        )}  # fmt: skip
        body = {k: v for k, v in template.items() if k not in ("dag", "inputs", "outputs")}
        unknown = _refs(body) - inputs - globals_
        assert not unknown, f"template {name}: {sorted(unknown)}"
        volumes = workflow_volumes | {v["name"] for v in template.get("volumes", [])}
        main = template.get("container") or template.get("script")
        if main is not None:
            mounts = {m["name"] for m in main.get("volumeMounts", [])}
            assert mounts <= volumes, f"template {name}: no volume {sorted(mounts - volumes)}"
    for name, task in tasks.items():
        template = templates[task["template"]]
        for word in re.split(r"&&|\|\||[()!]", task.get("depends", "")):
            if word.strip():
                other, _, result = word.strip().partition(".")
                assert other in tasks and other != name, f"{name} depends on {other}"
                assert not result or result in TASK_RESULTS, word
        given = {p["name"] for p in task.get("arguments", {}).get("parameters", [])}
        wanted = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        assert given == wanted, f"task {name} passes {sorted(given)}, wants {sorted(wanted)}"
        for ref in _refs(task.get("arguments", {})) | _refs(task.get("withSequence", {})):
            if ref == "item":
                assert "withSequence" in task or "withItems" in task, name
                continue
            if ref.startswith("tasks."):
                _, other, _, _, output = ref.split(".")
                assert other in _ancestors(tasks, name), f"{name} reads {other} before it ran"
                outputs = templates[tasks[other]["template"]]["outputs"]["parameters"]
                assert output in {o["name"] for o in outputs}, ref
                continue
            assert ref in globals_, f"task {name}: {ref}"


def _ancestors(tasks: dict[str, Obj], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        depends = tasks[todo.pop()].get("depends", "")
        for other in re.findall(r"[a-z][\w-]*", depends):
            if other in tasks and other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def test_every_step_runs_as_a_restricted_pod_that_validates(workflow: Obj) -> None:
    import kubernetes_validate

    wf = workflow["spec"]["workflowSpec"]
    for template in wf["templates"]:
        main = template.get("container") or template.get("script")
        if main is None:
            continue
        main = {k: v for k, v in copy.deepcopy(main).items() if k != "source"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": template["name"], **_filled(wf.get("podMetadata", {}))},
            "spec": {
                "securityContext": wf["securityContext"],
                "automountServiceAccountToken": wf["automountServiceAccountToken"],
                "containers": [{"name": "main", **_filled(main)}],
                "volumes": [*wf.get("volumes", []), *template.get("volumes", [])],
                "tolerations": template.get("tolerations", []),
            },
        }
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert {"cpu", "memory"} <= set(main["resources"]["limits"]), template["name"]
        assert main["image"].rsplit(":", 1)[1] == "0.1.0", main["image"]


def test_the_workflow_steps_name_the_run_warm_start_wait_and_write_the_best(
    workflow: Obj,
) -> None:
    templates = {t["name"]: t for t in workflow["spec"]["workflowSpec"]["templates"]}

    def script(name: str) -> str:
        (args,) = templates[name]["container"]["args"]
        return " ".join(args.split())

    assert "isocalendar()" in templates["names"]["script"]["source"]
    create = script("create")
    assert '--name "{{inputs.parameters.run}}"' in create
    assert '--warm-start-from "{{inputs.parameters.previous}}" --warm-start-optional' in create
    worker = script("worker")
    assert 'asktell worker --study "{{inputs.parameters.run}}" --task digits-mlp' in worker
    wait = script("wait")
    assert 'asktell study wait "{{inputs.parameters.run}}"' in wait
    assert 'if [ "$code" -eq 3 ]; then asktell study stop' in wait and 'exit "$code"' in wait
    assert "asktell study best" in script("best")
    for name in ("create", "worker", "wait", "best"):
        env = {e["name"]: e["value"] for e in templates[name]["container"]["env"]}
        assert env["ASKTELL_SERVER"] == "{{workflow.parameters.server}}"
    (server,) = [
        p for p in workflow["spec"]["workflowSpec"]["arguments"]["parameters"]
        if p["name"] == "server"
    ]  # fmt: skip
    assert server["value"] == "dns:///asktell-headless:50051"  # round robin over replicas


def test_the_jobs_create_per_run_wait_for_the_study_and_fail_on_wait_codes() -> None:
    objects = render("retraining")
    maps = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in objects if o["kind"] == "ConfigMap"}
    study = yaml.safe_load(maps["asktell-retrain-spec"]["data"]["study.yaml"])
    from asktell.client._spec import spec_to_proto

    spec_to_proto(study)  # a spec the client accepts
    run = maps["asktell-retrain-run"]["data"]
    assert set(run) == {"RUN_NAME", "WARM_START_FROM", "MAX_WAIT"}

    tune = find(objects, "Job", "asktell-retrain-tune")
    spec = pod_spec(tune)
    assert spec["restartPolicy"] == "Never"  # podFailurePolicy needs it
    (create,) = spec["initContainers"]
    script = " ".join(create["args"][0].split())
    assert (
        'asktell study create -f /spec/study.yaml --name "$RUN_NAME" '
        '--warm-start-from "$WARM_START_FROM" --warm-start-optional'
    ) in script
    wait = " ".join(container(tune, "wait-and-best")["args"][0].split())
    assert 'asktell study wait "$RUN_NAME" --max-wait "$MAX_WAIT"' in wait
    assert 'exec asktell study best "$RUN_NAME" --format json --out /results/best.json' in wait
    (rule,) = tune["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [3, 4, 5]
    volumes = {v["name"]: v for v in spec["volumes"]}
    find(objects, "PersistentVolumeClaim", volumes["results"]["persistentVolumeClaim"]["claimName"])
    assert volumes["spec"]["configMap"]["name"] == maps["asktell-retrain-spec"]["metadata"]["name"]

    workers = find(objects, "Job", "asktell-retrain-workers")
    assert workers["spec"]["completionMode"] == "Indexed"
    assert workers["spec"]["parallelism"] == workers["spec"]["completions"] > 1
    (waits,) = pod_spec(workers)["initContainers"]
    assert 'until asktell study show "$RUN_NAME"' in " ".join(waits["args"][0].split())
    worker = container(workers, "worker")
    script = " ".join(worker["args"][0].split())
    assert 'asktell worker --study "$RUN_NAME"' in script and "${JOB_COMPLETION_INDEX}" in script
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["ASKTELL_SERVER"] == "dns:///asktell-headless:50051"
    for job in (tune, workers):
        for c in [*pod_spec(job)["initContainers"], *pod_spec(job)["containers"]]:
            refs = {r["configMapRef"]["name"] for r in c.get("envFrom", [])}
            assert refs == {maps["asktell-retrain-run"]["metadata"]["name"]}, c["name"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_checks_catch_a_misspelt_field_and_an_undefined_parameter(workflow: Obj) -> None:
    import kubernetes_validate

    misspelt = copy.deepcopy(workflow)
    misspelt["spec"]["workflowSpec"]["templates"][1]["retryStrategey"] = {"limit": 1}
    with pytest.raises(AssertionError):
        test_the_cron_workflow_uses_only_fields_argo_knows(misspelt)
    undefined = copy.deepcopy(workflow)
    create = next(
        t for t in undefined["spec"]["workflowSpec"]["templates"] if t["name"] == "create"
    )
    create["container"]["args"][0] += " {{workflow.parameters.nowhere}}"
    with pytest.raises(AssertionError):
        test_every_reference_in_the_workflow_is_defined(undefined)
    bad_container = copy.deepcopy(workflow)
    best = next(
        t for t in bad_container["spec"]["workflowSpec"]["templates"] if t["name"] == "best"
    )
    best["container"]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        test_every_step_runs_as_a_restricted_pod_that_validates(bad_container)
