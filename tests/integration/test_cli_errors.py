"""The command line fails fast and in one line: a server that is not there, a malformed spec
file, a task module that does not exist; `asktell serve --log-format json` writes JSON only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import REPO
from tests.services import free_port


def asktell(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asktell.client._cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_server_that_is_not_there_fails_in_seconds_with_one_line() -> None:
    nothing = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = asktell("study", "list", "--server", nothing)
    took = time.monotonic() - started
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: UNAVAILABLE: ") and nothing in line
    assert result.stdout == ""
    # The 5 s retry window, against the client's minute (the process start adds a little).
    assert took < 30, took
    quick = asktell("study", "show", "x", "--server", nothing, env={"ASKTELL_RETRY_SECONDS": "0"})
    assert quick.returncode == 1 and len(quick.stderr.splitlines()) == 1


def test_malformed_yaml_is_one_line_with_the_file_and_line(tmp_path: Path) -> None:
    spec = tmp_path / "study.yaml"
    spec.write_text("name: s\nparameters:\n  x: {type: float, min: 0\n  y: 1\n")
    result = asktell("study", "create", "-f", str(spec), "--server", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: INVALID_ARGUMENT: {spec}:4:4: not valid YAML: "), line
    assert "flow mapping at line 3" in line
    spec.write_bytes(b"name: \xff\n")
    result = asktell("study", "create", "-f", str(spec))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: INVALID_ARGUMENT: {spec}: not UTF-8 text (byte 6)"
    ]


def test_a_task_module_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    result = asktell("worker", "--study", "s", "--task", "nomod:fn", "--server", "127.0.0.1:1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "asktell worker: cannot start: task 'nomod:fn': cannot import nomod: "
        "no module named 'nomod'"
    ]
    result = asktell("worker", "--study", "s", "--task", "nomod", "--server", "127.0.0.1:1")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "package.module:function" in result.stderr


def test_json_logs_are_json_on_every_line_from_start_to_stop(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "--port",
            "0",
            "--metrics-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "ASKTELL_LOG_FORMAT": "json"},
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["message"].startswith("asktell serving on 127.0.0.1:")
    stub = service_pb2_grpc.AsktellServiceStub(grpc.insecure_channel(f"127.0.0.1:{first['port']}"))
    try:
        stub.GetStudy(pb.GetStudyRequest(name="studies/nope"), timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # the server's threads' stacks, on stderr
        time.sleep(1)
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"no exit 30 s after SIGTERM:\n{out}\n{err}") from None
    assert process.returncode == 0
    lines = [first, *(json.loads(line) for line in (out + err).splitlines())]
    assert len(lines) >= 4  # serving (stdout and log), the NOT_FOUND, stopping
    assert all({"time", "level", "message"} <= set(entry) for entry in lines)

    refused = asktell(
        "serve", "--db", "postgresql://u:change-me@127.0.0.1/db", "--log-format", "json"
    )
    assert refused.returncode == 2
    (entry,) = [json.loads(line) for line in refused.stderr.splitlines()]
    assert entry["level"] == "ERROR" and "refusing to start" in entry["message"]
