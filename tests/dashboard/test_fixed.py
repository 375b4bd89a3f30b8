"""A study with fixed parameters in the dashboard: the spec says "fixed", the charts draw
them, and the enqueue form shows them without sending them (the server fills them in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asktell.client import Client
from tests.conftest import SQLITE_ONLY
from tests.dashboard.conftest import RunningDashboard, click, console_errors, open_page, wait_for

Start = Callable[..., RunningDashboard]
SPEC: dict[str, Any] = {
    "name": "fixed",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 2},
    "parameters": {
        "lr": {"type": "float", "min": 1e-4, "max": 1e-1, "scale": "log"},
        "optimizer": {"type": "fixed", "value": "sgd"},
        "momentum": {"type": "float", "min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}},
        "schedule": {"type": "fixed", "value": "cosine"},
        "layers": {"type": "fixed", "value": 3},
    },
}


@SQLITE_ONLY
def test_fixed_parameters_in_the_pages_and_the_enqueue_form(
    client: Client, dashboard_for: Start, browser: Any
) -> None:
    study = client.create_study(SPEC)
    for trial in study.ask_many(6):
        trial.tell(float(trial.params["lr"]) + float(trial.params["momentum"]))
    dash = dashboard_for(client)
    console_errors(browser)
    charts = dash.json("/api/studies/fixed/charts")
    assert charts["parameters"]["schedule"] == {"type": "fixed", "value": "cosine"}
    assert all(p["p"]["layers"] == 3 for p in charts["trials"])

    open_page(browser, dash.url + "/studies/fixed")
    spec = browser.find_element("css selector", "#spec").get_attribute("textContent")
    assert '"type": "fixed"' in spec and '"value": "cosine"' in spec
    browser.execute_script("document.getElementById('chart-parallel').scrollIntoView()")
    wait_for(
        lambda: browser.execute_script(
            "return document.getElementById('chart-parallel').dataset.drawn !== undefined"
        ),
        what="the parallel chart",
    )
    assert console_errors(browser) == []

    open_page(browser, dash.url + "/studies/fixed/trials/1")
    schedule = browser.find_element("css selector", "#enqueue-schedule")
    momentum = browser.find_element("css selector", "#enqueue-momentum")
    assert not schedule.is_enabled() and schedule.text.strip() == "cosine"
    assert momentum.is_enabled()  # its parent is fixed at sgd: always active
    momentum.clear()
    momentum.send_keys("0.75")
    click(browser, "#enqueue-submit")
    wait_for(
        lambda: "1 configuration" in browser.find_element("css selector", "#enqueue-message").text,
        what="the enqueue",
    )
    trial = study.ask(worker_id="w")
    assert trial is not None and trial.suggested_by == "enqueued"
    assert trial.params == {
        "lr": study.trial(1).params["lr"],
        "optimizer": "sgd",
        "momentum": 0.75,
        "schedule": "cosine",
        "layers": 3,
    }
    assert console_errors(browser) == []
