"""Kill -9 a real node process while it commits blocks; nothing final may be lost or torn.

Every block the node reported (height, hash, state root) must be there after each restart, and
at the end the whole database must replay from genesis under every rule, with every stored state
record matching the head's state root.
"""

import json
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from chain.address import key_address
from chain.integrity import replay_store
from chain.store import ChainStore
from devnet.processes import group_members
from genesis.schema import load_genesis
from node.config import load_config, write_config
from tests.kit.support import (
    CHAIN_ID,
    Load,
    NodeProcess,
    dev_key,
    http,
    make_home,
    signature_workers,
    transfer,
)

KILLS = 5


def test_sigkill_while_committing_loses_nothing_final(tmp_path: Path) -> None:
    th = make_home(tmp_path / "home", params={"block_interval_ms": 50})
    node = NodeProcess(th)
    node.start()
    reported: dict[int, tuple[str, str]] = {}
    load = Load([th.url], dev_key("alice"), CHAIN_ID)
    load.start()
    rng = random.Random(42)
    try:
        for _ in range(KILLS):
            deadline = time.monotonic() + 1.0 + rng.random()
            while time.monotonic() < deadline:
                status = node.status()
                reported[status["height"]] = (status["block_hash"], status["state_root"])
                time.sleep(0.02)
            node.kill()
            node.start()
            for height, (block_hash, state_root) in sorted(reported.items()):
                code, block = http(f"{th.url}/v1/blocks/{height}")
                assert code == 200, f"final block {height} vanished after SIGKILL"
                assert block["header"]["hash"] == block_hash
                assert block["header"]["state_root"] == state_root
    finally:
        load.stop()
        node.stop()
    assert load.accepted > 0, "the load never reached the node"
    assert max(reported) >= 10, "too few blocks were committed to make the test meaningful"

    store = ChainStore(str(th.home.db_path))
    try:
        report = replay_store(store, load_genesis(th.home.genesis_file), str(tmp_path / "replay"))
    finally:
        store.close()
    assert report.height >= max(reported)
    assert report.transactions > 0

    cli = subprocess.run(
        [sys.executable, "-m", "node", "node", "verify", "--home", str(th.home.root), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["height"] == report.height


def test_sigkill_under_load_leaves_no_process_behind_and_restarts_on_its_ports(
    tmp_path: Path,
) -> None:
    """Signature workers start on large batches; a kill -9 of the node must take them along."""
    th = make_home(tmp_path / "home")
    write_config(th.home, replace(load_config(th.home), verify_workers=2))
    node = NodeProcess(th)
    node.start()
    try:
        alice = dev_key("alice")
        bob = key_address(dev_key("bob").public_key)
        batch = [transfer(alice, bob, 1, nonce).encoded.hex() for nonce in range(1200)]
        code, body = http(f"{th.url}/v1/txs/batch", {"txs": batch}, timeout=60)
        assert code == 200 and body["accepted"] == len(batch), body
        assert node.proc is not None
        pid = node.proc.pid
        # the fork server and at least one worker: else the test shows nothing
        assert len(signature_workers(pid)) >= 2, "the batch did not start signature workers"
        height = node.status()["height"]

        node.kill()  # the node process alone, as an outside kill -9 does
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and group_members(pid):
            time.sleep(0.05)
        assert not group_members(pid), f"processes outlived their node: {group_members(pid)}"
        left = list(th.home.scratch_dir.glob("pymp-*"))
        assert left, "the fork server's folder is not in the node's scratch folder"

        node.start()  # the same API and peer ports
        code, _ = http(f"{th.url}/v1/txs/batch", {"txs": batch[:5]})
        assert code == 200
        assert not any(path.exists() for path in left), "the restart kept the killed one's files"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.status()["height"] <= height:
            time.sleep(0.1)
        assert node.status()["height"] > height, "the restarted node makes no blocks"
    finally:
        node.stop()
