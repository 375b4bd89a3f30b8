"""The contract in proto/ is linted and guarded against breaking changes with buf.

buf comes from the `@bufbuild/buf` npm package pinned in examples/node (see
tests/node_tools.py). The baseline is the image of the last released contract,
docs/contract/v1-baseline.binpb; docs/contract.md says when to refresh it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from google.protobuf import descriptor_pb2

from tests.node_tools import REPO, buf

BASELINE = REPO / "docs" / "contract" / "v1-baseline.binpb"


def run_buf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [buf(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint_passes() -> None:
    result = run_buf("lint")
    assert result.returncode == 0, f"buf lint:\n{result.stdout}{result.stderr}"


def test_no_breaking_change_against_the_released_v1_contract() -> None:
    result = run_buf("breaking", "--against", str(BASELINE))
    assert result.returncode == 0, (
        f"buf breaking against {BASELINE.relative_to(REPO)}:\n{result.stdout}{result.stderr}\n"
        "Changing or removing a released field breaks clients: add a new field instead "
        "(docs/contract.md)."
    )


def test_baseline_is_the_asktell_v1_image() -> None:
    image = descriptor_pb2.FileDescriptorSet.FromString(BASELINE.read_bytes())
    files = {f.name: f for f in image.file}
    assert {"asktell/v1/service.proto", "asktell/v1/resources.proto"} <= set(files)
    service = files["asktell/v1/service.proto"]
    assert service.package == "asktell.v1"
    assert [s.name for s in service.service] == ["AsktellService"]
    assert {"Ask", "Tell", "Report", "CreateStudy"} <= {m.name for m in service.service[0].method}


def _copy_contract(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "proto", tmp_path / "proto", ignore=shutil.ignore_patterns("*.py*"))
    shutil.copy(REPO / "buf.yaml", tmp_path / "buf.yaml")
    return tmp_path / "proto" / "asktell" / "v1" / "resources.proto"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_the_guard_rejects_a_renumbered_or_renamed_field(tmp_path: Path) -> None:
    resources = _copy_contract(tmp_path)
    _edit(resources, "  string metric = 1;\n  // Minimize", "  string metric = 9;\n  // Minimize")
    _edit(resources, "  uint32 max_retries = 6;", "  uint32 retries = 6;")
    result = run_buf("breaking", "--against", str(BASELINE), cwd=tmp_path)
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "Objective" in report and "metric" in report
    assert "max_retries" in report


def test_the_guard_accepts_an_added_field_and_message(tmp_path: Path) -> None:
    resources = _copy_contract(tmp_path)
    _edit(
        resources,
        "message Measurement {\n",
        "message Measurement {\n  // A note.\n  string note = 99;\n",
    )
    with resources.open("a") as f:
        f.write("\n// Something new.\nmessage Extra {\n  // Its value.\n  string value = 1;\n}\n")
    result = run_buf("breaking", "--against", str(BASELINE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
