"""`gridchain status --watch` with real processes: a node far behind, followed by the CLI from
before it answers (retried) through block sync (heights that rise toward the best peer's, a rate
and a time left) to caught up, where --until-synced ends it with exit 0; and a plain watch that
Ctrl-C ends with exit 0.

No devnet fixture of tests/e2e has a node far enough behind for a watch to see it move (a late
validator of test_consensus_net is 12 blocks behind and level again within one read), so this
module prepares one as `bench sync` does (node/bench/sync.py): a devnet of two validators whose
chain of BLOCKS empty blocks is generated offline on node0's database. node0 alone holds half
the stake and decides nothing; node1 starts with an empty database and catches up by block sync.
Nothing about speed is asserted.
"""

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet import network
from node.bench.sync import generate_chain, prepared

BLOCKS = 3000


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, network.Devnet]]:
    """The devnet with node0 running at height BLOCKS and node1 not started, empty."""
    directory = tmp_path_factory.mktemp("status-watch") / "devnet"
    devnet = network.up(directory, 2, network.free_base_port(2), start=False).devnet
    net = prepared(devnet)
    generate_chain(net.homes[0].db_path, net.genesis, net.validators, net.alice, net.bob, BLOCKS, 0)
    try:
        network.start_node(directory, "node0")
        yield directory, devnet
    finally:
        network.down(directory)


def _interruptible() -> None:
    """In the child before exec: Ctrl-C's default back. A suite started in the background by
    a non-interactive shell (CI's, say) ignores SIGINT, every child inherits that, and Python
    installs its KeyboardInterrupt handler only where SIGINT is not ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def watch(url: str, *options: str) -> "subprocess.Popen[str]":
    command = [sys.executable, "-m", "node", "status", "--watch", "--node", url, *options]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def finish(process: "subprocess.Popen[str]", timeout: float) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_until_synced_follows_a_node_far_behind_to_its_peers_height(
    behind: tuple[Path, network.Devnet],
) -> None:
    directory, devnet = behind
    node1 = devnet.nodes[1].api
    watcher = watch(node1, "--until-synced", "--json", "--interval", "0.2", "--timeout", "180")
    assert watcher.stdout is not None
    # node1 is not running yet: the watch says so and asks again
    first = json.loads(watcher.stdout.readline())
    assert first["event"] == "retry" and first["error"]["code"] == "node_unreachable", first
    assert node1 in first["error"]["message"]
    network.start_node(directory, "node1")
    out, err = finish(watcher, 180)
    assert watcher.returncode == 0, (out, err)

    lines: list[dict[str, Any]] = [first, *(json.loads(line) for line in out.splitlines())]
    assert {line["event"] for line in lines} <= {"sample", "retry"}
    samples = [line for line in lines if line["event"] == "sample"]
    heights = [s["height"] for s in samples]
    assert heights == sorted(heights), heights
    assert heights[0] < BLOCKS - 1 <= heights[-1], heights
    assert len(set(heights)) >= 3, heights  # it was seen on its way, not only at both ends
    # only the last sample is synced: --until-synced ended the watch there, at most one height
    # behind node0 (block sync's rule: the last block may be on its way by consensus)
    last = samples[-1]
    assert last["synced"] and last["phase"] == "synced" and last["peers"] == 1
    assert last["target_height"] >= BLOCKS and last["target_height"] - last["height"] <= 1
    assert not any(s["synced"] for s in samples[:-1])
    syncing = [s for s in samples if s["phase"] == "block sync"]
    assert syncing, samples
    assert all(s["target_height"] >= BLOCKS and s["height"] < BLOCKS for s in syncing)
    measured = [s for s in syncing if s["rate"] is not None]
    assert measured and all(s["rate_unit"] == "blocks/s" for s in measured)
    assert any(s["rate"] > 0 and s["eta_s"] > 0 for s in measured), measured


def test_a_plain_watch_prints_a_line_per_read_and_ctrl_c_ends_it_with_0(
    behind: tuple[Path, network.Devnet],
) -> None:
    _, devnet = behind
    watcher = watch(devnet.nodes[0].api, "--interval", "0.2")
    assert watcher.stdout is not None
    seen = [watcher.stdout.readline() for _ in range(3)]
    watcher.send_signal(signal.SIGINT)
    out, err = finish(watcher, 30)
    assert watcher.returncode == 0, (out, err)
    assert err == ""
    for line in seen:  # not a terminal: a whole line per read, nothing rewritten
        assert line.startswith("height ") and line.endswith("\n") and "\r" not in line, seen
