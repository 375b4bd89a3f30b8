"""The retraining example's steps, run for real on a local server: two weekly runs of the Argo
CronWorkflow's DAG (names, create with a warm start, workers, wait, best), then a run of the
plain Kubernetes Jobs' commands that times out, on both stores.

Each step's command is read from the YAML and run as the pod would run it (`sh -c ARGS`, the
script template's Python source), with its Argo parameters filled in, the server's address
in ASKTELL_SERVER, and the pod's paths (/spec, /tmp) moved under the test's directory. The
workers train `tests.e2e.tasks:accuracy` instead of `digits-mlp` (the same space and metric,
without PyTorch's start-up: tests/e2e trains the built-in tasks).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from asktell.client import Client
from tests.conftest import REPO, SQLITE_ONLY, LiveServer
from tests.deploy.kube import DEPLOY

EXAMPLE = DEPLOY / "examples" / "retraining"
WORKFLOW = EXAMPLE / "argo" / "weekly-retraining.yaml"
WORKERS = 2
TRIALS = 4
TASK = "tests.e2e.tasks:accuracy"
_PARAM = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")

pytestmark = pytest.mark.slow


@dataclass
class Pod:
    """Where a step's pod paths and variables point on this machine."""

    root: Path
    server: str
    spec: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        return {
            **os.environ,
            "PATH": path,
            "ASKTELL_SERVER": self.server,
            "ASKTELL_WAIT_INTERVAL": "0.2",
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }

    def local(self, text: str) -> str:
        """A pod's command with its mounted paths under `root`."""
        text = text.replace("--task digits-mlp", f"--task {TASK}")
        text = re.sub(r"(?<![\w/.-])/tmp/", f"{self.root}/", text)
        return re.sub(r"(?<![\w/.-])/spec/study\.yaml", str(self.spec), text)


def fill(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in values, f"no value for {{{{{match.group(1)}}}}} in {text!r}"
        return values[match.group(1)]

    return _PARAM.sub(one, text)


class ArgoRun:
    """One run of the CronWorkflow's DAG, step by step, as Argo would order it."""

    def __init__(self, pod: Pod, workflow: dict[str, Any], run_date: str) -> None:
        spec = workflow["spec"]["workflowSpec"]
        self.pod = pod
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.globals = {
            f"workflow.parameters.{p['name']}": str(p["value"])
            for p in spec["arguments"]["parameters"]
        }
        self.globals["workflow.parameters.run-date"] = run_date
        self.globals["workflow.parameters.workers"] = str(WORKERS)
        self.globals["workflow.parameters.server"] = pod.server
        self.tasks = {t["name"]: t for t in self.templates[spec["entrypoint"]]["dag"]["tasks"]}
        self.outputs: dict[str, str] = {}

    def _values(self, task: dict[str, Any], item: str | None = None) -> dict[str, str]:
        known = {**self.globals, **self.outputs}
        if item is not None:
            known["item"] = item
        values = dict(self.globals)
        for parameter in task.get("arguments", {}).get("parameters", []):
            values[f"inputs.parameters.{parameter['name']}"] = fill(parameter["value"], known)
        return values

    def command(self, name: str, item: str | None = None) -> list[str]:
        task = self.tasks[name]
        template = self.templates[task["template"]]
        values = self._values(task, item)
        if "script" in template:
            source = self.pod.local(fill(template["script"]["source"], values))
            return [sys.executable, "-c", source]
        container = template["container"]
        assert container["command"] == ["/bin/sh", "-c"]
        (script,) = container["args"]
        return ["sh", "-c", self.pod.local(fill(script, values))]

    def run(self, name: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(name),
            env=self.pod.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for output in (
            self.templates[self.tasks[name]["template"]].get("outputs", {}).get("parameters", [])
        ):
            path = Path(self.pod.local(output["valueFrom"]["path"]))
            if path.exists():
                self.outputs[f"tasks.{name}.outputs.parameters.{output['name']}"] = (
                    path.read_text().strip()
                )
        return done

    def start_workers(self) -> list[subprocess.Popen[str]]:
        count = int(self.globals["workflow.parameters.workers"])
        return [
            subprocess.Popen(
                self.command("workers", str(k)),
                env=self.pod.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            for k in range(count)
        ]

    def output(self, name: str) -> str:
        return self.outputs[name]


def test_the_dag_runs_the_documented_steps_in_order() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    tasks = {t["name"]: t for t in workflow["spec"]["workflowSpec"]["templates"][0]["dag"]["tasks"]}
    assert {n: t.get("depends") for n, t in tasks.items()} == {
        "names": None,
        "create": "names",
        "workers": "create",
        "wait": "create",
        "best": "wait.Succeeded",
    }


def weekly_run(
    pod: Pod, run_date: str
) -> tuple[ArgoRun, dict[str, subprocess.CompletedProcess[str]]]:
    """The DAG of one week: names, create, then workers and wait together, then best."""
    run = ArgoRun(pod, yaml.safe_load(WORKFLOW.read_text()), run_date)
    results = {"names": run.run("names")}
    assert results["names"].returncode == 0, results["names"].stderr
    results["create"] = run.run("create")
    assert results["create"].returncode == 0, results["create"].stderr
    workers = run.start_workers()
    results["wait"] = run.run("wait")
    for worker in workers:
        _, errors = worker.communicate(timeout=180)
        assert worker.returncode == 0, errors[-2000:]
    if results["wait"].returncode == 0:  # depends: wait.Succeeded
        results["best"] = run.run("best")
    return run, results


def true_best(client: Client, study: str) -> tuple[int, float]:
    complete = client.list_trials(study, ["COMPLETE"])
    best = max(complete, key=lambda t: (t.value, -t.number))
    assert best.value is not None
    return best.number, best.value


@SQLITE_ONLY  # the steps reach the store through the server; warm starts: test_warm_start.py
def test_two_weekly_runs_warm_start_wait_and_write_the_true_best(
    live_server: LiveServer, tmp_path: Path
) -> None:
    spec = yaml.safe_load((EXAMPLE / "study.yaml").read_text())
    spec["max_trials"] = TRIALS
    spec_file = tmp_path / "study.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    pod = Pod(tmp_path, live_server.address, spec_file)

    # Week 1: no study of the week before; it starts cold.
    week1, results = weekly_run(pod, "2026-11-16")
    run1 = week1.output("tasks.names.outputs.parameters.run")
    assert run1 == "digits-2026-w47"
    assert week1.output("tasks.names.outputs.parameters.previous") == "digits-2026-w46"
    assert "no study digits-2026-w46; starting cold" in results["create"].stderr
    assert results["wait"].returncode == 0, results["wait"].stderr
    assert f"study {run1} finished" in results["wait"].stderr
    assert results["best"].returncode == 0, results["best"].stderr
    best1 = json.loads(week1.output("tasks.best.outputs.parameters.best"))

    with live_server.client() as client:
        assert (best1["trial"], best1["value"]) == true_best(client, run1)
        finished1 = client.list_trials(run1, ["COMPLETE", "FAILED", "PRUNED"])
        assert len(finished1) == TRIALS

    # Week 2: the space changed (dropout narrowed): the trials that fit are copied, the
    # others reported by reason; the study still gets TRIALS new suggestions.
    spec["parameters"]["dropout"]["max"] = 0.25
    spec_file.write_text(yaml.safe_dump(spec))
    week2, results = weekly_run(pod, "2026-11-23")
    run2 = week2.output("tasks.names.outputs.parameters.run")
    assert (run2, week2.output("tasks.names.outputs.parameters.previous")) == (
        "digits-2026-w48",
        run1,
    )
    unfit = [t for t in finished1 if t.params["dropout"] > 0.25]
    create = results["create"].stderr
    assert f"warm start from {run1}: copied {TRIALS - len(unfit)} trials" in create
    assert 0 < len(unfit) < TRIALS  # the study's seed makes week 1's trials the same each time
    assert f"skipped {len(unfit)} trials that do not fit the space" in create
    assert f'{len(unfit)} "dropout" outside its domain' in create
    for t in unfit:
        assert f'{run1} trial {t.number}: params: "dropout"' in create
    assert results["wait"].returncode == 0, results["wait"].stderr
    assert results["best"].returncode == 0, results["best"].stderr
    best2 = json.loads(week2.output("tasks.best.outputs.parameters.best"))
    with live_server.client() as client:
        trials2 = client.list_trials(run2)
        added = [t for t in trials2 if t.suggested_by == "added"]
        assert len(added) == TRIALS - len(unfit)
        assert len(trials2) == TRIALS + len(added)  # the budget is this week's trials
        assert all(t.params["dropout"] <= 0.25 for t in trials2)
        assert best2["study"] == run2
        assert (best2["trial"], best2["value"]) == true_best(client, run2)

    # Week 3 with the plain Kubernetes Jobs' commands and no workers: the wait times out
    # (exit 3), the study is stopped, and no best.json is written.
    env = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (EXAMPLE / "run.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    env.update(RUN_NAME="digits-2026-w49", WARM_START_FROM=run2, MAX_WAIT="1")
    tune = yaml.safe_load((EXAMPLE / "tune-job.yaml").read_text())["spec"]["template"]["spec"]
    (create_container,) = tune["initContainers"]
    (wait_and_best,) = tune["containers"]
    create_job = subprocess.run(
        ["sh", "-c", pod.local(create_container["args"][0])],
        env=pod.env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert create_job.returncode == 0, create_job.stderr
    assert f"warm start from {run2}: copied" in create_job.stderr
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    script = pod.local(wait_and_best["args"][0]).replace(" /results/", f" {results_dir}/")
    timed_out = subprocess.run(
        ["sh", "-c", script], env=pod.env(env), capture_output=True, text=True, timeout=60
    )
    assert timed_out.returncode == 3, timed_out.stderr
    assert "is not finished after 1 s" in timed_out.stderr
    assert not (results_dir / "best.json").exists()
    rules = yaml.safe_load((EXAMPLE / "tune-job.yaml").read_text())["spec"]["podFailurePolicy"]
    assert rules["rules"][0]["onExitCodes"]["values"] == [3, 4, 5]
    with live_server.client() as client:
        assert client.get_study_info("digits-2026-w49").state == "STOPPED"
    # A retried create (the Job's next pod) copies nothing twice.
    again = subprocess.run(
        ["sh", "-c", pod.local(create_container["args"][0])],
        env=pod.env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "has trials already; nothing copied" in again.stderr
