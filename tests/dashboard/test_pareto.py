"""The Pareto front view and the role the dashboard learns through GetCaller, in a real
browser (headless Chromium) against a live server on both stores.

Each browser test saves screenshots of the pages it checks under its tmp_path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asktell.client import Client, Study, Trial
from asktell.server.app import create_server
from asktell.server.auth import load_tokens
from asktell.server.metrics import ServerMetrics
from asktell.server.storage import open_store
from tests.conftest import SQLITE_ONLY
from tests.dashboard.conftest import (
    RunningDashboard,
    click,
    console_errors,
    open_page,
    screenshot,
    wait_for,
)

Start = Callable[..., RunningDashboard]
SERVICE = "asktell.v1.AsktellService"
MEMORY_MAX = 60.0

TWO: dict[str, Any] = {
    "objectives": [
        {"metric": "error", "goal": "minimize"},
        {"metric": "latency_ms", "goal": "minimize"},
    ],
    "constraints": [{"metric": "memory_mb", "max": MEMORY_MAX}],
    "algorithm": {"name": "random", "seed": 11},
    "parameters": {
        "x": {"type": "float", "min": 0.0, "max": 1.0},
        "y": {"type": "float", "min": 0.0, "max": 1.0},
    },
}
THREE: dict[str, Any] = {
    "objectives": [
        {"metric": "f1", "goal": "minimize"},
        {"metric": "f2", "goal": "minimize"},
        {"metric": "f3", "goal": "maximize"},
    ],
    "algorithm": {"name": "random", "seed": 12},
    "parameters": {
        "x": {"type": "float", "min": 0.0, "max": 1.0},
        "y": {"type": "float", "min": 0.0, "max": 1.0},
    },
}


def _two_values(params: dict[str, Any]) -> dict[str, float]:
    """A trade-off (error falls as latency rises) and a memory use that breaks the bound
    for large y."""
    x, y = float(params["x"]), float(params["y"])
    return {
        "error": (1 - x) ** 2 + 0.3 * y,
        "latency_ms": 10 * x + 2 * y,
        "memory_mb": 100 * y,
    }


def _three_values(params: dict[str, Any]) -> dict[str, float]:
    x, y = float(params["x"]), float(params["y"])
    return {"f1": x, "f2": (1 - x) * (1 + y), "f3": math.sin(3 * x) - y}


def _run(study: Study, trials: int, values: Callable[[dict[str, Any]], dict[str, float]]) -> None:
    """`trials` trials: every 9th FAILED, the others COMPLETE with `values`."""
    for i in range(1, trials + 1):
        trial = study.ask(worker_id=f"worker-{i % 2}")
        assert trial is not None
        if i % 9 == 0:
            trial.fail("RuntimeError: diverged")
        else:
            trial.tell(values(trial.params))


def _brute_force_front(trials: list[Trial], spec: dict[str, Any]) -> list[int]:
    """The non-dominated feasible COMPLETE trials, by comparing every pair."""
    signs = [-1 if o["goal"] == "maximize" else 1 for o in spec["objectives"]]
    metrics = [o["metric"] for o in spec["objectives"]]
    bounds = spec.get("constraints", [])
    feasible = [
        t
        for t in trials
        if t.state == "COMPLETE" and all(t.values[c["metric"]] <= c["max"] for c in bounds)
    ]
    points = {
        t.number: [s * t.values[m] for s, m in zip(signs, metrics, strict=True)] for t in feasible
    }

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return sorted(n for n, p in points.items() if not any(dominates(q, p) for q in points.values()))


def _series(driver: Any, chart: str) -> dict[str, list[Any]]:
    """Each series of a chart by name: its points' trial numbers (the 3rd coordinate)."""
    found: dict[str, list[Any]] = driver.execute_script(
        "const option = echarts.getInstanceByDom(document.getElementById(arguments[0]))"
        ".getOption(); const out = {};"
        "option.series.forEach((s) => { (out[s.name] = out[s.name] || []).push("
        "s.data.map((d) => (Array.isArray(d) ? d[2] : d))); });"
        "return out;",
        f"chart-{chart}",
    )
    return found


def _draw(driver: Any, chart: str) -> None:
    driver.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView()", f"chart-{chart}"
    )
    wait_for(
        lambda: driver.find_elements("css selector", f"#chart-{chart}[data-drawn] canvas"),
        what=f"the {chart} chart",
    )


def _in_table(driver: Any) -> list[int]:
    numbers: list[int] = driver.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr[data-number]')]"
        ".map(r => Number(r.dataset.number))"
    )
    return numbers


def _numbers(series: list[list[Any]]) -> list[int]:
    return sorted(int(n) for panel in series for n in panel)


@SQLITE_ONLY
def test_two_objectives_show_the_front_feasible_and_infeasible_apart(
    client: Client, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    study = client.create_study({"name": "tradeoff", **TWO})
    _run(study, 40, _two_values)
    trials = study.trials()
    front = _brute_force_front(trials, TWO)
    assert front == sorted(t.number for t in study.best_trials())  # the server agrees
    complete = [t for t in trials if t.state == "COMPLETE"]
    infeasible = sorted(t.number for t in complete if t.values["memory_mb"] > MEMORY_MAX)
    assert infeasible and len(front) >= 2
    dash = dashboard_for(client)
    console_errors(browser)

    open_page(browser, dash.url + "/studies/tradeoff")
    # The best of the first objective among the feasible trials.
    best = min((t for t in complete if t.number not in infeasible), key=lambda t: t.values["error"])
    stat = browser.find_element("css selector", "#stat-best").text
    assert f"(#{best.number})" in stat
    assert "best feasible error" in browser.find_element("css selector", "#cards").text.lower()
    # The table has a column per objective and constraint metric, sorted and filtered
    # by the dashboard process.
    headers = browser.execute_script(
        "return [...document.querySelectorAll('#trials th')].map((h) => h.dataset.sort)"
    )
    assert headers[:5] == [
        "number",
        "state",
        "values.error",
        "values.latency_ms",
        "values.memory_mb",
    ]
    click(browser, "#trials th[data-sort='values.latency_ms']")
    by_latency = sorted(complete, key=lambda t: t.values["latency_ms"])
    wait_for(
        lambda: _in_table(browser)[:10] == [t.number for t in by_latency[:10]],
        what="the sort by latency",
    )
    field = browser.find_element("css selector", "#trial-filter")
    field.send_keys(f"values.memory_mb>{MEMORY_MAX:g}\n")
    wait_for(lambda: sorted(_in_table(browser)) == infeasible, what="the filter on memory")
    field.clear()
    field.send_keys("\n")
    rows = dash.json("/api/studies/tradeoff/trials?page_size=500")["rows"]
    assert {r["number"]: r["values"] for r in rows if r["state"] == "COMPLETE"} == {
        t.number: t.values for t in complete
    }
    status, body, _ = dash.get("/api/studies/tradeoff/export.csv")
    assert status == 200 and "values.latency_ms" in body.decode().splitlines()[0]

    _draw(browser, "pareto")
    series = _series(browser, "pareto")
    assert _numbers(series["Pareto front"]) == front
    assert _numbers(series["infeasible"]) == infeasible
    dominated = sorted(set(t.number for t in complete) - set(front) - set(infeasible))
    assert _numbers(series["feasible"]) == dominated
    assert "front line" in series  # the attainment line of a two-objective front
    assert browser.find_element("css selector", "#pareto-pair").is_displayed() is False
    note = browser.find_element("css selector", "#note-pareto").text
    assert f"{len(front)} trials on the front" in note and "GetBestTrials" in note

    # The history: one panel per objective, and the pruned / failed strip.
    _draw(browser, "history")
    grids = browser.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-history'))"
        ".getOption().grid.length"
    )
    assert grids == 3
    screenshot(browser, tmp_path / "pareto-two.png")

    # Hovering a front point names it; clicking it opens its trial.
    target = next(t for t in trials if t.number == front[0])
    browser.execute_script("document.getElementById('chart-pareto').scrollIntoView()")
    x, y, width, height = browser.execute_script(
        "const node = document.getElementById('chart-pareto');"
        "const at = echarts.getInstanceByDom(node).convertToPixel({gridIndex: 0}, arguments[0]);"
        "return [at[0], at[1], node.clientWidth, node.clientHeight];",
        [target.values["error"], target.values["latency_ms"]],
    )
    from selenium.webdriver.common.action_chains import ActionChains

    node = browser.find_element("css selector", "#chart-pareto")
    ActionChains(browser).move_to_element_with_offset(
        node, int(x - width / 2), int(y - height / 2)
    ).perform()
    wait_for(
        lambda: (
            f"#{target.number}:"
            in browser.execute_script(
                "return [...document.querySelectorAll('#chart-pareto div')]"
                ".map((d) => d.innerText).join(' ')"
            )
        ),
        what="the tooltip",
    )
    ActionChains(browser).click().perform()
    wait_for(
        lambda: browser.current_url.endswith(f"/studies/tradeoff/trials/{target.number}"),
        what="the trial page",
    )
    open_page(browser, browser.current_url)
    fields = browser.find_element("css selector", "#trial-fields").text
    assert "value of latency_ms" in fields and "value of memory_mb" in fields
    screenshot(browser, tmp_path / "pareto-trial.png")
    assert console_errors(browser) == []


@SQLITE_ONLY
def test_three_objectives_show_the_pairwise_view(
    client: Client, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    study = client.create_study({"name": "three", **THREE})
    _run(study, 30, _three_values)
    trials = study.trials()
    front = _brute_force_front(trials, THREE)
    dash = dashboard_for(client)
    console_errors(browser)

    open_page(browser, dash.url + "/studies/three")
    _draw(browser, "pareto")
    assert browser.find_element("css selector", "#pareto-pair").get_attribute("value") == "all"
    option = browser.execute_script(
        "const o = echarts.getInstanceByDom(document.getElementById('chart-pareto')).getOption();"
        "return [o.grid.length, o.xAxis.map((a) => a.name), o.yAxis.map((a) => a.name)];"
    )
    assert option == [
        3,
        ["f1 (min)", "f1 (min)", "f2 (min)"],
        ["f2 (min)", "f3 (max)", "f3 (max)"],
    ]
    series = _series(browser, "pareto")
    assert len(series["Pareto front"]) == 3  # the front in each of the three pairs
    assert all(sorted(int(n) for n in panel) == front for panel in series["Pareto front"])
    assert "front line" not in series and "infeasible" in series
    screenshot(browser, tmp_path / "pareto-three.png")

    # One pair alone, chosen from the list.
    click(browser, "#pareto-pair option[value='1,2']")
    wait_for(
        lambda: (
            browser.execute_script(
                "return echarts.getInstanceByDom(document.getElementById('chart-pareto'))"
                ".getOption().grid.length"
            )
            == 1
        ),
        what="one pair",
    )
    _draw(browser, "history")
    grids = browser.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-history'))"
        ".getOption().grid.length"
    )
    assert grids == 4
    screenshot(browser, tmp_path / "pareto-pair.png")
    assert console_errors(browser) == []


def test_a_front_larger_than_the_server_answers_is_computed_by_the_dashboard(
    client: Client, dashboard_for: Start
) -> None:
    study = client.create_study({"name": "wide", **TWO})
    # 150 feasible trials on one trade-off line (all non-dominated), then dominated and
    # infeasible ones.
    line = [{"error": i / 150, "latency_ms": 1 - i / 150, "memory_mb": 1.0} for i in range(150)]
    dominated = [{"error": 2.0, "latency_ms": 2.0, "memory_mb": 1.0}] * 5
    infeasible = [{"error": -1.0, "latency_ms": -1.0, "memory_mb": 2 * MEMORY_MAX}] * 5
    study.add_trials(
        [{"params": {"x": 0.5, "y": 0.5}, "values": v} for v in line + dominated + infeasible]
    )
    trials = study.trials()
    assert len(study.best_trials()) == 100  # the server's answer is capped
    front = _brute_force_front(trials, TWO)
    assert len(front) == 150
    dash_json = dashboard_for(client).json("/api/studies/wide/charts")
    pareto = dash_json["pareto"]
    assert pareto["front"] == front and pareto["front_source"] == "dashboard"
    assert (pareto["feasible"], pareto["infeasible"]) == (155, 5)
    feasible = {row["n"]: row["f"] for row in dash_json["trials"]}
    assert [n for n, f in feasible.items() if not f] == [t.number for t in trials[-5:]]


def test_a_large_study_s_front_is_computed_by_the_dashboard(
    client: Client, dashboard_for: Start
) -> None:
    study = client.create_study({"name": "large", **THREE})
    rng = random.Random(3)
    study.add_trials(
        [
            {"params": {"x": x, "y": y}, "values": _three_values({"x": x, "y": y})}
            for x, y in ((rng.random(), rng.random()) for _ in range(1001))
        ]
    )
    pareto = dashboard_for(client).json("/api/studies/large/charts")["pareto"]
    assert pareto["front_source"] == "dashboard"  # more than 1,000 COMPLETE trials
    assert pareto["front"] == _brute_force_front(study.trials(), THREE)
    assert pareto["front"] == sorted(t.number for t in study.best_trials())


@pytest.mark.parametrize("m", [2, 3, 4])
def test_the_dashboards_front_is_the_brute_force_one(m: int) -> None:
    from asktell.dashboard.charts import non_dominated

    rng = random.Random(m)
    for _ in range(300):
        # Few distinct coordinates: many ties and duplicate points.
        points = {
            n: [float(rng.randint(0, 4)) for _ in range(m)] for n in range(rng.randint(0, 40))
        }

        def dominates(a: list[float], b: list[float]) -> bool:
            return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

        expected = [
            n for n, p in points.items() if not any(dominates(q, p) for q in points.values())
        ]
        assert non_dominated(points) == expected, points


@SQLITE_ONLY
def test_a_single_objective_study_has_no_pareto_view(
    client: Client, dashboard_for: Start, browser: Any
) -> None:
    study = client.create_study(
        {
            "name": "single",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "random", "seed": 1},
            "parameters": {"x": {"type": "float", "min": 0.0, "max": 1.0}},
        }
    )
    for _ in range(5):
        trial = study.ask()
        assert trial is not None
        trial.tell(float(trial.params["x"]))  # type: ignore[arg-type]
    dash = dashboard_for(client)
    assert "pareto" not in dash.json("/api/studies/single/charts")
    open_page(browser, dash.url + "/studies/single")
    assert not browser.find_element("css selector", "#chart-pareto").is_displayed()


# ------------------------------------------------------------------ the role, via GetCaller
TOKENS = {
    "admin-token-0123456789abcdef": "admin",
    "worker-token-0123456789abcdef": "worker",
    "viewer-token-0123456789abcdef": "viewer",
}


class Counted:
    """A server that checks TOKENS, with its metrics at hand."""

    def __init__(self, address: str, metrics: ServerMetrics) -> None:
        self.address = address
        self.metrics = metrics

    def calls(self, method: str) -> float:
        total = 0.0
        for metric in self.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == "grpc_server_handled_total" and (
                    sample.labels.get("grpc_method") == method
                ):
                    total += sample.value
        return total


@pytest.fixture
def counted_server(db_url: str, tmp_path: Path) -> Iterator[Counted]:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + "".join(f"  {t}: {r}\n" for t, r in TOKENS.items()))
    store = open_store(db_url)
    metrics = ServerMetrics()
    server, port = create_server(store, "127.0.0.1:0", tokens=load_tokens(path), metrics=metrics)
    server.start()
    yield Counted(f"127.0.0.1:{port}", metrics)
    server.stop(None)
    store.close()


@SQLITE_ONLY
def test_the_role_comes_from_get_caller_and_a_viewer_sees_no_action(
    counted_server: Counted, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    clients = {
        role: Client(counted_server.address, token=token, retry_seconds=0)
        for token, role in TOKENS.items()
    }
    try:
        _run(clients["admin"].create_study({"name": "roles", **TWO}), 5, _two_values)
        shown = {}
        for role, client in clients.items():
            shown[role] = dashboard_for(client).json("/api/session")["role"]
        assert shown == {"admin": "admin", "worker": "viewer", "viewer": "viewer"}
        assert counted_server.calls("GetCaller") == 3
        assert counted_server.calls("StopStudy") == 0  # no probing StopStudy any more

        console_errors(browser)
        open_page(browser, dashboard_for(clients["viewer"]).url + "/studies/roles")
        assert browser.find_element("css selector", "#role").text == "viewer"
        assert browser.find_elements("css selector", "#stop-study, #resume-study") == []
        screenshot(browser, tmp_path / "viewer-roles.png")
        open_page(browser, dashboard_for(clients["admin"]).url + "/studies/roles")
        assert browser.find_element("css selector", "#role").text == "admin"
        wait_for(lambda: browser.find_elements("css selector", "#stop-study"), what="stop")
        assert counted_server.calls("StopStudy") == 0
        assert console_errors(browser) == []
    finally:
        for client in clients.values():
            client.close()


def test_without_auth_the_dashboard_acts_as_admin(client: Client, dashboard_for: Start) -> None:
    assert client.caller() == "none"
    assert dashboard_for(client).json("/api/session")["role"] == "admin"
