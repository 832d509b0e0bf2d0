"""Self-healing on a devnet with three farmers, end to end with real processes:

- a farm node's machine dies (`devnet stop farmerX --crash`: its agent and its replica's
  processes SIGKILLed): the chain marks the node down after node_down_blocks, moves the
  replica to the other node its spec allows, and the gateway serves the page again, with
  nobody acting;
- the dead node comes back (`devnet start farmerX`): its agent tears its old copy down, it
  never bills for the blocks after its last heartbeat, and at no height were two nodes billed
  for the replica;
- every farmer cut off from the only validator (stopped for a few seconds): nothing moves,
  nothing stops or restarts, the page is served throughout.

One devnet for the module (tests/kit/farmnet.py: under /tmp): one validator and farmer1 (BE,
the gateway), farmer2 (NL) and farmer3 (DE); the workload may run in NL or DE only, so a death
never takes the gateway with it. A ticker keeps blocks at the block interval. The sandbox needs
root: without it the tests are skipped.
"""

import time
import urllib.request
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from chain.encoding import decode
from chain.params import ChainParams
from contracts_std.requirement import workload_address
from devnet.customer import web_spec
from devnet.network import PARAMS
from tests.kit.farmnet import (
    Devnet,
    deploy,
    devnet_in_tmp,
    farmer_events,
    fetch,
    observed,
    replicas_of,
    ticking_farmers,
    workload_status,
)
from tests.kit.netkit import wait_until

DEVNET = ChainParams(**PARAMS)  # type: ignore[arg-type]
# Placement on a new devnet may wait for a node's uptime (slots missed before its agent ran).
SERVE_TIMEOUT = 90.0
# From a death to the page served again: node_down_blocks of at most an idle block interval,
# the placing block, the new agent's start and report, the gateway's next round; with room.
HEAL_TIMEOUT = DEVNET.node_down_blocks * DEVNET.empty_block_interval_ms / 1000 + 45
NAME = "heal"
HOST = f"{NAME}.gw.localhost"
SPEC = {**web_spec(NAME, NAME, NAME, ["DE", "NL"]), "expiry_blocks": 1000}


@pytest.fixture(scope="module")
def net() -> Iterator[tuple[Devnet, str]]:
    """The devnet with three heartbeating farmers and a ticker; and the gateway's address."""
    with (
        devnet_in_tmp("gc-devnet-healing-") as devnet,
        ticking_farmers(devnet, 3) as (up, status),
    ):
        assert up["started"] == ["farmer1", "farmer2", "farmer3"]
        yield devnet, status["gateway"]["address"]


@pytest.fixture(scope="module")
def wid(net: tuple[Devnet, str]) -> int:
    """SPEC deployed by alice and served through the gateway."""
    devnet, gateway = net
    deployed = deploy(devnet, SPEC)
    wait_until(lambda: serves(gateway), SERVE_TIMEOUT, f"{HOST} served")
    return deployed


def serves(gateway: str) -> bool:
    code, body = fetch(gateway, HOST)
    return code == 200 and body.strip() == NAME


def replica(devnet: Devnet, wid: int) -> dict[str, Any]:
    found: dict[str, Any] = workload_status(devnet, wid)["replicas"][0]
    return found


def bills(devnet: Devnet, wid: int) -> list[dict[str, Any]]:
    """The workload's `bill` entries in the audit log, decoded (node, blocks, until), with the
    height of the block that holds each."""
    contract = str(workload_address())
    found, start = [], 0
    while True:
        page = devnet.client.audit_entries(start, 500, contract)["entries"]
        for entry in page:
            if entry["topic"] != "bill":
                continue  # the contract's own events are not the chain's canonical maps
            data = decode(bytes.fromhex(entry["data"]))
            if data["wid"] == wid:
                found.append({**data, "height": entry["height"]})
        if len(page) < 500:
            return found
        start += len(page)


def copies(devnet: Devnet, wid: int) -> dict[str, int]:
    """How many copies of the workload each farmer's runtime holds."""
    return {f"farmer{i}": len(replicas_of(devnet, f"farmer{i}", wid)) for i in (1, 2, 3)}


def test_a_dead_node_loses_its_replica_and_never_bills_for_it(
    net: tuple[Devnet, str], wid: int
) -> None:
    devnet, gateway = net
    first = replica(devnet, wid)
    dead, other = first["node"], 5 - first["node"]  # farmer2 and farmer3 are nodes 2 and 3
    assert dead in (2, 3)
    # Let it run long enough to be billed on the node that will die.
    wait_until(lambda: any(b["node"] == dead for b in bills(devnet, wid)), 60, "a bill")

    killed_at = time.monotonic()
    devnet.run("stop", f"farmer{dead}", "--crash")
    assert not serves(gateway)  # its process died with the machine

    def healed() -> bool:
        r = replica(devnet, wid)
        return r["node"] == other and r["state"] == "deployed" and serves(gateway)

    wait_until(healed, HEAL_TIMEOUT, "the page served again from the other node")
    heal_s = time.monotonic() - killed_at
    down = devnet.client.node(dead)["down"]
    assert down is not None and down["since"] - down["last_seen"] > DEVNET.node_down_blocks
    moved = replica(devnet, wid)["history"]
    assert [m["node"] for m in moved] == [dead] and moved[0]["left"] == down["last_seen"]
    assert f"node {dead} down at height {down['since']}" in moved[0]["reason"]
    assert copies(devnet, wid)[f"farmer{other}"] == 1
    metrics = _metrics(devnet)
    assert 'gridchain_replicas_moved_total{cause="down"} 1.0' in metrics
    assert "gridchain_heal_seconds_count 1.0" in metrics
    assert "gridchain_nodes_down 1.0" in metrics

    # The dead node comes back: its agent tears the old copy down; the node is up again.
    devnet.run("start", f"farmer{dead}")
    wait_until(lambda: not replicas_of(devnet, f"farmer{dead}", wid), 30, "the old copy gone")
    wait_until(lambda: devnet.client.node(dead)["down"] is None, 30, "the node up again")
    stops = farmer_events(devnet, f"farmer{dead}", "stopped")
    assert any(e["key"].startswith(f"w{wid}-") for e in stops)
    assert serves(gateway) and replica(devnet, wid)["node"] == other
    assert copies(devnet, wid) == {"farmer1": 0, f"farmer{dead}": 0, f"farmer{other}": 1}

    # Billing: the dead node is paid for no block after the last it was heard from (its own
    # bills, sent while it ran, and the chain's settlement up to its last heartbeat when it
    # was marked down), never after; the billed stretches of the two nodes never overlap.
    wait_until(lambda: any(b["node"] == other for b in bills(devnet, wid)), 60, "a new bill")
    billed = bills(devnet, wid)
    for b in (b for b in billed if b["node"] == dead):
        assert b["height"] < down["since"] or b["until"] == down["last_seen"], b
        assert b["until"] <= b["height"]
    stretches = sorted((b["until"] - b["blocks"], b["until"], b["node"]) for b in billed)
    for (_, end, _), (start, _, _) in pairwise(stretches):
        assert start >= end
    print(f"healed in {heal_s:.1f} s (node {dead} -> node {other})")


def test_farmers_cut_off_from_the_validators_keep_everything_running(
    net: tuple[Devnet, str], wid: int
) -> None:
    devnet, gateway = net
    wait_until(lambda: replica(devnet, wid)["state"] == "deployed", HEAL_TIMEOUT, "deployed")
    before = replica(devnet, wid)
    farmer = f"farmer{before['node']}"
    pids = {k: o.pid for k, o in observed(devnet, farmer).items() if k.startswith(f"w{wid}-")}
    events = _lifecycle(devnet, farmer)

    # The only validator stops: every agent's API is gone for a while; the chain stands still.
    devnet.run("stop", "node0")
    try:
        for _ in range(10):
            time.sleep(0.5)
            assert serves(gateway)  # nginx keeps the routes it was given
    finally:
        devnet.run("start", "node0")
    # More than node_down_blocks blocks after the outage, still nothing has moved.
    wait_until(lambda: _height(devnet) > 0, 30, "the chain back")
    resumed = _height(devnet)
    wait_until(lambda: _height(devnet) > resumed + DEVNET.node_down_blocks + 2, 60, "blocks")
    after = replica(devnet, wid)
    assert (after["node"], after["state"], after["history"]) == (
        before["node"],
        "deployed",
        before["history"],
    )
    now = {k: o.pid for k, o in observed(devnet, farmer).items() if k.startswith(f"w{wid}-")}
    assert now == pids  # the same process: not stopped, not restarted
    assert (
        len(farmer_events(devnet, farmer, "stopped"))
        + len(farmer_events(devnet, farmer, "started"))
        == events
    )
    assert serves(gateway)


def _lifecycle(devnet: Devnet, farmer: str) -> int:
    """How many replicas the farmer's agent has started and stopped so far."""
    return sum(len(farmer_events(devnet, farmer, e)) for e in ("started", "stopped"))


def _metrics(devnet: Devnet) -> str:
    with urllib.request.urlopen(devnet.env["GRIDCHAIN_NODE"] + "/metrics", timeout=5) as answer:
        text: str = answer.read().decode()
    return text


def _height(devnet: Devnet) -> int:
    return int(devnet.client.status()["height"])
