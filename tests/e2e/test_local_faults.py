"""A fault of this machine is never taken for an invalid block or transaction (issue 12).

A real node process over a real LevelDB whose records are damaged while it is stopped (as a
failing disk would): the API answers 500 with a code and no stack trace, and a damaged record
met while building a block stops the node loudly, with the cause in its log, before it votes or
commits anything.
"""

import subprocess
import sys
import time
from pathlib import Path

import plyvel

from chain.state import account_key, signing_info_key
from tests.kit.support import NodeHome, NodeProcess, http, make_home

GARBAGE = b"\xff\x00 not a record"


def damage(th: NodeHome, key: bytes) -> None:
    """Overwrite one state record in the stopped node's database."""
    db = plyvel.DB(str(th.home.db_path))
    try:
        assert db.get(b"S" + key) is not None, "no such record to damage"
        db.put(b"S" + key, GARBAGE, sync=True)
    finally:
        db.close()


def started_node(tmp_path: Path) -> tuple[NodeHome, NodeProcess, int]:
    th = make_home(tmp_path / "home")
    node = NodeProcess(th)
    node.start()
    deadline = time.monotonic() + 30
    while node.status()["height"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    height = int(node.status()["height"])
    assert height >= 3
    node.stop()
    return th, node, height


def test_a_damaged_record_read_by_the_api_is_a_500_with_a_code(tmp_path: Path) -> None:
    th, node, _ = started_node(tmp_path)
    damage(th, account_key(th.alice_address))
    node.start()
    try:
        code, body = http(f"{th.url}/v1/accounts/{th.alice_address}")
        assert code == 500, body
        assert body["error"]["code"] == "corrupt_record"
        assert "account" in body["error"]["message"]
        assert "Traceback" not in str(body)
        code, _ = http(f"{th.url}/v1/accounts/{th.bob_address}")
        assert code == 200, "one damaged record must not take the others with it"
    finally:
        node.stop()


def test_a_damaged_record_met_in_a_block_stops_the_node_loudly(tmp_path: Path) -> None:
    th, _, height = started_node(tmp_path)
    # Every block records who signed its parent: the next block meets this record.
    damage(th, signing_info_key(th.validator.public_key))
    log_start = th.home.log_file.stat().st_size
    process = subprocess.Popen(
        [sys.executable, "-m", "node", "node", "run", "--home", str(th.home.root), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the node kept running on a damaged record") from None
    assert process.returncode != 0, out + err
    assert '"node_failed"' in out, out + err
    log = err + th.home.log_file.read_text()[log_start:]
    assert "local fault, stopping the node" in log, log[-3000:]
    assert "signing info is corrupt" in log
    assert "invalid block" not in log and "prevote" not in log.lower()

    db = plyvel.DB(str(th.home.db_path))
    try:
        assert db.get(b"H" + (height + 1).to_bytes(8, "big")) is None, "a block was committed"
    finally:
        db.close()
