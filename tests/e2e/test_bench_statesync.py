"""`gridchain bench statesync` on a small chain: node3 joins from node0's snapshot.

Real processes, real LevelDB, real signatures and peer links. No timing is asserted: figures
belong in docs/benchmarks.md.
"""

import json

import pytest
from click.testing import CliRunner

from node.cli.main import cli

pytestmark = pytest.mark.slow


def test_a_validator_joins_a_generated_chain_from_its_snapshot() -> None:
    out = CliRunner().invoke(
        cli, ["bench", "statesync", "--blocks", "40", "--accounts", "2500", "--json"]
    )
    assert out.exit_code == 0, out.output
    view = json.loads(out.stdout)
    node3 = view["node3"]
    assert node3["base_height"] == 40  # it started from the snapshot, not from genesis
    # 2,520 records: about 1,024 a chunk (chunk_bits), so 4 chunks
    assert node3["final_height"] >= 40
    assert view["snapshot"]["chunks"] == 4 and view["snapshot"]["records"] > 2500
    assert node3["restore"]["records"] == view["snapshot"]["records"]
    assert node3["restore"]["refused"] == []
    assert view["headers_match"] is True and view["accounts_match"] is True
