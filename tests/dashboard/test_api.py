"""The dashboard's JSON API, pages and actions against a live server, on SQLite: the
dashboard reaches the store only through the server's RPCs (`SQLITE_ONLY` says why)."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest

from asktell.client import Client
from asktell.dashboard import cache
from tests.conftest import SQLITE_ONLY, LiveServer
from tests.dashboard.conftest import ADMIN, SPEC, VIEWER, AuthServer, RunningDashboard, make_study

Start = Callable[..., RunningDashboard]


@SQLITE_ONLY
def test_the_studies_list_counts_trials_and_shows_the_best(
    client: Client, dashboard_for: Start
) -> None:
    study = make_study(client, "listed", 20)
    client.create_study({"name": "empty", **SPEC})
    dash = dashboard_for(client)
    studies = {s["id"]: s for s in dash.json("/api/studies")["studies"]}
    assert set(studies) == {"listed", "empty"}
    listed = studies["listed"]
    best = study.best_trial
    assert best is not None
    assert listed["best_number"] == best.number and listed["best_value"] == best.value
    assert listed["counts"] == {"running": 0, "complete": 14, "failed": 2, "pruned": 4, "queued": 0}
    assert listed["trials"] == 20 and listed["max_trials"] == 200
    assert listed["algorithm"] == "random" and listed["state"] == "ACTIVE"
    assert studies["empty"]["best_value"] is None and studies["empty"]["trials"] == 0


@SQLITE_ONLY
def test_the_table_sorts_filters_and_pages_on_the_server(
    client: Client, dashboard_for: Start
) -> None:
    study = make_study(client, "table", 40)
    trials = study.trials()
    dash = dashboard_for(client)
    base = "/api/studies/table/trials"

    answer = dash.json(f"{base}?sort=-value&page_size=10&page=2")
    complete = sorted((t for t in trials if t.value is not None), key=lambda t: -(t.value or 0))
    assert [r["number"] for r in answer["rows"]] == [t.number for t in complete[10:20]]
    assert (answer["total"], answer["matched"], answer["pages"]) == (40, 40, 4)

    failed = dash.json(f"{base}?state=FAILED")
    assert [r["number"] for r in failed["rows"]] == [
        t.number for t in trials if t.state == "FAILED"
    ]
    assert all("CUDA out of memory" in r["reason"] for r in failed["rows"])

    wanted = [
        t.number
        for t in trials
        if float(t.params["lr"]) > 0.001
        and t.params["optimizer"] == "adam"
        and t.worker_id != "worker-1"
    ]
    answer = dash.json(f"{base}?filter=lr>0.001+optimizer=adam+worker!=worker-1&page_size=500")
    assert [r["number"] for r in answer["rows"]] == wanted
    assert dash.json(f"{base}?filter=cuda&page_size=500")["matched"] == len(failed["rows"])
    with_attr = dash.json(f"{base}?filter=attrs.model=resnet-1+attrs.epochs>10&page_size=500")
    assert [r["number"] for r in with_attr["rows"]] == [
        t.number for t in trials if t.attrs.get("model") == "resnet-1" and t.number > 10
    ]
    assert with_attr["rows"][0]["attrs"]["model"] == "resnet-1"
    assert dash.json("/api/studies/table")["attrs"] == ["epochs", "model"]
    by_depth = dash.json(f"{base}?sort=params.depth&page_size=500")["rows"]
    assert [r["params"]["depth"] for r in by_depth] == sorted(t.params["depth"] for t in trials)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("filter=lr>>1", "cannot read"),
        ("state=DONE", "'DONE' is not one of"),
        ("page_size=100000", "page_size 1 to 500"),
        ("filter=state=ok", "state must be one of"),
    ],
)
@SQLITE_ONLY
def test_a_bad_table_query_is_a_400_naming_it(
    client: Client, dashboard_for: Start, query: str, message: str
) -> None:
    make_study(client, "bad", 1)
    status, body, _ = dashboard_for(client).get(f"/api/studies/bad/trials?{query}")
    assert status == 400
    assert message in json.loads(body)["message"]


@SQLITE_ONLY
def test_polling_reads_only_new_and_unfinished_trials(
    client: Client, live_server: LiveServer, dashboard_for: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "FIRST_PAGE", 20)
    monkeypatch.setattr(cache, "TAIL_PAGE", 5)
    study = make_study(client, "poll", 47)
    read: list[int] = []

    class Counting(Client):
        def list_trials_page(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            page, token = super().list_trials_page(*args, **kwargs)
            read.extend(t.number for t in page)
            return page, token

    with Counting(live_server.address) as counting:
        trials = cache.StudyTrials(counting, "poll", min_interval=0.0)
        trials.refresh()
        assert [t.number for t in trials.trials()] == list(range(1, 48))
        assert len(read) == 47  # pages of 20
        read.clear()
        trials.refresh()
        assert read == []  # nothing moved, nothing running: only GetStudy
        running = study.ask_many(3, worker_id="late")
        trials.refresh()
        # From the last full page (after 40): 41..50, then the running ones again.
        assert sorted(set(read)) == list(range(41, 51))
        assert {t.number for t in trials.trials() if t.state == "RUNNING"} == {48, 49, 50}
        version = trials.version
        read.clear()
        running[0].tell(0.5)
        trials.refresh()
        assert trials.version == version + 1
        told = next(t for t in trials.trials() if t.number == 48)
        assert told.state == "COMPLETE" and told.value == 0.5
        assert max(read) == 50 and min(read) >= 46  # the tail after the last full page of 5


@SQLITE_ONLY
def test_a_trial_page_has_its_measurements_and_retry_chain(
    client: Client, dashboard_for: Start
) -> None:
    study = client.create_study({"name": "retry", "max_retries": 1, **SPEC})
    first = study.ask(worker_id="w")
    assert first is not None
    first.report(1, 2.0)
    first.fail("boom")
    again = study.ask(worker_id="w")
    assert again is not None and again.retry_of == first.number
    again.tell(1.0)
    dash = dashboard_for(client)
    item = dash.json(f"/api/studies/retry/trials/{first.number}")
    assert item["measurements"] == [[1, 2.0]]
    assert [r["number"] for r in item["retry_chain"]] == [first.number, again.number]
    assert item["reason"] == "boom"
    chained = dash.json(f"/api/studies/retry/trials/{again.number}")
    assert [r["number"] for r in chained["retry_chain"]] == [first.number, again.number]


@SQLITE_ONLY
def test_downloads_hold_every_selected_trial(client: Client, dashboard_for: Start) -> None:
    study = make_study(client, "export", 15)
    trials = study.trials()
    dash = dashboard_for(client)
    status, body, headers = dash.get("/api/studies/export/export.csv")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    assert {r["state"] for r in rows} == {"COMPLETE", "FAILED", "PRUNED"}
    assert float(rows[0]["params.lr"]) == trials[0].params["lr"]
    assert [r["attrs.model"] for r in rows] == [str(t.attrs.get("model", "")) for t in trials]
    status, body, _ = dash.get("/api/studies/export/export.json?state=COMPLETE&sort=-value")
    items = json.loads(body)
    assert [i["number"] for i in items] == [
        t.number for t in sorted(study.trials(["COMPLETE"]), key=lambda t: -(t.value or 0))
    ]
    assert items[0]["measurements"][0][0] == 1


@SQLITE_ONLY
def test_unknown_study_and_trial_are_404_pages(client: Client, dashboard_for: Start) -> None:
    make_study(client, "known", 1)
    dash = dashboard_for(client)
    for path in ("/studies/nope", "/studies/known/trials/99", "/nowhere"):
        status, body, headers = dash.get(path)
        assert status == 404 and headers["Content-Type"].startswith("text/html"), path
        assert b"Not found" in body and b"Traceback" not in body
    status, body, _ = dash.get("/api/studies/nope")
    assert status == 404 and json.loads(body)["error"] == "not_found"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_a_clear_503(dashboard_for: Start) -> None:
    target = f"127.0.0.1:{_free_port()}"
    with Client(target, retry_seconds=0, timeout=5) as client:
        dash = dashboard_for(client)
        status, body, _ = dash.get("/")
        assert status == 503
        assert b"cannot be reached" in body and target.encode() in body
        status, body, _ = dash.get("/api/studies")
        assert status == 503 and json.loads(body)["error"] == "unavailable"


@SQLITE_ONLY
def test_a_rejected_token_is_a_clear_401(auth_server: AuthServer, dashboard_for: Start) -> None:
    with auth_server.client("expired-token-0123456789abcdef") as client:
        dash = dashboard_for(client)
        status, body, _ = dash.get("/")
        assert status == 401 and b"rejected the dashboard&#x27;s token" in body
        status, body, _ = dash.get("/api/studies")
        assert status == 401 and "valid --token-file" in json.loads(body)["message"]


@SQLITE_ONLY
def test_actions_refuse_cross_site_requests(client: Client, dashboard_for: Start) -> None:
    make_study(client, "guarded", 1)
    dash = dashboard_for(client)
    assert dash.post("/api/studies/guarded/stop", token=None)[0] == 403
    assert dash.post("/api/studies/guarded/stop", token="guess")[0] == 403
    status, body = dash.post("/api/studies/guarded/stop", origin="http://evil.example")
    assert status == 403 and body["error"] == "cross_site"
    assert client.get_study_info("guarded").state == "ACTIVE"
    assert dash.post("/api/studies/guarded/stop", origin=dash.url)[0] == 200
    assert client.get_study_info("guarded").state == "STOPPED"


@SQLITE_ONLY
def test_a_viewer_changes_nothing_and_an_admin_acts(
    auth_server: AuthServer, dashboard_for: Start
) -> None:
    with auth_server.client(ADMIN) as admin, auth_server.client(VIEWER) as viewer:
        make_study(admin, "roles", 2)
        seen = dashboard_for(viewer)
        acting = dashboard_for(admin)
        assert seen.json("/api/session")["role"] == "viewer"
        assert acting.json("/api/session")["role"] == "admin"
        assert seen.json("/api/studies/roles")["trials"] == 2  # a viewer sees everything
        status, body = seen.post("/api/studies/roles/stop")
        assert status == 403 and body["error"] == "permission_denied"
        status, body = seen.post("/api/studies/roles/enqueue", {"params": {"lr": 0.01}})
        assert status == 403
        assert admin.get_study_info("roles").state == "ACTIVE"
        assert admin.get_study_info("roles").counts.queued == 0
        assert acting.post("/api/studies/roles/stop")[0] == 200
        assert admin.get_study_info("roles").state == "STOPPED"
        assert acting.post("/api/studies/roles/resume")[0] == 200
        status, body = acting.post(
            "/api/studies/roles/enqueue", {"params": {"lr": 0.01, "depth": 2, "optimizer": "sgd"}}
        )
        assert (status, body) == (200, {"queued": 1})
        status, body = acting.post("/api/studies/roles/enqueue", {"params": {"lr": 5.0}})
        assert status == 400 and "lr" in body["message"]


@SQLITE_ONLY
def test_the_command_serves_the_dashboard(live_server: LiveServer) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "dashboard",
            "--server",
            live_server.address,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"dashboard on http://127.0.0.1:{port}/" in line and "role: admin" in line
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/session", timeout=10) as r:
            assert json.loads(r.read())["server"] == live_server.address
    finally:
        process.terminate()
        process.wait(timeout=10)


@SQLITE_ONLY
def test_the_command_says_when_its_port_is_taken(live_server: LiveServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "asktell.client._cli",
                "dashboard",
                "--server",
                live_server.address,
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
