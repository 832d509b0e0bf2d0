"""Kill -9 a real node process while it commits blocks; nothing final may be lost or torn.

Every block the node reported (height, hash, state root) must be there after each restart, and
at the end the whole database must replay from genesis under every rule, with every stored state
record matching the head's state root.
"""

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chain.address import key_address
from chain.integrity import verify_store
from chain.store import ChainStore
from genesis.schema import load_genesis
from tests.support import NodeProcess, dev_key, http, make_home, transfer

pytestmark = pytest.mark.slow

KILLS = 5


class Load(threading.Thread):
    """Keeps the node busy with batches of transfers until stopped or the node dies."""

    def __init__(self, url: str, sender_seed: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.key = dev_key(sender_seed)
        self.stop_event = threading.Event()
        self.recipients = [key_address(dev_key(f"r{i}").public_key) for i in range(50)]
        self.accepted = 0

    def run(self) -> None:
        rng = random.Random(1)
        address = key_address(self.key.public_key)
        while not self.stop_event.is_set():
            try:
                _, account = http(f"{self.url}/v1/accounts/{address}", timeout=2)
                nonce = account["nonce"]
                txs = [
                    transfer(self.key, rng.choice(self.recipients), 1 + rng.randrange(9), nonce + i)
                    for i in range(300)
                ]
                _, body = http(
                    f"{self.url}/v1/txs/batch", {"txs": [t.encoded.hex() for t in txs]}, timeout=5
                )
                self.accepted += body.get("accepted", 0)
                time.sleep(0.05)
            except (OSError, KeyError, ValueError):
                time.sleep(0.05)  # the node is down or restarting


def test_sigkill_while_committing_loses_nothing_final(tmp_path: Path) -> None:
    th = make_home(tmp_path / "home", params={"block_interval_ms": 50})
    node = NodeProcess(th)
    node.start()
    reported: dict[int, tuple[str, str]] = {}
    load = Load(th.url, "alice")
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
        load.stop_event.set()
        load.join(10)
        node.stop()
    assert load.accepted > 0, "the load never reached the node"
    assert max(reported) >= 10, "too few blocks were committed to make the test meaningful"

    store = ChainStore(str(th.home.db_path))
    try:
        report = verify_store(store, load_genesis(th.home.genesis_file), str(tmp_path / "replay"))
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
