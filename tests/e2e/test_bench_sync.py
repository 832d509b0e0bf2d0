"""`gridchain bench sync` on a small chain: node3 catches up by block sync to node0's chain.

Real processes, real LevelDB, real signatures and peer links. No timing is asserted: figures
belong in docs/benchmarks.md.
"""

import json

from click.testing import CliRunner

from node.bench.sync import bench_sync
from node.cli.main import cli

BLOCKS = 60


def test_a_node_far_behind_catches_up_by_block_sync() -> None:
    progress: list[str] = []
    result = bench_sync(BLOCKS, txs_per_block=3, breakdown_blocks=BLOCKS, say=progress.append)

    assert result.final_height >= BLOCKS
    assert result.generated.blocks == BLOCKS and result.generated.txs == 3 * BLOCKS
    assert result.synced_blocks > 0  # the blocks came by block sync, not by consensus
    assert [h["height"] for h in result.headers][-1] == BLOCKS
    assert len(result.headers) >= 3
    for checked in result.headers:
        assert checked["node0"] == checked["node3"], f"fork at height {checked['height']}"
        assert len(checked["node3"]) == 64
    assert result.headers_match
    assert result.breakdown is not None and result.breakdown.blocks == BLOCKS
    steps = result.to_json()["breakdown"]["ms_per_block"]
    assert set(steps) == {
        "serve_read",
        "message_codec",
        "decode",
        "apply_synced",
        "of_which_cpu_in_process",
    }
    assert steps["apply_synced"] > 0 and steps["decode"] > 0
    assert any("node3" in line for line in progress)
    assert "stopping the devnet" in progress


def test_cli_bench_sync_json() -> None:
    out = CliRunner().invoke(
        cli,
        ["bench", "sync", "--blocks", "20", "--txs-per-block", "0", "--breakdown", "0", "--json"],
    )
    assert out.exit_code == 0, out.output
    view = json.loads(out.stdout)
    assert view["blocks"] == 20 and view["txs_per_block"] == 0
    assert view["node3"]["final_height"] >= 20
    assert view["node3"]["synced_blocks"] > 0
    assert view["headers_match"] is True
    assert view["breakdown"] is None


def test_cli_bench_sync_help() -> None:
    out = CliRunner().invoke(cli, ["bench", "sync", "--help"])
    assert out.exit_code == 0
    assert "--blocks" in out.output and "--txs-per-block" in out.output
