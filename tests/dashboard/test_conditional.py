"""A conditional study with typed values (bool and int categoricals, an integer discrete) in
the dashboard: the API, the charts and the enqueue form, against a live server on both stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from asktell.client import Client
from tests.conftest import SQLITE_ONLY
from tests.dashboard.conftest import (
    RunningDashboard,
    click,
    console_errors,
    make_conditional_study,
    open_page,
    screenshot,
    wait_for,
)

Start = Callable[..., RunningDashboard]
CHARTS = ("history", "parallel", "slice", "contour", "importance", "curves", "timeline", "ecdf")


def _active(params: dict[str, Any]) -> set[str]:
    names = {"optimizer", "depth", "augment", "batch"}
    if params["optimizer"] == "sgd":
        names.add("momentum")
    if params["depth"] == 3:
        names.add("width_3")
    return names


def test_rows_and_charts_hold_only_active_parameters_with_their_types(
    client: Client, dashboard_for: Start
) -> None:
    study = make_conditional_study(client, "branches", 40)
    trials = study.trials()
    dash = dashboard_for(client)
    rows = dash.json("/api/studies/branches/trials?page_size=100")["rows"]
    assert [r["number"] for r in rows] == [t.number for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        assert set(row["params"]) == _active(trial.params) == set(trial.params)
        assert type(row["params"]["augment"]) is bool
        assert type(row["params"]["batch"]) is int and type(row["params"]["depth"]) is int
        if "width_3" in row["params"]:
            assert type(row["params"]["width_3"]) is int
    assert {r["params"]["optimizer"] for r in rows} == {"adam", "sgd"}  # both branches drawn

    # The filter compares typed values: a bool with true/false, an inactive one never matches.
    matched = dash.json("/api/studies/branches/trials?page_size=100&filter=augment=true")["rows"]
    assert [r["number"] for r in matched] == [t.number for t in trials if t.params["augment"]]
    matched = dash.json("/api/studies/branches/trials?page_size=100&filter=momentum>0")["rows"]
    assert [r["number"] for r in matched] == [t.number for t in trials if "momentum" in t.params]

    charts = dash.json("/api/studies/branches/charts")
    assert [p["p"] for p in charts["trials"]] == [t.params for t in trials]
    importance = {r["name"]: r for r in charts["importance"]}
    assert set(importance) == set(charts["parameters"])
    assert charts["parameters"]["momentum"]["when"] == {"optimizer": ["sgd"]}
    assert charts["parameters"]["augment"]["values"] == [True, False]


def test_enqueue_keeps_types_and_refuses_inactive_parameters(
    client: Client, dashboard_for: Start
) -> None:
    study = make_conditional_study(client, "typed", 3)
    dash = dashboard_for(client)
    wanted = {"optimizer": "sgd", "momentum": 0.75, "depth": 3, "width_3": 128}
    wanted |= {"augment": False, "batch": 32}
    choices = {"optimizer": 1, "width_3": 1, "augment": 1, "batch": 1}
    status, body = dash.post(
        "/api/studies/typed/enqueue", {"params": {**wanted, "augment": 0}, "choices": choices}
    )
    assert (status, body) == (200, {"queued": 1})

    # Bad input changes nothing: an inactive parameter (the server names it), a bad index.
    status, body = dash.post(
        "/api/studies/typed/enqueue",
        {
            "params": {
                "optimizer": "adam",
                "momentum": 0.9,
                "depth": 1,
                "augment": True,
                "batch": 16,
            }
        },
    )
    assert status == 400 and "momentum" in body["message"] and "inactive" in body["message"]
    for bad in ({"batch": 3}, {"batch": True}, {"depth": 0}, "batch"):
        status, body = dash.post("/api/studies/typed/enqueue", {"params": wanted, "choices": bad})
        assert status == 400 and body["message"].startswith("choices"), (bad, body)
    assert client.get_study_info("typed").counts.queued == 1

    trial = study.ask(worker_id="w")
    assert trial is not None and trial.suggested_by == "enqueued"
    assert trial.params == wanted
    assert {k: type(v) for k, v in trial.params.items()} == {
        "optimizer": str,
        "momentum": float,
        "depth": int,
        "width_3": int,
        "augment": bool,
        "batch": int,
    }


def _chart_data(driver: Any, name: str) -> list[Any]:
    data: list[Any] = driver.execute_script(
        "const chart = echarts.getInstanceByDom(document.getElementById(arguments[0]));"
        "return chart.getOption().series[0].data;",
        f"chart-{name}",
    )
    return data


@SQLITE_ONLY
def test_the_pages_show_inactive_parameters_and_the_form_submits_typed_active_ones(
    client: Client, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    study = make_conditional_study(client, "cond", 40)
    trials = study.trials()
    complete = [t for t in trials if t.state == "COMPLETE"]
    dash = dashboard_for(client)
    console_errors(browser)

    open_page(browser, dash.url + "/studies/cond")
    # The table says which parameters are inactive in a trial.
    cells: list[list[str]] = browser.execute_script(
        "const heads = [...document.querySelectorAll('#trials thead th')].map(h => h.dataset.sort);"
        "const col = heads.indexOf('params.momentum');"
        "return [...document.querySelectorAll('#trials tbody tr[data-number]')].map(r =>"
        " [r.dataset.number, r.children[col].className, r.children[col].innerText]);"
    )
    for (number, css, text), trial in zip(cells, trials, strict=False):
        assert int(number) == trial.number
        if "momentum" in trial.params:
            assert "inactive" not in css and text
        else:
            assert "inactive" in css and text == "inactive"
    augment = browser.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr[data-number]')].map(r =>"
        " r.children[[...document.querySelectorAll('#trials thead th')]"
        ".findIndex(h => h.dataset.sort === 'params.augment')].innerText)"
    )
    assert augment[: len(trials)] == [str(t.params["augment"]).lower() for t in trials[:50]]

    # The charts are drawn when scrolled into view, and skip inactive values.
    for name in CHARTS:
        browser.execute_script(
            "document.getElementById(arguments[0]).scrollIntoView()", f"chart-{name}"
        )
        wait_for(
            lambda name=name: browser.execute_script(
                "return document.getElementById(arguments[0]).dataset.drawn !== undefined",
                f"chart-{name}",
            ),
            what=f"the {name} chart",
        )
    browser.execute_script(
        "const s = document.getElementById('slice-param'); s.value = 'momentum';"
        "s.dispatchEvent(new Event('change'));"
    )
    with_momentum = [t for t in complete if "momentum" in t.params]
    wait_for(lambda: len(_chart_data(browser, "slice")) == len(with_momentum), what="slice")
    assert sorted(p[0] for p in _chart_data(browser, "slice")) == sorted(
        t.params["momentum"] for t in with_momentum
    )
    browser.execute_script(
        "for (const [id, v] of [['contour-x', 'momentum'], ['contour-y', 'width_3']]) {"
        " const s = document.getElementById(id); s.value = v; s.dispatchEvent(new Event('change'));"
        "}"
    )
    both = [t for t in complete if "momentum" in t.params and "width_3" in t.params]
    wait_for(
        lambda: 0 < len(_chart_data(browser, "contour")) <= len(both), what="the contour cells"
    )
    # Parallel coordinates: one line per complete trial, an inactive value left empty.
    lines = _chart_data(browser, "parallel")
    assert len(lines) == len(complete)
    names = ["optimizer", "momentum", "depth", "width_3", "augment", "batch"]
    for line, trial in zip(lines, complete, strict=True):
        values = line["value"] if isinstance(line, dict) else line
        for name, value in zip(names, values, strict=False):
            assert (value is None) == (name not in trial.params), (trial.number, name, value)
    screenshot(browser, tmp_path / "conditional-study.png")
    assert console_errors(browser) == []

    # The trial page: inactive parameters shown as such; the form follows the conditions.
    adam = next(t for t in trials if t.params["optimizer"] == "adam" and t.params["depth"] != 3)
    open_page(browser, dash.url + f"/studies/cond/trials/{adam.number}")
    params = browser.find_element("css selector", "#trial-params").text
    assert "momentum inactive" in params and "width_3 inactive" in params
    momentum = browser.find_element("css selector", "#enqueue-momentum")
    width = browser.find_element("css selector", "#enqueue-width_3")
    assert not momentum.is_enabled() and not width.is_enabled()

    def choose(name: str, text: str) -> None:
        select = browser.find_element("css selector", f"#enqueue-{name}")
        select.find_element("xpath", f"./option[normalize-space()='{text}']").click()

    choose("optimizer", "sgd")
    assert momentum.is_enabled() and not width.is_enabled()
    momentum.clear()
    momentum.send_keys("0.8")
    depth = browser.find_element("css selector", "#enqueue-depth")
    depth.clear()
    depth.send_keys("3")
    wait_for(lambda: width.is_enabled(), what="width_3 to become active")
    choose("width_3", "256")
    choose("augment", "false" if adam.params["augment"] else "true")
    choose("batch", "64")
    screenshot(browser, tmp_path / "conditional-enqueue.png")
    click(browser, "#enqueue-submit")
    wait_for(
        lambda: "1 configuration" in browser.find_element("css selector", "#enqueue-message").text,
        what="the enqueue",
    )
    trial = study.ask(worker_id="w")
    assert trial is not None and trial.suggested_by == "enqueued"
    assert trial.params == {
        "optimizer": "sgd",
        "momentum": 0.8,
        "depth": 3,
        "width_3": 256,
        "augment": not adam.params["augment"],
        "batch": 64,
    }
    assert type(trial.params["augment"]) is bool and type(trial.params["batch"]) is int

    # Back to adam: momentum is left out again, so the server takes the configuration.
    choose("optimizer", "adam")
    assert not momentum.is_enabled()
    depth.clear()
    depth.send_keys("1")
    wait_for(lambda: not width.is_enabled(), what="width_3 to become inactive")
    click(browser, "#enqueue-submit")
    wait_for(lambda: client.get_study_info("cond").counts.queued == 1, what="the second enqueue")
    trial = study.ask(worker_id="w")
    assert trial is not None
    assert set(trial.params) == {"optimizer", "depth", "augment", "batch"}
    assert console_errors(browser) == []
