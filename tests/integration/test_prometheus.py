"""A real Prometheus scrapes a real server: what it sees equals what the store says."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from asktell.client import Client, NotFoundError
from tests import ci
from tests.conftest import REPO, ServerProcess, simple_spec
from tests.services import PrometheusServer, missing

RULES = REPO / "deploy" / "prometheus" / "asktell-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "asktell-dashboard.json"
# Exported by workers (asktell.worker), not by the server.
WORKER_METRICS = {
    "asktell_worker_trials_total",
    "asktell_worker_training_seconds_sum",
    "asktell_worker_samples_per_second",
    "asktell_worker_gpu_memory_bytes",
}


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return response.read().decode()


@pytest.fixture
def metered_server(server_process: ServerProcess) -> ServerProcess:
    server_process.start("--metrics-port", "0")
    assert server_process.metrics_address
    return server_process


def test_prometheus_sees_what_the_store_says(metered_server: ServerProcess, tmp_path: Path) -> None:
    prometheus = PrometheusServer({"asktell": [metered_server.metrics_address]}, tmp_path)
    try:
        with Client(metered_server.address) as client:
            study = client.create_study(simple_spec("prom"))
            trials = study.ask_many(5)
            for trial, value in zip(trials[:3], (0.5, 0.25, 0.75), strict=True):
                trial.tell(value)
            trials[3].fail("diverged")
            trials[4].report(1, 0.9)
            with pytest.raises(NotFoundError):
                client.get_study("missing")
            stored = study.info().counts
            best = study.best_trial
        assert best is not None
        s = 'study="prom"'
        prometheus.wait_for(f'asktell_study_trials{{{s},state="COMPLETE"}}', stored.complete)
        prometheus.wait_for(f'asktell_study_trials{{{s},state="FAILED"}}', stored.failed)
        prometheus.wait_for(f'asktell_study_trials{{{s},state="RUNNING"}}', stored.running)
        prometheus.wait_for(f"asktell_study_best_value{{{s}}}", best.value)  # type: ignore[arg-type]
        rpc = 'grpc_server_handled_total{grpc_service="asktell.v1.AsktellService"'
        prometheus.wait_for(f'{rpc},grpc_method="Ask",grpc_code="OK"}}', 1)
        prometheus.wait_for(f'{rpc},grpc_method="Tell",grpc_code="OK"}}', 4)
        prometheus.wait_for(f'{rpc},grpc_method="Report",grpc_code="OK"}}', 1)
        prometheus.wait_for(f'{rpc},grpc_method="GetStudy",grpc_code="NOT_FOUND"}}', 1)
        prometheus.wait_for('asktell_tells_total{state="COMPLETE"}', 3)
        prometheus.wait_for('asktell_trials_created_total{source="random"}', 5)
        prometheus.wait_for('asktell_suggestion_seconds_count{algorithm="random"}', 1)
        prometheus.wait_for("asktell_store_up", 1)
    finally:
        prometheus.close()


def test_rules_pass_promtool() -> None:
    if subprocess.run(["which", "promtool"], capture_output=True).returncode:
        missing("promtool (Debian package prometheus)")
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_and_rules_query_only_exported_metrics(metered_server: ServerProcess) -> None:
    with Client(metered_server.address) as client:
        study = client.create_study(simple_spec("names"))
        trial = study.ask()
        assert trial is not None
        trial.tell(1.0)
    exported = set()
    for line in _scrape(metered_server.metrics_address).splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            exported.add(name)
            if kind in ("counter",):
                exported.add(f"{name}_total")
            if kind == "histogram":
                exported.update(f"{name}_{s}" for s in ("bucket", "sum", "count"))
    exported |= WORKER_METRICS | {"up"}
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    queries += re.findall(r"expr: \|?\n?((?:.|\n)*?)\n\s+for:", RULES.read_text())
    assert queries
    for query in queries:
        # Label matchers and grouping clauses name labels, not metrics.
        bare = re.sub(r"\{[^}]*\}|\bby \([^)]*\)", "", query)
        # `up` is Prometheus's own series of each scrape target.
        names = set(re.findall(r"\b((?:asktell|grpc_server)_[a-z0-9_]+|up\b)", bare))
        assert names, f"no metric in {query!r}"
        unknown = names - exported
        assert not unknown, f"{query!r} names metrics nobody exports: {unknown}"


def test_prometheus_sees_a_real_worker(metered_server: ServerProcess, tmp_path: Path) -> None:
    import os
    import sys

    from tests.services import free_port

    ci.require_module("torch", "worker")  # `asktell worker` needs the worker extra
    worker_port = free_port()
    spec = simple_spec("worked")
    spec["parameters"] = {
        "x": {"type": "float", "min": 0.0, "max": 1.0},
        "steps": {"type": "discrete", "values": [2, 400]},
    }
    with Client(metered_server.address) as client:
        study = client.create_study(spec)
        study.enqueue([{"x": 0.1, "steps": 2}, {"x": 0.2, "steps": 2}, {"x": 0.3, "steps": 400}])
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "worker",
            "--server",
            metered_server.address,
            "--study",
            "worked",
            "--task",
            "tests.e2e.tasks:slow",
            "--metrics-port",
            str(worker_port),
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    prometheus = PrometheusServer(
        {"asktell": [metered_server.metrics_address], "worker": [f"127.0.0.1:{worker_port}"]},
        tmp_path,
    )
    try:
        # Two short trials done, the long third one in training.
        prometheus.wait_for('asktell_worker_trials_total{outcome="COMPLETE"}', 2, timeout=60)
        prometheus.wait_for("asktell_worker_current_trial", 3)
        prometheus.wait_for("asktell_worker_training_seconds_count", 2)
        with Client(metered_server.address) as client:
            trials = client.get_study("worked").trials()
        assert [t.state for t in trials] == ["COMPLETE", "COMPLETE", "RUNNING"]
        prometheus.wait_for('asktell_study_trials{study="worked",state="COMPLETE"}', 2)
        assert (prometheus.value("asktell_worker_epochs_total") or 0) >= 4
        assert prometheus.value("asktell_worker_samples_per_second") == 0  # the task gives none
        names = {
            line.split()[2]
            for line in _scrape(f"127.0.0.1:{worker_port}").splitlines()
            if line.startswith("# TYPE ")
        }
        exported = names | {f"{n}_total" for n in names} | {f"{n}_sum" for n in names}
        assert WORKER_METRICS - {"asktell_worker_gpu_memory_bytes"} <= exported
    finally:
        prometheus.close()
        worker.terminate()
        assert worker.wait(timeout=60) == 0
        log.close()
