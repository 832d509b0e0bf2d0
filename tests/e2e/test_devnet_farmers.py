"""`gridchain devnet up --farmers M`, end to end with real processes: a running one-validator
devnet gets two farmers (registered by `farmer register`, run by `farmer run`), in two countries,
the first also the gateway; they heartbeat; the gateway's nginx answers; a customer's container
placed in the second farmer's country is served through the first one's gateway; a farmer killed
and started again carries on, its replica still served; `devnet down` leaves no farmer, nginx or
replica behind. The devnet lives under /tmp (tests/kit/farmnet.py says why)."""

from collections.abc import Iterator

import pytest

from devnet.processes import group_members
from node.api.client import NodeClient
from tests.kit.farmnet import (
    NOT_SERVED,
    Devnet,
    activity,
    deploy,
    devnet_in_tmp,
    fetch,
    processes_under,
)
from tests.kit.netkit import wait_until
from tests.kit.support import as_json, gridchain

# A web server on the node's own system, in NL (farmer2), behind hello.gw.localhost (farmer1).
SPEC = {
    "name": "hello",
    "workloads": [
        {
            "type": "container",
            "name": "web",
            "image": "host",
            "cpu": 1,
            "memory_mb": 128,
            "entrypoint": "python3 -m http.server 8080",
            "ports": [8080],
        },
        {"type": "gateway_name", "name": "gw", "subdomain": "hello", "backends": ["web:8080"]},
    ],
    "placement": {"countries": ["NL"], "replicas": 1},
    "budget": 1_000_000,
    "expiry_blocks": 1000,
}
HELLO = "hello.gw.localhost"


@pytest.fixture
def devnet() -> Iterator[Devnet]:
    """A running devnet of one validator and no farmer yet (tests/kit/farmnet.py)."""
    with devnet_in_tmp("gc-devnet-farmers-") as net:
        yield net


def serves_hello(address: str) -> bool:
    code, body = fetch(address, HELLO)
    return code == 200 and "Directory listing" in body


def test_farmers_join_heartbeat_restart_and_stop(devnet: Devnet) -> None:
    up = devnet.run("up", "--validators", "1", "--base-port", str(devnet.base), "--farmers", "2")
    assert up["started"] == ["farmer1", "farmer2"] and not up["already_running"]
    again = devnet.run("up", "--validators", "1", "--base-port", str(devnet.base), "--farmers", "2")
    assert again["already_running"] and again["started"] == []

    status = devnet.status()
    farmers = status["farmers"]
    assert [f["name"] for f in farmers] == ["farmer1", "farmer2"]
    assert all(f["alive"] and f["pid"] for f in farmers)
    assert len({f["country"] for f in farmers}) == 2
    nodes = [f["node"] for f in farmers]
    assert nodes == [1, 2]  # registered one after the other: farmer i is node i
    gateway = status["gateway"]
    assert gateway["domain"] == "gw.localhost" and gateway["node"] == nodes[0]
    assert gateway["address"].startswith("127.0.0.1:")

    # The gateway's nginx answers; no workload is served under any name yet.
    code, body = fetch(gateway["address"], "nothing.gw.localhost")
    assert (code, body.strip()) == (404, NOT_SERVED)

    # Both farmers' heartbeats land on chain.
    client = NodeClient(status["nodes"][0]["api"], timeout=5)
    for node in nodes:
        wait_until(lambda n=node: activity(client, n).get("heartbeats", 0) > 0, 30, "heartbeats")

    # Where the sandbox runtime runs (root), a customer's container runs on farmer2 and is
    # served through farmer1's gateway.
    containers = farmers[1]["containers"]
    if containers:
        assert deploy(devnet, SPEC) == 1
        wait_until(lambda: serves_hello(gateway["address"]), 60, f"{HELLO} served")

    # A farmer killed (its whole process group) and started again carries on.
    killed = devnet.run("stop", "farmer2", "--kill")
    assert killed == {"node": "farmer2", "was_running": True, "killed": True}
    old_pid = farmers[1]["pid"]
    assert not group_members(old_pid)
    assert [f["alive"] for f in devnet.status()["farmers"]] == [True, False]
    last_slot = activity(client, nodes[1]).get("last_slot")
    assert devnet.run("start", "farmer2") == {"node": "farmer2", "started": True}
    restarted = devnet.status()["farmers"][1]
    assert restarted["alive"] and restarted["pid"] != old_pid

    def beats_again() -> bool:
        slot = activity(client, nodes[1]).get("last_slot")
        return slot is not None and (last_slot is None or slot > last_slot)

    wait_until(beats_again, 30, "farmer2's heartbeats after its restart")
    if containers:  # the replica outlived its agent, and is still served
        assert serves_hello(gateway["address"])
        replicas_dir = devnet.directory / "farmer2" / "runtime" / "replicas"
        assert len(list(replicas_dir.iterdir())) == 1  # the restarted agent ran no second copy
        status_of = as_json(gridchain("workload", "status", "1", "--json", env=devnet.env))
        assert [(r["node"], r["country"], r["state"]) for r in status_of["replicas"]] == [
            (nodes[1], "NL", "deployed")
        ]
        assert status_of["url"] == f"http://{HELLO}/"
        # Cancelled: the chain releases it, the gateway stops serving it, the agent tears it
        # down, each by itself.
        gridchain("workload", "cancel", "1", "--from", "alice", "--json", env=devnet.env)
        wait_until(lambda: fetch(gateway["address"], HELLO)[0] == 404, 30, "the name released")
        wait_until(lambda: not any(replicas_dir.iterdir()), 30, "the replica torn down")

    # `devnet down` stops the farmers (nginx with farmer1) and the validator: nothing is left.
    pids = [f["pid"] for f in devnet.status()["farmers"]]
    assert any("nginx" in line for line in processes_under(devnet.directory))
    down = devnet.run("down")
    assert sorted(down["stopped"]) == ["farmer1", "farmer2", "node0"]
    assert all(not group_members(pid) for pid in pids)
    assert processes_under(devnet.directory) == []
    assert [f["pid"] for f in devnet.status()["farmers"]] == [None, None]
