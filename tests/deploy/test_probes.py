"""The manifests' probes and scrape ports call what `asktell serve` really serves.

A server is started with the environment the rendered Deployment gives it (only the
address and the store are moved to loopback and a temporary file), then the probes'
health checks and the ServiceMonitor's scrape are made exactly as the cluster would.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asktell.server.cli import serve_command
from tests.deploy.kube import Obj, container, env, find, port, render


def _free(number: int) -> int:
    """`number` when it is free on loopback, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", number))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _option_default(name: str) -> object:
    return next(p.default for p in serve_command.params if p.name == name)


@pytest.fixture(scope="module")
def deployment() -> Obj:
    return find(render("production"), "Deployment", "asktell-server")


@pytest.fixture(scope="module")
def served(deployment: Obj, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`asktell serve` with the Deployment's ASKTELL_* values; the ports it listens on."""
    c = container(deployment, "server")
    variables = {k: v["value"] for k, v in env(c).items() if "value" in v}
    grpc_port, metrics_port = int(variables["ASKTELL_PORT"]), int(variables["ASKTELL_METRICS_PORT"])
    ports = {"grpc": _free(grpc_port), "metrics": _free(metrics_port)}
    tmp = tmp_path_factory.mktemp("probes")
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("ASKTELL_")}
    process_env.update(variables)
    process_env.update(
        ASKTELL_HOST="127.0.0.1",
        ASKTELL_PORT=str(ports["grpc"]),
        ASKTELL_METRICS_PORT=str(ports["metrics"]),
        ASKTELL_DB=f"sqlite:///{tmp / 'asktell.db'}",
        PYTHONUNBUFFERED="1",
    )
    process_env.pop("ASKTELL_AUTH_FILE")  # health checks are open with or without tokens
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "asktell.client._cli", "serve"],
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert re.search(rf"serving on 127\.0\.0\.1:{ports['grpc']} ", line), (
        line + (tmp / "server.log").read_text()
    )
    yield ports
    process.terminate()
    process.wait(timeout=30)
    log.close()


def _check(address: str, service: str) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return response.status


def test_probe_ports_are_the_servers_grpc_port(deployment: Obj) -> None:
    c = container(deployment, "server")
    variables = env(c)
    grpc_port = port(c, "grpc")
    assert int(variables["ASKTELL_PORT"]["value"]) == grpc_port == _option_default("port")
    assert variables["ASKTELL_HOST"]["value"] == "0.0.0.0"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == grpc_port, probe


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_each_probe_gets_serving_from_the_server(
    deployment: Obj, served: dict[str, int], probe: str
) -> None:
    service = container(deployment, "server")[probe]["grpc"].get("service", "")
    status = _check(f"127.0.0.1:{served['grpc']}", service)
    assert status == health_pb2.HealthCheckResponse.SERVING


def test_readiness_names_the_asktell_service(deployment: Obj, served: dict[str, int]) -> None:
    service = container(deployment, "server")["readinessProbe"]["grpc"]["service"]
    assert service == "asktell.v1.AsktellService"
    with pytest.raises(grpc.RpcError) as error:  # a misspelt name would never be ready
        _check(f"127.0.0.1:{served['grpc']}", service + "x")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_service_monitor_scrapes_the_servers_metrics_port(
    deployment: Obj, served: dict[str, int]
) -> None:
    objects = render("production")
    monitor = find(objects, "ServiceMonitor", "asktell-server")
    service = find(objects, "Service", "asktell")
    c = container(deployment, "server")
    for endpoint in monitor["spec"]["endpoints"]:
        service_port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
        container_port = port(c, service_port["targetPort"])
        assert container_port == int(env(c)["ASKTELL_METRICS_PORT"]["value"])
        # The server listens where the pod's named port says; fetch what Prometheus would.
        url = f"http://127.0.0.1:{served['metrics']}{endpoint['path']}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert "asktell_store_up 1.0" in body


def test_the_image_defaults_match_the_deployment(deployment: Obj) -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    server_stage = dockerfile.split(" AS server", 1)[1].split("\nFROM ", 1)[0]
    variables = {
        k: v["value"] for k, v in env(container(deployment, "server")).items() if "value" in v
    }
    for name in ("ASKTELL_HOST", "ASKTELL_PORT", "ASKTELL_METRICS_PORT"):
        assert re.search(rf"\b{name}={re.escape(variables[name])}\b", server_stage), name
    exposed = re.search(r"^EXPOSE (.+)$", server_stage, re.M)
    assert exposed and exposed.group(1).split() == [
        variables["ASKTELL_PORT"],
        variables["ASKTELL_METRICS_PORT"],
    ]
