"""The client guides stay true to the contract.

Every `grpcurl -d` request in docs/clients/reflection.md must parse as the
method's request message, and the guides' links must resolve, so renaming a
field or a file shows up here and not in a user's terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import json_format, message_factory

from asktell.v1 import service_pb2

REPO = Path(__file__).resolve().parents[2]
GUIDES = REPO / "docs" / "clients"
SERVICE = service_pb2.DESCRIPTOR.services_by_name["AsktellService"]
GRPCURL = re.compile(r"-d '(\{[^']*\})'\s*\\?\s*\S+ (asktell\.v1\.AsktellService)/(\w+)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)


def grpcurl_calls() -> list[tuple[str, str]]:
    text = (GUIDES / "reflection.md").read_text()
    return [(method, body) for body, _, method in GRPCURL.findall(text)]


def test_the_reflection_guide_has_grpcurl_calls() -> None:
    methods = {method for method, _ in grpcurl_calls()}
    assert {"CreateStudy", "Ask", "Report", "Tell", "GetBestTrials"} <= methods


@pytest.mark.parametrize(("method", "body"), grpcurl_calls())
def test_each_grpcurl_request_matches_the_contract(method: str, body: str) -> None:
    request_class = message_factory.GetMessageClass(SERVICE.methods_by_name[method].input_type)
    json_format.Parse(body, request_class())  # raises on an unknown field or enum name


@pytest.mark.parametrize(
    "doc", [REPO / "README.md", REPO / "docs" / "contract.md", *sorted(GUIDES.glob("*.md"))]
)
def test_relative_links_resolve(doc: Path) -> None:
    prose = CODE_BLOCK.sub("", doc.read_text())
    for target in re.findall(r"\]\(([^)#:]+)\)", prose):
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"
