"""The workloads list and view, and the node list beside them, in-process over a real node and
LevelDB: two farm nodes (BE and NL) heartbeat, alice's workload is submitted and authorized on
the standard workload contract, the chain places its replica; the node holding it falls silent
and is marked down, the replica moves to the other one, and the API shows every step as the
contract's storage and the deployment record hold it."""

import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chain.address import key_address
from chain.deployment.records import DeploymentRef, deployment_to_json, read_deployment
from chain.farming.rules import node_consent_message, slot_of
from chain.farming.txs import (
    Capabilities,
    FarmCreate,
    Heartbeat,
    Location,
    NodeRegister,
    Resources,
)
from chain.keys import KeyPair
from chain.ledger.transactions import Call, Payload, Transfer, TxBody, sign_tx
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from node.api import workloads
from node.service import NodeService
from tests.kit.support import CHAIN_ID, NodeHome, dev_key

PARAMS = {
    "epoch_blocks": 200,  # one epoch for the whole test: uptime is judged within it
    "heartbeat_interval_blocks": 2,
    "node_down_blocks": 6,
    "placement_retry_blocks": 2,
}
GAS = 300_000
PLACES = {"BE": ("Ghent", 51_054_342, 3_717_424), "NL": ("Amsterdam", 52_370_216, 4_895_168)}
NODE_KEYS = {1: dev_key("node-be"), 2: dev_key("node-nl")}
SPEC = {
    "name": "hello",
    "workloads": [
        {
            "type": "container",
            "name": "site",
            "image": "host",
            "cpu": 1,
            "memory_mb": 128,
            "entrypoint": "python3 -m http.server 8080",
            "ports": [8080],
        }
    ],
    "placement": {"replicas": 1},
    "budget": 1_000_000,
    "expiry_blocks": 500,
}

Client = TestClient[Any, Any]


@pytest.fixture
def genesis_params() -> dict[str, int]:
    return PARAMS


async def get(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


async def send(client: Client, node: NodeService, key: KeyPair, payload: Payload) -> None:
    sender = key_address(key.public_key)
    fee = node.params.min_fee + (GAS * node.params.gas_price if isinstance(payload, Call) else 0)
    signed = sign_tx(TxBody(CHAIN_ID, sender, node.next_nonce(sender), fee, payload), [key])
    response = await client.post("/v1/txs", json={"tx": signed.encoded.hex()})
    assert response.status == 202, await response.json()


class Heartbeats:
    """Each listed node's heartbeat once per slot, naming the head."""

    def __init__(self, client: Client, node: NodeService) -> None:
        self.client, self.node = client, node
        self.sent: dict[int, int] = {}

    async def block(self, beating: tuple[int, ...] = (1, 2)) -> None:
        head = self.node.head
        slot = slot_of(self.node.params, head.height + 1)
        for node_id in beating:
            if self.sent.get(node_id, -1) < slot:
                beat = Heartbeat(node_id, head.height, head.hash)
                await send(self.client, self.node, NODE_KEYS[node_id], beat)
                self.sent[node_id] = slot
        await self.node.produce_block()


async def farm_with_two_nodes(client: Client, node: NodeService, th: NodeHome) -> None:
    await node.produce_block()  # the first block starts epoch 0
    bond = node.params.farm_min_bond
    await send(client, node, th.alice, FarmCreate("lowlands", th.alice_address, bond))
    for key in NODE_KEYS.values():
        await send(client, node, th.alice, Transfer(key_address(key.public_key), 10**6))
    await node.produce_block()
    resources = Resources(cores=2, memory_mb=2048, ssd_gb=1, hdd_gb=0)
    for (country, (city, lat, lon)), key in zip(PLACES.items(), NODE_KEYS.values(), strict=True):
        consent = key.sign(node_consent_message(CHAIN_ID, 1, key.public_key))
        location = Location(country, city, lat, lon)
        payload = NodeRegister(
            1, key.public_key, resources, location, consent, Capabilities(container=True)
        )
        await send(client, node, th.alice, payload)
    await node.produce_block()


async def authorize(client: Client, node: NodeService, th: NodeHome, beats: Heartbeats) -> None:
    """Alice submits SPEC (1 of 1, herself) and signs it: authorized, placed by the next block."""
    spec = spec_bytes(load_spec(SPEC))
    requirement = encode_requirement(make_requirement([RequiredSigner(th.alice.public_key)], 1))
    expiry = node.head.height + 1000
    contract = workload_address()
    call = Call(contract, "submit", (spec, requirement, expiry), 1_000_000, GAS)
    await send(client, node, th.alice, call)
    await beats.block()
    signature = th.alice.sign(signing_hash(contract, 1, 1, spec, requirement))
    approve = Call(contract, "approve", (1, th.alice.public_key, signature), 0, GAS)
    await send(client, node, th.alice, approve)
    await beats.block()


async def test_workloads_their_replicas_and_the_moves_after_a_node_dies(api: Any) -> None:
    client, node, th = api
    empty = await get(client, "/v1/workloads")
    assert empty["workloads"] == [] and empty["last_id"] == 0 and empty["next_before"] is None
    assert empty["contract"] == str(workload_address())
    await farm_with_two_nodes(client, node, th)
    beats = Heartbeats(client, node)
    for _ in range(4):
        await beats.block()
    await authorize(client, node, th, beats)
    await beats.block()  # placed at the start of this block

    listed = await get(client, "/v1/workloads")
    (workload,) = listed["workloads"]
    assert listed["last_id"] == 1 and listed["height"] == node.head.height
    assert workload["id"] == 1 and workload["state"] == "authorized"
    assert workload["name"] == "hello" and workload["version"] == 1
    assert workload["owner"] == str(th.alice_address)
    ref = DeploymentRef(workload_address(), 1)
    deployment = workload["deployment"]
    assert deployment["state"] == "placed"
    (replica,) = deployment["replicas"]
    first = replica["node"]
    assert first in (1, 2) and replica["history"] == []
    assert replica["country"] == ("BE" if first == 1 else "NL")
    record = read_deployment(node.store, ref)
    assert record is not None
    stored = deployment_to_json(record)
    assert {k: v for k, v in deployment.items() if k != "replicas"} == {
        k: v for k, v in stored.items() if k != "replicas"
    } | {"routes": []}

    view = await get(client, "/v1/workloads/1")
    assert {k: view[k] for k in workload} == workload
    assert view["spec"] == load_spec(SPEC) and view["threshold"] == 1
    assert view["signers"] == [
        {"public_key": th.alice.public_key.hex(), "weight": 1, "required": False, "signed": True}
    ]
    nodes = {n["id"]: n for n in (await get(client, "/v1/nodes"))["nodes"]}
    assert nodes[first]["replicas"] == 1 and nodes[3 - first]["replicas"] == 0
    assert {n["status"] for n in nodes.values()} == {"up"}

    # The node holding the replica falls silent: marked down, the replica moves.
    other = 3 - first
    for _ in range(PARAMS["node_down_blocks"] + 3 * PARAMS["placement_retry_blocks"]):
        await beats.block(beating=(other,))
    moved = (await get(client, "/v1/workloads/1"))["deployment"]
    (replica,) = moved["replicas"]
    assert replica["node"] == other and replica["country"] == ("BE" if other == 1 else "NL")
    (move,) = replica["history"]
    assert move["node"] == first and move["reason"]
    nodes = {n["id"]: n for n in (await get(client, "/v1/nodes"))["nodes"]}
    assert nodes[first]["status"] == "down" and nodes[first]["down"] is not None
    assert (nodes[first]["replicas"], nodes[other]["replicas"]) == (0, 1)


async def test_pages_and_bad_requests(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, node, th = api
    threads: list[threading.Thread] = []
    view = workloads.workload_view

    def spied(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return view(*args, **kwargs)

    monkeypatch.setattr(workloads, "workload_view", spied)
    for tag in range(3):  # three submissions, never authorized: pending, no deployment
        spec = spec_bytes(load_spec(SPEC | {"name": f"w{tag}"}))
        signer = [RequiredSigner(th.alice.public_key)]
        requirement = encode_requirement(make_requirement(signer, 1))
        call = Call(workload_address(), "submit", (spec, requirement, 10_000), 0, GAS)
        await send(client, node, th.alice, call)
    await node.produce_block()
    await node.produce_block()
    page = await get(client, "/v1/workloads?limit=2")
    assert [w["id"] for w in page["workloads"]] == [3, 2] and page["next_before"] == 2
    assert [w["name"] for w in page["workloads"]] == ["w2", "w1"]
    assert all(w["state"] == "pending" and w["deployment"] is None for w in page["workloads"])
    rest = await get(client, "/v1/workloads?limit=2&before=2")
    assert [w["id"] for w in rest["workloads"]] == [1] and rest["next_before"] is None
    assert (await get(client, "/v1/workloads?before=1"))["workloads"] == []
    assert [w["id"] for w in (await get(client, "/v1/workloads?before=99"))["workloads"]] == [
        3,
        2,
        1,
    ]
    # Following next_before a workload at a time visits each once, newest first.
    seen: list[int] = []
    before: int | None = None
    while True:
        query = "limit=1" if before is None else f"limit=1&before={before}"
        one = await get(client, f"/v1/workloads?{query}")
        seen += [w["id"] for w in one["workloads"]]
        if (before := one["next_before"]) is None:
            break
    assert seen == [3, 2, 1]
    assert (await get(client, "/v1/workloads/2"))["name"] == "w1"
    # Every workload was read in a worker thread, off the event loop consensus runs on.
    assert threads and threading.main_thread() not in threads
    cases = [
        ("/v1/workloads/4", 404, "not_found"),
        ("/v1/workloads/0", 400, "bad_request"),
        ("/v1/workloads/x", 400, "bad_request"),
        ("/v1/workloads?limit=0", 400, "invalid_request"),
        ("/v1/workloads?limit=101", 400, "invalid_request"),
        ("/v1/workloads?before=0", 400, "invalid_request"),
        ("/v1/workloads?after=1", 400, "invalid_request"),
    ]
    for path, status, code in cases:
        assert (await get(client, path, status))["error"]["code"] == code, path
