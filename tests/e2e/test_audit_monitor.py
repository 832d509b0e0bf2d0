"""`gridchain audit monitor` against real node processes on loopback.

One network of two validators: the monitor, run again and again over one home as the log grows
and then for several rounds while it grows, finds every head consistent. A split view: two nodes
started from one genesis whose single validator key both hold, never peered, so each finalizes
a chain of its own; given different transactions, their logs differ, and the monitor says so
(exit status 3), again on the next run from its saved state, and against a node it no longer
watches.
"""

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.ledger.transactions import SignedTx
from node.api.client import NodeClient
from tests.kit.netkit import CHAIN_ID, Net, running_net, wait_until
from tests.kit.support import NodeProcess, audit_request, make_home

pytestmark = pytest.mark.slow

PARAMS = {"block_interval_ms": 200, "empty_block_interval_ms": 1000}


def monitor(
    home: Path, *urls: str, rounds: int = 1, interval: float = 0.5, light: Path | None = None
) -> tuple[int, Any]:
    """`gridchain audit monitor --json` in a subprocess: (exit status, the rounds' objects)."""
    nodes = [arg for url in urls for arg in ("--node", url)]
    command = [sys.executable, "-m", "node", "audit", "monitor", *nodes, "--home", str(home)]
    command += ["--rounds", str(rounds), "--interval", str(interval), "--json"]
    if light is not None:
        command += ["--light-home", str(light)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def send_and_wait(via: NodeClient, tx: SignedTx, clients: list[NodeClient]) -> None:
    """Submit `tx` through `via`; return once every one of `clients` has committed it."""
    via.submit_tx(tx.encoded)
    tx_id = tx.id.hex()
    committed = lambda: all(c.tx(tx_id)["status"] == "committed" for c in clients)  # noqa: E731
    wait_until(committed, 30, f"transaction {tx_id} on {len(clients)} node(s)")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with running_net(tmp_path_factory.mktemp("monitor") / "devnet", 2, PARAMS) as net:
        yield net


def request(net: Net, tag: int) -> None:
    """One audit entry, sent through node0, committed by both nodes."""
    tx = audit_request(net.alice, net.nonce, tag, chain_id=CHAIN_ID)
    net.nonce += 1
    send_and_wait(net.clients["node0"], tx, [net.clients["node0"], net.clients["node1"]])


def test_two_nodes_of_one_network_stay_consistent_as_the_log_grows(
    net: Net, tmp_path: Path
) -> None:
    clients = [net.clients["node0"], net.clients["node1"]]
    urls = [c.url for c in clients]
    home = tmp_path / "monitor"
    sizes = []
    for tag in (1, 2, 3):
        request(net, tag)
        code, (report,) = monitor(home, *urls)
        assert code == 0, report
        assert report["verdict"] == "consistent" and report["findings"] == []
        assert {h["node"] for h in report["heads"]} == set(urls)
        sizes.append(report["largest"]["audit_size"])
    assert sizes[0] >= 1 and sizes[0] < sizes[1] < sizes[2]  # each run proved the growth

    # Every head checked final by a light client that trusts only the genesis file.
    light = tmp_path / "light"
    init = [sys.executable, "-m", "node", "light", "init", "--home", str(light)]
    subprocess.run([*init, "--genesis", str(net.directory / "genesis.json")], check=True)
    code, (final,) = monitor(home, *urls, light=light)
    assert code == 0 and final["verdict"] == "consistent", final

    # Several rounds in one run while the log keeps growing underneath it.
    failures: list[BaseException] = []

    def grow() -> None:
        try:
            for tag in (4, 5, 6):
                request(net, tag)
        except BaseException as exc:  # seen by the test below, not lost with the thread
            failures.append(exc)

    writer = threading.Thread(target=grow)
    writer.start()
    code, reports = monitor(home, *urls, rounds=6, interval=1.0)
    writer.join()
    assert not failures and code == 0, (failures, reports)
    assert [r["verdict"] for r in reports] == ["consistent"] * 6
    grown = [r["largest"]["audit_size"] for r in reports]
    assert grown == sorted(grown) and grown[-1] > sizes[-1]
    saved = json.loads((home / "state.json").read_text())
    assert {h["node"] for h in saved["heads"]} == set(urls)


def test_two_unpeered_nodes_of_one_genesis_are_a_split_view(tmp_path: Path) -> None:
    a, b = make_home(tmp_path / "a"), make_home(tmp_path / "b")
    assert a.home.genesis_file.read_text() == b.home.genesis_file.read_text()
    nodes = [NodeProcess(a), NodeProcess(b)]
    try:
        for node in nodes:
            node.start()
        assert nodes[0].status()["genesis_hash"] == nodes[1].status()["genesis_hash"]
        # The same sender, nonces from 0, different transactions: two logs.
        for th, tags in ((a, (1, 2)), (b, (3,))):
            client = NodeClient(th.url, timeout=5)
            for nonce, tag in enumerate(tags):
                send_and_wait(client, audit_request(th.alice, nonce, tag), [client])

        home = tmp_path / "monitor"
        code, (report,) = monitor(home, a.url, b.url)
        assert code == 3, report
        assert report["verdict"] == "inconsistent"
        assert [(f["kind"], f["node"], f["other"]) for f in report["findings"]] == [
            ("split_view", b.url, a.url)
        ]  # a's log of 2 is checked first and kept; b's log of 1 is not a prefix of it
        assert report["largest"]["node"] == a.url

        code, (again,) = monitor(home, a.url, b.url)  # the next run, from the saved state
        assert code == 3 and [f["kind"] for f in again["findings"]] == ["split_view"]
        code, (alone,) = monitor(home, b.url)  # b alone still contradicts a's kept head
        assert code == 3 and alone["findings"][0]["other"] == a.url

        # With a light client from the genesis file, following a: b's head is certified too
        # (its validator signed both chains), but it is not the header the client verified.
        light = tmp_path / "light"
        command = [sys.executable, "-m", "node", "light", "init", "--home", str(light)]
        subprocess.run([*command, "--genesis", str(a.home.genesis_file)], check=True)
        code, (checked,) = monitor(tmp_path / "monitor2", a.url, b.url, light=light)
        assert code == 3, checked
        assert [(f["kind"], f["node"]) for f in checked["findings"]] == [("invalid_head", b.url)]
        assert "not the final one the light client verified" in checked["findings"][0]["message"]
    finally:
        for node in nodes:
            node.stop()
