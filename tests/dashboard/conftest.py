"""The dashboard against real servers: a dashboard process part, studies, and a real browser.

`dashboard_for(client)` serves a dashboard in a thread of the test process on a free
loopback port; `browser` is Debian's Chromium, headless, driven by its chromedriver
through Selenium (no browser is ever downloaded; missing ones skip here and fail in CI).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException

from asktell.client import Client, Study
from asktell.dashboard.app import ACTION_HEADER, Dashboard, make_server
from asktell.server.app import create_server
from asktell.server.auth import load_tokens
from asktell.server.storage import open_store
from tests import ci

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKENS = {
    "admin-token-0123456789abcdef": "admin",
    "viewer-token-0123456789abcdef": "viewer",
}
ADMIN, VIEWER = TOKENS


@dataclass
class RunningDashboard:
    """A dashboard serving on loopback, and what tests call on it."""

    url: str
    dashboard: Dashboard

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        """(status, body, headers) of a GET; a 4xx/5xx is returned, not raised."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = "session",
        origin: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token == "session":
            token = self.dashboard.action_token
        if token is not None:
            headers[ACTION_HEADER] = token
        if origin is not None:
            headers["Origin"] = origin
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.url + path, data, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def dashboard_for() -> Iterator[Callable[..., RunningDashboard]]:
    """Starts dashboards (each on its client) and stops them after the test."""
    servers = []

    def start(client: Client, target: str = "", *, min_interval: float = 0.0) -> RunningDashboard:
        dashboard = Dashboard(client, target or client.target, min_interval=min_interval)
        server = make_server(dashboard, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return RunningDashboard(f"http://127.0.0.1:{server.server_address[1]}", dashboard)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class AuthServer:
    address: str

    def client(self, token: str | None) -> Client:
        return Client(self.address, token=token, retry_seconds=0)


@pytest.fixture
def auth_server(db_url: str, tmp_path: Path) -> Iterator[AuthServer]:
    """A server on a fresh store that checks tokens: an admin and a viewer one (TOKENS)."""
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + "".join(f"  {t}: {r}\n" for t, r in TOKENS.items()))
    store = open_store(db_url)
    server, port = create_server(store, "127.0.0.1:0", tokens=load_tokens(path))
    server.start()
    yield AuthServer(f"127.0.0.1:{port}")
    server.stop(None)
    store.close()


SPEC: dict[str, Any] = {
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 3},
    "max_trials": 200,
    "parameters": {
        "lr": {"type": "float", "min": 1.0e-4, "max": 1.0e-1, "scale": "log"},
        "depth": {"type": "int", "min": 1, "max": 4},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
    },
}


def loss(params: dict[str, Any]) -> float:
    """A smooth objective with a known best: lr near 3e-3, small depth, adam."""
    lr = float(params["lr"])
    return (
        (math.log10(lr) + 2.5) ** 2
        + 0.1 * int(params["depth"])
        + (0.3 if params["optimizer"] == "sgd" else 0.0)
    )


def make_study(client: Client, name: str, trials: int, *, workers: int = 3) -> Study:
    """A study with `trials` finished trials: every 7th FAILED, every 5th PRUNED, the rest
    COMPLETE with `loss` and attributes; each reports three intermediate values first."""
    study = client.create_study({"name": name, **SPEC})
    for i in range(1, trials + 1):
        trial = study.ask(worker_id=f"worker-{i % workers}")
        assert trial is not None
        value = loss(trial.params)
        for step in (1, 2, 3):
            trial.report(step, value + 1.0 / step)
        if i % 7 == 0:
            trial.fail(f"RuntimeError: CUDA out of memory (trial {i})")
        elif i % 5 == 0:
            trial.prune("median rule")
        else:
            trial.tell(value, attrs={"model": f"resnet-{i % 3}", "epochs": i})
    return study


# ------------------------------------------------------------------ the browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver (Selenium), with a fresh profile."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        ci.missing(
            "Chromium and chromedriver are not installed",
            "run scripts/test-services.sh (apt-get install chromium chromium-driver)",
        )
    ci.require_module("selenium", "dev")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="asktell-chromium-")
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
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def _leave_the_page(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a browser test, a blank page: the last page stops polling its dashboard."""
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").get("about:blank")


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Polls `condition` until it is truthy; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.1)


def click(driver: Any, selector: str) -> None:
    """Clicks the element `selector` names, finding it again if the page redrew it between
    the find and the click (the pages redraw their controls when they poll)."""

    def clicked() -> bool:
        try:
            driver.find_element("css selector", selector).click()
        except StaleElementReferenceException:
            return False
        return True

    wait_for(clicked, what=f"a click on {selector}")


def open_page(driver: Any, url: str) -> None:
    """Loads a page and waits until its module has drawn it once."""
    driver.get(url)
    wait_for(
        lambda: driver.execute_script("return document.body.dataset.loaded === 'true'"),
        what=f"{url} to load",
    )


def console_errors(driver: Any) -> list[str]:
    """The browser's SEVERE console entries since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (beyond the window) as a PNG."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
    )
    time.sleep(0.4)  # the charts redraw at the new size
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


# ------------------------------------------------------------------ a conditional, typed study
CONDITIONAL_SPEC: dict[str, Any] = {
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 5},
    "parameters": {
        "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
        "momentum": {"type": "float", "min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}},
        "depth": {"type": "int", "min": 1, "max": 3},
        "width_3": {"type": "discrete", "values": [64, 128, 256], "when": {"depth": [3]}},
        "augment": {"type": "categorical", "values": [True, False]},
        "batch": {"type": "categorical", "values": [16, 32, 64]},
    },
}


def conditional_loss(params: dict[str, Any]) -> float:
    value = 0.1 * int(params["depth"]) + (0.2 if params["augment"] else 0.0)
    if params["optimizer"] == "sgd":
        value += abs(float(params["momentum"]) - 0.9)
    if "width_3" in params:
        value += int(params["width_3"]) / 1000
    return value + int(params["batch"]) / 640


def make_conditional_study(client: Client, name: str, trials: int) -> Study:
    """A study whose trials hold only their active parameters (momentum when sgd, width_3
    when depth is 3), with bool and int categorical values; every 6th trial FAILED."""
    study = client.create_study({"name": name, **CONDITIONAL_SPEC})
    for i in range(1, trials + 1):
        trial = study.ask(worker_id=f"worker-{i % 2}")
        assert trial is not None
        if i % 6 == 0:
            trial.fail("RuntimeError: diverged")
        else:
            trial.tell(conditional_loss(trial.params))
    return study
