"""Four validator processes on loopback, through crashes, stops, a late start and an equivocator.

Real processes started by the devnet code, real LevelDB, real signatures, real encrypted peer
links. The scenarios run in order on one devnet (each leaves it converged for the next); the
equivocation comes last because it jails a validator for good.
"""

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chain.address import key_address
from devnet import network
from node.config import Home, load_config, write_config
from tests.kit.netkit import (
    CHAIN_ID,
    Net,
    assert_same_headers,
    committed,
    names,
    running_net,
    signers_of_commit,
    validator_key,
    wait_until,
)
from tests.kit.support import transfer

VALIDATORS = 4
PARAMS = {"block_interval_ms": 200, "empty_block_interval_ms": 1000, "downtime_window": 10_000}
ALL = names(0, 1, 2, 3)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with running_net(tmp_path_factory.mktemp("consensus") / "devnet", VALIDATORS, PARAMS) as net:
        yield net


def test_four_validators_finalize_blocks_with_transactions(net: Net) -> None:
    ids = net.send("node0", 15) + net.send("node0", 5)
    wait_until(lambda: all(committed(net, n, ids) for n in ALL), 60, "transfers on every node")
    wait_until(lambda: min(net.heights(ALL).values()) >= 2, 30, "a second block on every node")
    top = min(net.heights(ALL).values())
    assert_same_headers(net, ALL, top)
    balance = net.clients["node3"].account(str(net.bob))["balance"]
    assert balance >= 1_000_000 + 20
    proposers = {net.clients["node0"].block(h)["header"]["proposer"] for h in range(1, top + 1)}
    assert proposers <= {validator_key(net, n) for n in ALL}


def test_a_node_started_late_catches_up_by_block_sync(net: Net) -> None:
    network.stop_node(net.directory, "node3")
    start = net.height("node0")
    wait_until(lambda: net.height("node0") >= start + 12, 60, "12 blocks without node3")
    network.start_node(net.directory, "node3")
    target = net.height("node0")
    wait_until(lambda: net.height("node3") >= target, 60, "node3 to catch up")
    metrics = urlopen_text(net.clients["node3"].url + "/metrics")
    synced = [line for line in metrics.splitlines() if line.startswith("gridchain_synced_blocks")]
    assert synced and float(synced[0].split()[-1]) >= 1, synced
    assert_same_headers(net, ALL, target)


def test_killed_validator_catches_up_and_votes_again(net: Net) -> None:
    network.stop_node(net.directory, "node1", kill=True)
    start = net.height("node0")
    ids = net.send("node0", 5)
    wait_until(lambda: committed(net, "node2", ids), 60, "transfers without node1")
    wait_until(lambda: net.height("node0") >= start + 3, 60, "3 blocks without node1")
    network.start_node(net.directory, "node1")
    target = net.height("node0")
    wait_until(lambda: net.height("node1") >= target, 60, "node1 to catch up")
    key = validator_key(net, "node1")
    after = net.height("node1")
    wait_until(
        lambda: any(
            key in signers_of_commit(net, "node0", h) for h in range(after, net.height("node0") - 1)
        ),
        60,
        "node1's precommit in a commit",
    )
    assert_same_headers(net, ALL, min(net.heights(ALL).values()))


def test_two_of_four_stopped_halts_without_forking_then_resumes(net: Net) -> None:
    network.stop_node(net.directory, "node2")
    network.stop_node(net.directory, "node3")
    time.sleep(1.0)  # a decision already under way may still land
    before = net.heights(names(0, 1))
    ids = net.send("node0", 3)
    time.sleep(4.0)
    assert net.heights(names(0, 1)) == before, "a block was finalized by half the stake"
    assert net.clients["node1"].tx(ids[0])["status"] == "pending"
    network.start_node(net.directory, "node2")
    network.start_node(net.directory, "node3")
    wait_until(lambda: all(committed(net, n, ids) for n in ALL), 90, "progress after restart")
    assert_same_headers(net, ALL, min(net.heights(ALL).values()))


def test_equivocating_validator_is_slashed_and_jailed(net: Net) -> None:
    network.stop_node(net.directory, "node3")
    home = Home(net.directory / "node3")
    write_config(home, replace(load_config(home), misbehave="double-prevote"))
    network.start_node(net.directory, "node3")
    key = validator_key(net, "node3")

    def jailed() -> bool:
        view = net.clients["node0"].get("/v1/validators")
        return any(j["public_key"] == key for j in view["jailed"])

    net.send("node0", 3)
    wait_until(jailed, 90, "node3 jailed for equivocation")
    view = net.clients["node0"].get("/v1/validators")
    entry = next(j for j in view["jailed"] if j["public_key"] == key)
    assert entry["tombstoned"] is True
    assert entry["blockstake"] == network.VALIDATOR_BLOCKSTAKE * 95 // 100  # 5% slashed
    assert key not in {v["public_key"] for v in view["validators"]}
    evidence_blocks = [
        h
        for h in range(1, net.height("node0") + 1)
        if net.clients["node0"].block(h).get("evidence")
    ]
    assert evidence_blocks, "no block carries the evidence"
    honest = names(0, 1, 2)
    start = net.height("node0")
    ids = net.send("node1", 3)
    wait_until(lambda: all(committed(net, n, ids) for n in honest), 60, "liveness after jailing")
    assert net.height("node0") > start
    assert_same_headers(net, honest, min(net.heights(honest).values()))

    # A tombstoned validator cannot come back: its unjail transaction is left out, with why.
    fund = transfer(net.alice, key_address(bytes.fromhex(key)), 1000, net.nonce, chain_id=CHAIN_ID)
    net.clients["node0"].submit_tx(fund.encoded)
    net.nonce += 1
    wait_until(lambda: committed(net, "node0", [fund.id.hex()]), 60, "funding node3's account")
    command = ["tx", "unjail", "--home", str(home.root), "--node", net.clients["node0"].url]
    result = subprocess.run(
        [sys.executable, "-m", "node", *command, "--wait", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "tombstoned"


def urlopen_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
