"""The web dashboard: page load times and the cost of an open page, against optuna-dashboard.

Sets up a server (`asktell serve`, SQLite) holding 20 small studies and one of
10,000 trials (added with AddTrials), and `asktell dashboard` on it, each in a process
of its own; then, in headless Chromium (Selenium):

- the studies page and the 10,000-trial study page, from navigation until the page
  has drawn its data ("usable": the stat cards and the trials table; the charts below
  them are drawn as they scroll into view), cold (the dashboard's cache empty) and warm;
- then the time to draw all eight charts, scrolling to each in turn;
- the CPU seconds per second that the asktell server and the dashboard process spend
  while one study page stays open (it polls every 2 s), minus the same with no page open.

With optuna-dashboard installed (`pip install optuna-dashboard`), the same trials go into
an Optuna RDB study (SQLite; written in one transaction, see `_copy_trials`, and read back
to check) and the same pages are timed on it (the studies page: the last study listed;
the study page: its history plot drawn), and the CPU of its process is measured the
same way.

    .venv/bin/python benchmarks/dashboard.py [--trials 10000] [--seconds 20]
        [--no-optuna | --no-asktell] [--objectives 1|2|3]

`--objectives 2` gives the big study two objectives (loss, latency_ms) and a constraint
(memory_mb), `--objectives 3` three (and the constraint): its page then also draws the
Pareto front view and one history panel per objective (the other studies keep one
objective; optuna-dashboard gets the first objective only).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asktell.client import Client

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SPEC: dict[str, Any] = {
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 1},
    "parameters": {
        "lr": {"type": "float", "min": 1e-4, "max": 1e-1, "scale": "log"},
        "depth": {"type": "int", "min": 1, "max": 6},
        "dropout": {"type": "float", "min": 0.0, "max": 0.5},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd", "rmsprop"]},
    },
}


def _spec(objectives: int) -> dict[str, Any]:
    """SPEC with `objectives` objectives (and a memory constraint when more than one)."""
    if objectives == 1:
        return SPEC
    listed = [
        {"metric": "loss", "goal": "minimize"},
        {"metric": "latency_ms", "goal": "minimize"},
        {"metric": "accuracy", "goal": "maximize"},
    ][:objectives]
    spec = {k: v for k, v in SPEC.items() if k != "objective"}
    return {**spec, "objectives": listed, "constraints": [{"metric": "memory_mb", "max": 400}]}


def _with_values(configs: list[dict[str, Any]], objectives: int) -> list[dict[str, Any]]:
    """The configs told as metrics of a study with several objectives."""
    if objectives == 1:
        return configs
    rng = random.Random(1)
    told = []
    for config in configs:
        params, loss = config["params"], config["value"]
        values = {
            "loss": loss,
            "latency_ms": 5.0 * params["depth"] + 20 * (0.5 - params["dropout"]) + rng.random(),
            "accuracy": 1.0 / (1.0 + loss) + 0.02 * rng.random(),
            "memory_mb": 80.0 * params["depth"] + 100 * rng.random(),
        }
        told.append({"params": params, "values": values})
    return told


def _configs(n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    configs = []
    for _ in range(n):
        params = {
            "lr": 10 ** rng.uniform(-4, -1),
            "depth": rng.randint(1, 6),
            "dropout": rng.uniform(0, 0.5),
            "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
        }
        value = (math.log10(params["lr"]) + 2.5) ** 2 + 0.05 * params["depth"] + rng.random()
        configs.append({"params": params, "value": value})
    return configs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='bench-chromium-')}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _time_page(driver: Any, url: str, usable: Callable[[Any], bool]) -> float:
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(url)
    while not usable(driver):
        if time.perf_counter() - start > 120:
            raise TimeoutError(url)
        time.sleep(0.02)
    return time.perf_counter() - start


def _time_charts(driver: Any, url: str) -> float:
    """After the page is usable, seconds to draw all eight charts, scrolling to each in turn
    (a chart is drawn when it comes into view)."""
    driver.get(url)
    while driver.execute_script("return document.body.dataset.loaded !== 'true'"):
        time.sleep(0.02)
    start = time.perf_counter()
    for node in driver.find_elements(
        "css selector", ".chart-card:not([hidden]) .chart[data-chart]"
    ):
        driver.execute_script("arguments[0].scrollIntoView()", node)
        while node.get_attribute("data-drawn") is None:
            if time.perf_counter() - start > 120:
                raise TimeoutError("the charts")
            time.sleep(0.02)
    return time.perf_counter() - start


def _polling_cost(driver: Any, url: str, pids: list[int], seconds: float) -> list[float]:
    """CPU seconds per second of each process with `url` open, minus with a blank page."""

    def rate() -> list[float]:
        before = [_cpu_seconds(p) for p in pids]
        time.sleep(seconds)
        return [(_cpu_seconds(p) - b) / seconds for p, b in zip(pids, before, strict=True)]

    driver.get("about:blank")
    idle = rate()
    driver.get(url)
    time.sleep(3)
    busy = rate()
    return [b - i for b, i in zip(busy, idle, strict=True)]


def _asktell(
    driver: Any, n: int, seconds: float, work: Path, objectives: int = 1
) -> dict[str, float]:
    server = subprocess.Popen(
        [sys.executable, "-m", "asktell.client._cli", "serve", "--db",
         f"sqlite:///{work}/asktell.db", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    address = re.search(r"serving on (\S+:\d+)", server.stdout.readline())
    assert address, "the server did not start"
    target = address.group(1)
    with Client(target) as client:
        for i in range(20):
            study = client.create_study({"name": f"small-{i:02d}", **SPEC})
            study.add_trials(_configs(30))
        big = client.create_study({"name": "big", **_spec(objectives)})
        configs = _with_values(_configs(n), objectives)
        for start in range(0, n, 500):
            big.add_trials(configs[start : start + 500])
    port = _free_port()
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "asktell.client._cli", "dashboard", "--server", target,
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base + "/api/session")

        def loaded(d: Any) -> bool:
            return bool(d.execute_script("return document.body.dataset.loaded === 'true'"))

        result = {
            "studies page, cold": _time_page(driver, base + "/", loaded),
            "studies page, warm": _time_page(driver, base + "/", loaded),
            "10k study page, cold": _time_page(driver, base + "/studies/big", loaded),
            "10k study page, warm": _time_page(driver, base + "/studies/big", loaded),
        }
        if driver.execute_script("return !!document.querySelector('.chart[data-chart]')"):
            charts = driver.execute_script(
                "return document.querySelectorAll('.chart-card:not([hidden]) .chart').length"
            )
            result[f"10k study page, {charts} charts scrolled through"] = _time_charts(
                driver, base + "/studies/big"
            )
        server_cpu, dashboard_cpu = _polling_cost(
            driver, base + "/studies/big", [server.pid, dashboard.pid], seconds
        )
        result["server CPU per open page (core)"] = server_cpu
        result["dashboard CPU per open page (core)"] = dashboard_cpu
        return result
    finally:
        dashboard.terminate()
        server.terminate()
        dashboard.wait()
        server.wait()


def _copy_trials(db: Path, study_id: int, trials: list[Any]) -> None:
    """Appends `trials` (COMPLETE FrozenTrials) to an Optuna RDB study in one transaction,
    row for row as Optuna wrote the study's first trial (read back as the template).

    Optuna's own `study.add_trials` writes one trial at a time with about 18 ORM
    statements and a commit each: 40-70 ms a trial on the shared 2-core machine, so
    10,000 trials took 7 to 12 minutes, which is why this comparison never finished.
    The benchmark checks afterwards that `optuna.load_study` reads back exactly the
    trials it meant to write.
    """
    import sqlite3

    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row

    def rows(table: str, where: str, *args: Any) -> list[dict[str, Any]]:
        query = f"SELECT * FROM {table} WHERE {where}"
        return [dict(r) for r in connection.execute(query, args)]

    def insert(table: str, records: list[dict[str, Any]]) -> None:
        if records:
            names = list(records[0])
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                [tuple(r[k] for k in names) for r in records],
            )

    (template,) = rows("trials", "study_id = ?", study_id)
    params = {
        r["param_name"]: r for r in rows("trial_params", "trial_id = ?", template["trial_id"])
    }
    (value,) = rows("trial_values", "trial_id = ?", template["trial_id"])
    next_id = connection.execute("SELECT MAX(trial_id) FROM trials").fetchone()[0] + 1
    trial_rows, param_rows, value_rows = [], [], []
    with connection:
        for offset, trial in enumerate(trials):
            trial_id = next_id + offset
            trial_rows.append({**template, "trial_id": trial_id, "number": offset + 1})
            for name, v in trial.params.items():
                internal = trial.distributions[name].to_internal_repr(v)
                param_rows.append(
                    {
                        **params[name],
                        "param_id": None,
                        "trial_id": trial_id,
                        "param_value": internal,
                    }
                )
            value_rows.append(
                {**value, "trial_value_id": None, "trial_id": trial_id, "value": trial.value}
            )
        insert("trials", trial_rows)
        insert("trial_params", param_rows)
        insert("trial_values", value_rows)
    connection.close()


def _optuna(driver: Any, n: int, seconds: float, work: Path) -> dict[str, float] | None:
    if (
        shutil.which("optuna-dashboard") is None
        and not Path(sys.executable).with_name("optuna-dashboard").exists()
    ):
        return None
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{work}/optuna.db"
    distributions = {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "depth": IntDistribution(1, 6),
        "dropout": FloatDistribution(0.0, 0.5),
        "optimizer": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
    }

    def add(name: str, configs: list[dict[str, Any]]) -> None:
        study = optuna.create_study(study_name=name, storage=url, direction="minimize")
        trials = [
            optuna.trial.create_trial(
                params=c["params"], distributions=distributions, value=c["value"]
            )
            for c in configs
        ]
        study.add_trials(trials[:1])  # Optuna writes the first one: its rows are the template
        _copy_trials(work / "optuna.db", study._study_id, trials[1:])

    start = time.perf_counter()
    for i in range(20):
        add(f"small-{i:02d}", _configs(30))
    add("big", _configs(n))
    imported = time.perf_counter() - start
    loaded = optuna.load_study(study_name="big", storage=url).trials
    assert [(t.params, t.value) for t in loaded] == [
        (c["params"], c["value"]) for c in _configs(n)
    ], "the Optuna study does not hold the same trials"
    print(f"optuna: {n + 600} trials imported in {imported:.1f} s", file=sys.stderr, flush=True)
    port = _free_port()
    command = Path(sys.executable).with_name("optuna-dashboard")
    process = subprocess.Popen(
        [str(command), url, "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/dashboard"
    try:
        _wait_http(base)

        def listed(d: Any) -> bool:
            return bool(d.execute_script("return document.body.innerText.includes('small-19')"))

        def drawn(d: Any) -> bool:
            return bool(
                d.execute_script(
                    "return !!document.querySelector('.js-plotly-plot .scatterlayer .trace')"
                )
            )

        big_id = 21
        result = {
            "studies page, cold": _time_page(driver, base, listed),
            "studies page, warm": _time_page(driver, base, listed),
            "10k study page, cold": _time_page(driver, f"{base}/studies/{big_id}", drawn),
            "10k study page, warm": _time_page(driver, f"{base}/studies/{big_id}", drawn),
        }
        (cpu,) = _polling_cost(driver, f"{base}/studies/{big_id}", [process.pid], seconds)
        result["dashboard CPU per open page (core)"] = cpu
        return result
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-optuna", action="store_true", help="skip optuna-dashboard")
    parser.add_argument("--no-asktell", action="store_true", help="only optuna-dashboard")
    parser.add_argument("--objectives", type=int, default=1, choices=(1, 2, 3))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    driver = _browser()
    try:
        ours = (
            {}
            if args.no_asktell
            else _asktell(driver, args.trials, args.seconds, work, args.objectives)
        )
        print("asktell:", ours, flush=True)
        theirs = None if args.no_optuna else _optuna(driver, args.trials, args.seconds, work)
        print("optuna-dashboard:", theirs, flush=True)
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| measure ({args.trials} trials) | asktell dashboard | optuna-dashboard |")
    print("| --- | --- | --- |")
    for name in {**ours, **(theirs or {})}:
        value = ours.get(name)
        other = theirs.get(name) if theirs else None
        unit = "" if "CPU" in name else " s"
        shown = "" if value is None else f"{value:.3f}{unit}"
        print(f"| {name} | {shown} | {'' if other is None else f'{other:.3f}{unit}'} |")


if __name__ == "__main__":
    main()
