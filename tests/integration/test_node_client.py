"""A Node.js client (examples/node) runs a whole study against a live server.

The example loads the contract from proto/ with @grpc/proto-loader, so this
checks that the .proto files alone are enough for another language. What the
Node process told is read back through the Python client. Skipped without
node/npm on a developer's machine; fails under CI=true (tests/node_tools.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.node_tools import NODE_DIR, REPO, node_modules, tool

TRIALS = 8


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The client does not care which store the server uses: SQLite only."""
    return f"sqlite:///{tmp_path / 'asktell.db'}"


def run_node(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    node_modules()
    return subprocess.run(
        [tool("node"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_node_example_runs_a_whole_study(live_server: LiveServer, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    args = ["examples/node/study.js", live_server.address, "--study", "node-e2e"]
    result = run_node(*args, "--trials", str(TRIALS), "--summary", str(summary_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created studies/node-e2e" in result.stdout
    assert "no more trials: ASK_STATUS_EXHAUSTED" in result.stdout
    summary = json.loads(summary_path.read_text())
    told = summary["told"]
    assert summary["study"] == "studies/node-e2e"
    assert len(told) == TRIALS

    with live_server.client() as client:
        study = client.get_study("node-e2e")
        info = study.info()
        assert info.spec["objective"] == {"metric": "val_loss", "goal": "minimize"}
        assert info.seed == 42
        stored = {trial.name: trial for trial in study.trials()}
        assert sorted(stored) == sorted(t["name"] for t in told)
        for item in told:
            trial = stored[item["name"]]
            assert trial.state == "COMPLETE"
            assert trial.value == item["value"]  # doubles survive JSON exactly
            assert trial.params == item["params"]
            assert isinstance(trial.params["layers"], int)
            assert isinstance(trial.params["optimizer"], str)
            # Typed values, seen alike by Node (its JSON) and by Python.
            for params in (trial.params, item["params"]):
                assert type(params["batch_size"]) is int and params["batch_size"] in (16, 32, 64)
                assert type(params["augment"]) is bool
                assert ("momentum" in params) == (params["optimizer"] == "sgd")
            assert [step for step, _ in trial.measurements] == [0, 1, 2]
            assert trial.measurements[-1][1] == item["value"]
            assert trial.worker_id.startswith("node-")
        best = study.best_trial
        assert best is not None
        assert best.value == min(item["value"] for item in told)
        assert summary["best"]["name"] == best.name
        assert summary["best"]["value"] == best.value

    # Running it again reuses the identical study and finds it exhausted.
    again = run_node(*args, "--trials", str(TRIALS))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing studies/node-e2e" in again.stdout
    with live_server.client() as client:
        assert len(client.get_study("node-e2e").trials()) == TRIALS

    # A different spec under the same id is refused with the server's message.
    different = run_node(*args, "--trials", str(TRIALS + 1))
    assert different.returncode == 1
    assert "CreateStudy failed: ALREADY_EXISTS" in different.stderr


ERRORS_SCRIPT = """
const { AsktellClient, AsktellError, status } = require('./asktell');
const client = new AsktellClient(process.argv[1], { retries: 0 });
const outcomes = {};
async function expectError(label, promise) {
  try {
    await promise;
    outcomes[label] = 'no error';
  } catch (err) {
    if (!(err instanceof AsktellError)) throw err;
    outcomes[label] = { code: err.code, codeName: err.codeName, message: err.message };
  }
}
(async () => {
  await expectError('unknown study', client.ask('no-such-study'));
  await expectError('bad spec', client.createStudy('bad', {
    objective: { metric: 'loss', goal: 'GOAL_MINIMIZE' },
    algorithm: { random: {} },
    parameters: [{ name: 'lr', float_parameter: { min: 0.1, max: 0.01 } }],
  }));
  await expectError('unknown trial', client.complete('studies/no-such-study/trials/1', 1.0));
  outcomes.statusCodes = { NOT_FOUND: status.NOT_FOUND };
  client.close();
  console.log(JSON.stringify(outcomes));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def test_node_client_errors_carry_the_status_and_the_servers_message(
    live_server: LiveServer,
) -> None:
    result = run_node("-e", ERRORS_SCRIPT, live_server.address, cwd=NODE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = json.loads(result.stdout)
    assert outcomes["unknown study"]["codeName"] == "NOT_FOUND"
    assert outcomes["unknown study"]["code"] == outcomes["statusCodes"]["NOT_FOUND"]
    assert outcomes["unknown study"]["message"].startswith("Ask failed: NOT_FOUND: ")
    assert outcomes["bad spec"]["codeName"] == "INVALID_ARGUMENT"
    assert '"lr"' in outcomes["bad spec"]["message"]
    assert outcomes["unknown trial"]["codeName"] == "NOT_FOUND"
