"""The dashboard in a real browser (headless Chromium) against a live server on SQLite
(`SQLITE_ONLY` in tests/conftest.py says why).

Each test saves screenshots of the pages it checks under its tmp_path.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asktell.client import Client
from tests.conftest import SQLITE_ONLY
from tests.dashboard.conftest import (
    ADMIN,
    VIEWER,
    AuthServer,
    RunningDashboard,
    click,
    console_errors,
    make_study,
    open_page,
    screenshot,
    wait_for,
)

Start = Callable[..., RunningDashboard]
CHARTS = ("history", "parallel", "slice", "contour", "importance", "curves", "timeline", "ecdf")


def _texts(driver: Any, selector: str) -> list[str]:
    """The text of every element `selector` finds, read at once (the page redraws often)."""
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.trim())",
        selector,
    )
    return texts


def _numbers_in_table(driver: Any) -> list[int]:
    numbers: list[int] = driver.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr[data-number]')]"
        ".map(r => Number(r.dataset.number))"
    )
    return numbers


@SQLITE_ONLY
def test_the_pages_load_and_hold_the_right_trials(
    client: Client, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    study = make_study(client, "mlp", 60)
    make_study(client, "cnn", 5)
    trials = study.trials()
    dash = dashboard_for(client)
    console_errors(browser)

    open_page(browser, dash.url + "/")
    assert sorted(_texts(browser, "#studies tbody tr td:first-child")) == ["cnn", "mlp"]
    row = browser.find_element("css selector", "#studies tr[data-study=mlp]")
    counts = {state: sum(t.state == state for t in trials) for state in ("COMPLETE", "PRUNED")}
    assert (
        f"60 · {counts['COMPLETE']} complete, 0 running, {counts['PRUNED']} pruned, 8 failed"
        in row.text
    )
    best = study.best_trial
    assert best is not None
    assert f"/studies/mlp/trials/{best.number}" in row.find_element(
        "css selector", "td.num a"
    ).get_attribute("href")
    browser.find_element("css selector", "#study-filter").send_keys("cnn")
    wait_for(lambda: _texts(browser, "#studies tbody tr td:first-child") == ["cnn"], what="filter")
    screenshot(browser, tmp_path / "studies.png")

    open_page(browser, dash.url + "/studies/mlp")
    assert _numbers_in_table(browser) == [t.number for t in trials[:50]]
    assert (
        "page 1 of 2 · 60 matching of 60 trials"
        in browser.find_element("css selector", "#pager-text").text
    )
    for name in CHARTS:  # each chart draws on a canvas once scrolled into view
        browser.execute_script(
            "document.getElementById(arguments[0]).scrollIntoView()", f"chart-{name}"
        )
        wait_for(
            lambda name=name: browser.find_elements(
                "css selector", f"#chart-{name}[data-drawn] canvas"
            ),
            what=f"the {name} chart",
        )
    browser.execute_script("window.scrollTo(0, 0)")
    failed = [t for t in trials if t.state == "FAILED"]
    reasons = _texts(browser, "#trials td.reason")
    assert [r for r in reasons if r] == [t.reason for t in trials[:50] if t.reason]
    assert any("CUDA out of memory" in r for r in reasons)
    screenshot(browser, tmp_path / "study.png")

    # Sort by value on the server (a header click), then filter by state.
    click(browser, "#trials th[data-sort=value]")
    ranked = sorted((t for t in trials if t.value is not None), key=lambda t: t.value or 0)
    wait_for(
        lambda: _numbers_in_table(browser)[:10] == [t.number for t in ranked[:10]], what="sort"
    )
    click(browser, "#state-filter option[value=FAILED]")
    wait_for(lambda: sorted(_numbers_in_table(browser)) == [t.number for t in failed], what="state")
    field = browser.find_element("css selector", "#trial-filter")
    field.send_keys("worker=worker-1\n")
    wanted = sorted(t.number for t in failed if t.worker_id == "worker-1")
    wait_for(lambda: sorted(_numbers_in_table(browser)) == wanted, what="filter")
    assert console_errors(browser) == []
    field.clear()
    field.send_keys("lr>>1\n")
    wait_for(
        lambda: "cannot read" in browser.find_element("css selector", "#filter-error").text,
        what="the filter's error",
    )
    open_page(browser, dash.url + f"/studies/mlp/trials/{failed[0].number}")
    # The browser logs the 400 that answered the bad filter, once more for each poll
    # of the study page until it left; nothing else may be in the log.
    others = [e for e in console_errors(browser) if "filter=lr%3E%3E1" not in e]
    assert others == []
    fields = browser.find_element("css selector", "#trial-fields").text
    assert "FAILED" in fields and "CUDA out of memory" in fields and failed[0].worker_id in fields
    assert browser.find_elements("css selector", "#chart-measurements canvas")
    params = browser.find_element("css selector", "#trial-params").text
    assert "optimizer" in params and str(failed[0].params["optimizer"]) in params
    complete = next(t for t in trials if t.state == "COMPLETE")
    open_page(browser, dash.url + f"/studies/mlp/trials/{complete.number}")
    assert f"resnet-{complete.number % 3}" in _texts(browser, "#trial-attrs")[0]
    screenshot(browser, tmp_path / "trial.png")
    assert console_errors(browser) == []


@SQLITE_ONLY
def test_a_trial_told_during_the_test_appears_without_a_reload(
    client: Client, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    study = make_study(client, "live", 3)
    dash = dashboard_for(client)
    console_errors(browser)
    open_page(browser, dash.url + "/studies/live")
    assert _numbers_in_table(browser) == [1, 2, 3]
    browser.execute_script("document.body.dataset.marker = 'same page'")

    trial = study.ask(worker_id="late-worker")
    assert trial is not None
    wait_for(
        lambda: browser.find_elements(
            "css selector", f"#trials tr[data-number='{trial.number}'][data-state=RUNNING]"
        ),
        what="the running trial",
    )
    trial.report(1, 0.25)
    trial.tell(0.125)
    wait_for(
        lambda: browser.find_elements(
            "css selector", f"#trials tr[data-number='{trial.number}'][data-state=COMPLETE]"
        ),
        what="the told trial",
    )
    row = browser.find_element("css selector", f"#trials tr[data-number='{trial.number}']")
    assert "0.125" in row.text and "late-worker" in row.text
    wait_for(
        lambda: "0.125" in browser.find_element("css selector", "#stat-best").text,
        what="the new best",
    )
    assert browser.execute_script("return document.body.dataset.marker") == "same page"
    screenshot(browser, tmp_path / "live.png")
    assert console_errors(browser) == []


@SQLITE_ONLY
def test_a_viewer_cannot_stop_a_study_and_an_admin_can(
    auth_server: AuthServer, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    with auth_server.client(ADMIN) as admin, auth_server.client(VIEWER) as viewer:
        make_study(admin, "guarded", 4)
        seen = dashboard_for(viewer)
        acting = dashboard_for(admin)
        console_errors(browser)

        open_page(browser, seen.url + "/studies/guarded")
        assert browser.find_element("css selector", "#role").text == "viewer"
        assert browser.find_elements("css selector", "#stop-study") == []
        # The page's own action token cannot make a viewer's request pass: the server refuses.
        answer = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "(async () => {"
            "const token = (await (await fetch('/api/session')).json()).action_token;"
            "const r = await fetch('/api/studies/guarded/stop', {method: 'POST',"
            " headers: {'X-Asktell-Action-Token': token, 'Content-Type': 'application/json'},"
            " body: '{}'});"
            "done([r.status, (await r.json()).error]);"
            "})();"
        )
        assert answer == [403, "permission_denied"]
        assert admin.get_study_info("guarded").state == "ACTIVE"
        screenshot(browser, tmp_path / "viewer.png")
        console_errors(browser)  # the refused POST above is logged by the browser

        open_page(browser, acting.url + "/studies/guarded")
        assert browser.find_element("css selector", "#role").text == "admin"
        click(browser, "#stop-study")
        wait_for(lambda: admin.get_study_info("guarded").state == "STOPPED", what="the stop")
        wait_for(
            lambda: "stopped" in browser.find_element("css selector", "#banner").text,
            what="the stopped banner",
        )
        wait_for(lambda: browser.find_elements("css selector", "#resume-study"), what="resume")
        screenshot(browser, tmp_path / "stopped.png")

        # Enqueue an edited copy of a trial from its page.
        open_page(browser, acting.url + "/studies/guarded/trials/1")
        lr = browser.find_element("css selector", "#enqueue-form input[name=lr]")
        lr.clear()
        lr.send_keys("0.002")
        click(browser, "#enqueue-submit")
        wait_for(
            lambda: (
                "1 configuration" in browser.find_element("css selector", "#enqueue-message").text
            ),
            what="the enqueue",
        )
        assert admin.get_study_info("guarded").counts.queued == 1
        screenshot(browser, tmp_path / "enqueue.png")
        assert console_errors(browser) == []

        open_page(browser, seen.url + "/studies/guarded/trials/1")
        assert not browser.find_element("css selector", "#enqueue").is_displayed()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@SQLITE_ONLY
def test_bad_input_gives_a_clear_page(
    client: Client,
    auth_server: AuthServer,
    dashboard_for: Start,
    browser: Any,
    tmp_path: Path,
) -> None:
    make_study(client, "here", 2)
    dash = dashboard_for(client)
    browser.get(dash.url + "/studies/not-here")
    assert browser.find_element("css selector", "#error-heading").text == "Not found"
    assert "not-here" in browser.find_element("css selector", "#error-message").text
    screenshot(browser, tmp_path / "unknown.png")

    with Client(f"127.0.0.1:{_free_port()}", retry_seconds=0, timeout=5) as away:
        browser.get(dashboard_for(away).url + "/")
        heading = browser.find_element("css selector", "#error-heading").text
        assert heading == "The asktell server cannot be reached"
        screenshot(browser, tmp_path / "unreachable.png")

    with auth_server.client("expired-token-0123456789abcdef") as expired:
        browser.get(dashboard_for(expired).url + "/studies/here")
        heading = browser.find_element("css selector", "#error-heading").text
        assert heading == "The server rejected the dashboard's token"
        assert "--token-file" in browser.find_element("css selector", "#error-message").text
        screenshot(browser, tmp_path / "token.png")
    console_errors(browser)  # the error pages' own statuses


@SQLITE_ONLY
def test_a_server_that_goes_away_is_a_banner_and_the_page_stays(
    db_url: str, dashboard_for: Start, browser: Any, tmp_path: Path
) -> None:
    from asktell.server.app import create_server
    from asktell.server.storage import open_store

    store = open_store(db_url)
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    with Client(f"127.0.0.1:{port}", retry_seconds=0, timeout=5) as client:
        make_study(client, "away", 6)
        dash = dashboard_for(client)
        open_page(browser, dash.url + "/studies/away")
        server.stop(None)
        wait_for(
            lambda: "cannot be reached" in browser.find_element("css selector", "#banner").text,
            what="the banner",
        )
        assert len(_numbers_in_table(browser)) == 6  # what was read stays on the page
        screenshot(browser, tmp_path / "away.png")
    store.close()
    console_errors(browser)
