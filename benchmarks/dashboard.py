"""The web dashboard: page load times and the cost of an open page, against optuna-dashboard.

Sets up a server (`asktell serve`, SQLite) holding 20 small studies and one of
10,000 trials (added with AddTrials), and `asktell dashboard` on it, each in a process
of its own; then, in headless Chromium (Selenium):

- the studies page and the 10,000-trial study page, from navigation until the page
  has drawn its data ("usable": the table and charts are there), cold (the dashboard's
  cache empty) and warm;
- the CPU seconds per second that the asktell server and the dashboard process spend
  while one study page stays open (it polls every 2 s), minus the same with no page open.

With optuna-dashboard installed (`pip install optuna-dashboard`), the same trials go into
an Optuna RDB study (SQLite) and the same pages are timed on it (usable: its trials
table and its history plot are drawn), and the CPU of its process is measured the same way.

    .venv/bin/python benchmarks/dashboard.py [--trials 10000] [--seconds 20]
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


def _asktell(driver: Any, n: int, seconds: float, work: Path) -> dict[str, float]:
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
        big = client.create_study({"name": "big", **SPEC})
        configs = _configs(n)
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
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=c["params"], distributions=distributions, value=c["value"]
                )
                for c in configs
            ]
        )

    for i in range(20):
        add(f"small-{i:02d}", _configs(30))
    add("big", _configs(n))
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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    driver = _browser()
    try:
        ours = _asktell(driver, args.trials, args.seconds, work)
        print("asktell:", ours, flush=True)
        theirs = None if args.no_optuna else _optuna(driver, args.trials, args.seconds, work)
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| measure ({args.trials} trials) | asktell dashboard | optuna-dashboard |")
    print("| --- | --- | --- |")
    for name, value in ours.items():
        other = theirs.get(name) if theirs else None
        unit = "" if "CPU" in name else " s"
        shown = f"{value:.3f}{unit}"
        print(f"| {name} | {shown} | {'' if other is None else f'{other:.3f}{unit}'} |")


if __name__ == "__main__":
    main()
