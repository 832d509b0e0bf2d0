"""Faults an outside chaos run found, on four real validator processes (issue 11).

- Live validators must not be counted as missing blocks: a commit gathers the precommits that
  arrive after the first quorum, so no honest validator is slashed for downtime it did not have.
- A kill -9 of every validator under load must leave nothing holding their ports: each one
  restarts, again and again.
- A jailed validator must still follow the chain (peers serve it blocks read-only), catch up,
  and send its unjail through its own API; a node that cannot relay refuses transactions.

The scenarios run in order on one devnet; each leaves all four running and converged.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from chain.address import key_address
from devnet import network
from node.api.client import ApiError
from node.config import Home
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
from tests.kit.support import Load, signature_workers, transfer

ALL = names(0, 1, 2, 3)
WINDOW = 100
JAIL_BLOCKS = 30
PARAMS = {
    "block_interval_ms": 300,  # the time late precommits have to join the commit
    "empty_block_interval_ms": 100,  # a quiet chain still makes ~3 blocks a second
    "downtime_window": WINDOW,
    "downtime_min_signed_bp": 5_000,
    "downtime_jail_blocks": JAIL_BLOCKS,
}
MAX_MISSED = 5  # of the last 100 blocks, for a validator that was up all along
KILL_ROUNDS = 3


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with running_net(tmp_path_factory.mktemp("faults") / "devnet", 4, PARAMS) as net:
        yield net


def missed_in_window(net: Net, via: str) -> dict[str, int]:
    """Missed blocks in the downtime window of each active validator, by public key."""
    return {v["public_key"]: len(v["signing"]["missed"]) for v in net.validators(via)["validators"]}


def test_live_validators_are_not_counted_missing_on_a_quiet_devnet(net: Net) -> None:
    # The first blocks may predate the last node's links: judge a window that starts after.
    wait_until(lambda: net.height("node0") > WINDOW + 30, 180, f"{WINDOW + 30} blocks")
    missed = missed_in_window(net, "node0")
    assert len(missed) == 4, missed
    assert all(count <= MAX_MISSED for count in missed.values()), (
        f"live validators missed blocks of the last {WINDOW}: {missed}"
    )
    assert not net.validators("node0")["jailed"]
    # Every commit a block carries was gathered beyond its first quorum somewhere.
    top = net.height("node0")
    full = sum(len(signers_of_commit(net, "node0", h)) == 4 for h in range(top - 20, top - 1))
    assert full >= 15, f"only {full} of 19 recent commits carry all four precommits"


def test_every_validator_restarts_after_repeated_kill_9_of_all_four_under_load(net: Net) -> None:
    urls = [c.url for c in net.clients.values()]
    load = Load(urls, net.alice, CHAIN_ID, batch=600)  # batches this big start signature workers
    load.start()
    try:
        for _ in range(KILL_ROUNDS):
            before = max(net.heights(ALL).values())
            wait_until(lambda b=before: net.height("node0") >= b + 3, 60, "blocks under load")
            wait_until(
                lambda: any(len(signature_workers(net.pid(n))) >= 2 for n in ALL),
                60,
                "signature workers started by the load (else the kill shows nothing)",
            )
            for name in ALL:
                os.kill(net.pid(name), signal.SIGKILL)  # the node alone, as an outside kill does
            time.sleep(0.5)
            for name in ALL:  # start_node refuses if anything still holds the node's API port
                network.start_node(net.directory, name)
            top = max(net.heights(ALL).values())
            wait_until(
                lambda t=top: min(net.heights(ALL).values()) >= t + 3, 90, "progress after restart"
            )
    finally:
        load.stop()
    assert load.accepted > 0, "the load never reached the nodes"
    level = min(net.heights(ALL).values())
    assert_same_headers(net, ALL, level)
    assert len({net.clients[n].block(level)["header"]["state_root"] for n in ALL}) == 1


def test_jailed_validator_follows_the_chain_catches_up_and_unjails(net: Net) -> None:
    key = validator_key(net, "node3")
    fund = transfer(
        net.alice, key_address(bytes.fromhex(key)), 10_000, _nonce(net, "node0"), chain_id=CHAIN_ID
    )
    net.clients["node0"].submit_tx(fund.encoded)  # the unjail's fee
    wait_until(lambda: committed(net, "node0", [fund.id.hex()]), 60, "funding node3's account")

    network.stop_node(net.directory, "node3")

    def jail_entry() -> dict[str, object] | None:
        view = net.validators("node0")
        return next((j for j in view["jailed"] if j["public_key"] == key), None)

    wait_until(lambda: jail_entry() is not None, 240, "node3 jailed for downtime")
    entry = jail_entry()
    assert entry is not None and entry["tombstoned"] is False
    jailed_until = int(str(entry["jailed_until"]))
    ahead = net.height("node0") + 10
    wait_until(lambda: net.height("node0") >= ahead, 60, "blocks node3 has not seen")

    network.start_node(net.directory, "node3")
    target = net.height("node0")
    wait_until(lambda: net.height("node3") >= target, 60, "the jailed node3 to catch up")
    assert_same_headers(net, names(0, 3), target, start=target - 20)
    status = net.clients["node3"].status()["consensus"]
    assert status["validator"] is False and status["peers"], status

    wait_until(lambda: net.height("node0") > jailed_until, 60, "the end of node3's jail")
    wait_until(
        lambda: net.clients["node3"].status()["consensus"]["accepting_txs"], 30, "node3 level"
    )
    home = Home(net.directory / "node3")
    result = subprocess.run(  # through node3's own API: it must relay to the validators
        [
            sys.executable,
            "-m",
            "node",
            "tx",
            "unjail",
            "--home",
            str(home.root),
            "--json",
            "--node",
            net.clients["node3"].url,
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: key in missed_in_window(net, "node0"), 60, "node3 back in the active set")
    back = net.height("node0")
    wait_until(
        lambda: any(
            key in signers_of_commit(net, "node0", h) for h in range(back, net.height("node0") - 1)
        ),
        60,
        "node3's precommit in a commit again",
    )


def test_a_node_without_peers_refuses_transactions_with_a_clear_error(net: Net) -> None:
    for name in names(0, 1, 2):
        network.stop_node(net.directory, name)
    client = net.clients["node3"]
    wait_until(lambda: not client.status()["consensus"]["peers"], 30, "node3 without peers")
    status = client.status()["consensus"]
    assert status["accepting_txs"] is False
    assert status["not_accepting"]["code"] == "no_peers"
    tx = transfer(net.alice, net.bob, 1, _nonce(net, "node3"), chain_id=CHAIN_ID)
    with pytest.raises(ApiError) as refused:
        client.submit_tx(tx.encoded)
    assert (refused.value.status, refused.value.code) == (503, "no_peers")
    assert "no peers" in refused.value.message
    with pytest.raises(ApiError) as refused_batch:
        client.post("/v1/txs/batch", {"txs": [tx.encoded.hex()]})
    assert refused_batch.value.code == "no_peers"
    for name in names(0, 1, 2):
        network.start_node(net.directory, name)
    wait_until(lambda: client.status()["consensus"]["accepting_txs"], 30, "node3 linked again")
    client.submit_tx(tx.encoded)
    wait_until(lambda: committed(net, "node0", [tx.id.hex()]), 60, "the transfer after it")


def _nonce(net: Net, via: str) -> int:
    account = net.clients[via].account(str(key_address(net.alice.public_key)))
    return int(account["next_nonce"])
