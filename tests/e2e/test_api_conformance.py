"""API conformance: schemathesis against a real node's own OpenAPI document.

Every operation is exercised with generated requests (bounded, from a fixed seed) and checked
for server errors and for conformance to the document: documented status codes, content types,
response schemas and headers, and the answer to a method the route does not take."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from node.api.openapi import openapi_spec
from node.release import VERSION
from tests.kit.support import NodeProcess, make_home

pytestmark = pytest.mark.slow

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "unsupported_method",
    )
)


def test_every_operation_conforms_to_the_document(tmp_path: Path) -> None:
    node = NodeProcess(make_home(tmp_path / "node"))
    node.start()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{node.th.url}/v1/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "25",
                "--seed",
                "20261206",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    operations = sum(len(ops) for ops in openapi_spec(VERSION)["paths"].values())
    tested = re.search(r"Tested: (\d+)", result.stdout)
    # every one of them but the document's own route, which schemathesis leaves out
    assert tested is not None and int(tested.group(1)) == operations - 1
