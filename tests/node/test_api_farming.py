"""The farming API in-process over a real node and LevelDB: a farmer's agent fed only by the API
(as `gridchain farmer run` is) farms for three epochs, and every endpoint says what the store
says: the epoch and its recent hashes, farms and their nodes, activity, the projection (which is
exactly what the settling block then pays) and the settled rewards, read once per settling
block and never for a farmer's polls; the node list pages through one farm's nodes spread
among other farms', a bounded number of ids an answer."""

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chain.address import key_address
from chain.blocks.block import stored_block_header, stored_block_rewards
from chain.farming.records import (
    activity_to_json,
    farm_to_json,
    read_activity,
    read_farm,
    read_node,
)
from chain.farming.rewards import reward_to_json
from chain.farming.rules import epoch_of, epoch_start, node_consent_message
from chain.farming.txs import FarmCreate, FarmPayload, Location, NodeRegister, Resources
from chain.keys import KeyPair
from chain.ledger.transactions import Transfer, TxBody, sign_tx
from chain.state import read_account
from node.api import farming
from node.api.context import API
from node.api.farming import FARMING_PARAMS
from node.farmer.agent import FarmerAgent
from node.farmer.plots import Plot, create_plot
from node.farmer.views import chain_view, node_from_json, params_from_json
from node.service import NodeService
from tests.kit.support import CHAIN_ID, NodeHome, dev_key

FARMING = {
    "epoch_blocks": 8,
    "heartbeat_interval_blocks": 2,
    "storage_challenges": 16,
    "plot_min_k": 18,
    "compute_units_per_core": 4,
    "compute_scrypt_log_n": 10,
    "compute_scrypt_r": 8,
    "compute_samples": 2,
    "compute_deadline_blocks": 2,
    "compute_reveal_blocks": 2,
    "reward_per_gib": 10**9,
    "reward_per_core": 10**6,
    "farm_min_bond": 10_000,
    "billing_period_blocks": 7,  # not the default: the agent's deployer bills at the chain's
}
RESOURCES = Resources(cores=1, memory_mb=2048, ssd_gb=1, hdd_gb=0)
LOCATION = Location("BE", "Ghent", 51_054_342, 3_717_424)
NODE_KEY = dev_key("farm-node")
PAYOUT = key_address(dev_key("farm-payout").public_key)

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def plots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Plot]]:
    alice = key_address(dev_key("alice").public_key)  # make_home's alice owns the farm
    yield [create_plot(tmp_path_factory.mktemp("plots"), alice, 18)]


@pytest.fixture
def genesis_params() -> dict[str, int]:
    """The `api` node (tests/node/conftest.py) farms with these."""
    return FARMING


async def get(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


async def send(
    client: Client, node: NodeService, key: KeyPair, payload: FarmPayload | Transfer
) -> None:
    sender = key_address(key.public_key)
    signed = sign_tx(TxBody(CHAIN_ID, sender, node.next_nonce(sender), 1, payload), [key])
    response = await client.post("/v1/txs", json={"tx": signed.encoded.hex()})
    assert response.status == 202, await response.json()


async def register(client: Client, node: NodeService, th: NodeHome) -> tuple[int, int]:
    """Alice opens farm 1 paying PAYOUT, funds NODE_KEY and registers it: farm 1, node 1."""
    await send(client, node, th.alice, FarmCreate("ghent", PAYOUT, 20_000))
    await send(client, node, th.alice, Transfer(key_address(NODE_KEY.public_key), 10**6))
    await node.produce_block()
    consent = NODE_KEY.sign(node_consent_message(CHAIN_ID, 1, NODE_KEY.public_key))
    payload = NodeRegister(1, NODE_KEY.public_key, RESOURCES, LOCATION, consent)
    await send(client, node, th.alice, payload)
    await node.produce_block()
    return 1, 1


async def register_nodes(
    client: Client, node: NodeService, th: NodeHome, farms: list[int]
) -> list[KeyPair]:
    """One node for each item of `farms` in that farm (alice owns them all), in that order."""
    keys = [dev_key(f"node-{i}") for i in range(len(farms))]
    for key, farm_id in zip(keys, farms, strict=True):
        consent = key.sign(node_consent_message(CHAIN_ID, farm_id, key.public_key))
        payload = NodeRegister(farm_id, key.public_key, RESOURCES, LOCATION, consent)
        await send(client, node, th.alice, payload)
    await node.produce_block()
    return keys


def settled_reads(client: Client) -> int:
    """How many settling blocks the API has read from the store so far."""
    app = client.app
    assert app is not None
    reads: int = app[API].settled.reads
    return reads


async def test_farming_view_before_and_after_the_first_block(api: Any) -> None:
    client, node, _ = api
    genesis = await get(client, "/v1/farming")
    assert genesis["height"] == 0 and genesis["epoch"] is None
    assert genesis["recent_hashes"] == [[0, genesis["head_hash"]]]
    params = {name: getattr(node.genesis.params, name) for name in FARMING_PARAMS}
    assert genesis["params"] == params and params["epoch_blocks"] == 8
    assert FARMING_PARAMS[1] == "epoch_blocks" and FARMING_PARAMS[-1] == "farm_slash_bp"
    # The agent's deployer bills every billing_period_blocks of the chain (it had the default).
    assert params_from_json(genesis["params"]).billing_period_blocks == 7

    header = await node.produce_block()
    view = await get(client, "/v1/farming")
    assert view["height"] == 1 and view["head_hash"] == header.hash.hex()
    assert view["epoch"] == {"epoch": 0, "start": 1, "seed": genesis["head_hash"]}
    assert view["recent_hashes"] == [[0, genesis["head_hash"]], [1, header.hash.hex()]]
    assert (view["next_farm"], view["next_node"]) == (1, 1)


async def test_unknown_and_malformed_ids(api: Any) -> None:
    client, node, th = api
    await node.produce_block()
    await register(client, node, th)
    unknown_key = dev_key("nobody").public_key.hex()
    cases = [
        ("/v1/farms/2", 404, "not_found", "farm 2 does not exist"),
        ("/v1/farms/2/rewards", 404, "not_found", "farm 2 does not exist"),
        ("/v1/nodes/2", 404, "not_found", "node 2 does not exist"),
        (f"/v1/nodes/by-key/{unknown_key}", 404, "not_found", "no node is registered"),
        ("/v1/farms/0", 400, "bad_request", "farm id '0' is not an integer"),
        ("/v1/farms/x1", 400, "bad_request", "farm id 'x1' is not an integer"),
        ("/v1/nodes/-1", 400, "bad_request", "node id '-1' is not an integer"),
        ("/v1/nodes/99999999999", 400, "bad_request", "node id"),
        ("/v1/nodes/by-key/zz", 400, "bad_request", "a node key is 64 hex characters"),
        (f"/v1/nodes/by-key/{unknown_key}00", 400, "bad_request", "a node key is 64 hex"),
        ("/v1/farms/1/rewards?epochs=0", 400, "invalid_request", "epochs"),
        ("/v1/farms/1/rewards?epochs=1001", 400, "invalid_request", "epochs"),
        ("/v1/farms/1/rewards?epoch=2", 400, "invalid_request", "epoch"),
    ]
    for path, status, code, message in cases:
        body = await get(client, path, status)
        assert body["error"]["code"] == code, path
        assert message in body["error"]["message"], (path, body)
    assert (await get(client, "/v1/farms/1/rewards"))["epochs"] == []  # nothing settled yet


async def test_endpoints_follow_the_chain_through_three_epochs(api: Any, plots: list[Plot]) -> None:
    client, node, th = api
    await node.produce_block()
    farm_id, node_id = await register(client, node, th)
    await send(client, node, th.alice, FarmCreate("empty", PAYOUT, 10_000))  # farm 2, no nodes
    await node.produce_block()
    params = node.genesis.params
    found = await get(client, f"/v1/nodes/by-key/{NODE_KEY.public_key.hex()}")
    farming = await get(client, "/v1/farming")
    agent = FarmerAgent(params_from_json(farming["params"]), node_from_json(found), plots)
    assert agent.node == read_node(node.store, node_id)
    assert all(getattr(agent.params, n) == getattr(params, n) for n in FARMING_PARAMS)

    projections: dict[int, dict[str, Any]] = {}
    last = epoch_start(params, 3)  # the block that settles epoch 2
    while node.head.height < last:
        farming = await get(client, "/v1/farming")
        view = await get(client, f"/v1/nodes/{node_id}")
        assert view == await get(client, f"/v1/nodes/by-key/{NODE_KEY.public_key.hex()}")
        epoch = epoch_of(params, node.head.height)
        assert view["activity"] == activity_to_json(read_activity(node.store, node_id, epoch)) | {
            "last_slot": view["activity"]["last_slot"],
            "root": view["activity"]["root"],
        }
        if node.head.height == epoch_start(params, epoch + 1) - 1:  # the epoch's last block
            projections[epoch] = view["projected"]
        chain = chain_view(farming, view)
        assert chain is not None and chain.height == node.head.height
        assert chain.block_hash(chain.height) == node.head.hash
        assert chain.block_hash(chain.height - 1) == node.head.prev_hash
        for payload in agent.next_payloads(chain):
            await send(client, node, NODE_KEY, payload)
        await node.produce_block()

    farm = await get(client, f"/v1/farms/{farm_id}")
    stored = read_farm(node.store, farm_id)
    assert stored is not None and farm == farm_to_json(stored) | {"node_ids": [node_id]}
    assert (await get(client, "/v1/farms/2"))["node_ids"] == []

    rewards = await get(client, f"/v1/farms/{farm_id}/rewards")
    assert [e["epoch"] for e in rewards["epochs"]] == [2, 1, 0]
    for item in rewards["epochs"]:
        block = node.store.block_at(epoch_start(params, item["epoch"] + 1))
        assert item["height"] == block.height
        assert item["lines"] == [reward_to_json(r) for r in block.rewards]
        assert item["total"] == sum(r.amount for r in block.rewards)
        assert item["lines"] == [projections[item["epoch"]]]  # the projection is what was paid
    for item in rewards["epochs"][:2]:  # whole epochs farmed: paid for space and a core
        (line,) = item["lines"]
        assert line["amount"] > 0 and line["uptime_bp"] == 10_000
        assert line["storage_bytes"] > 0 and line["compute_milli_cores"] == 1000
    payout = read_account(node.store, PAYOUT)
    assert payout is not None
    assert payout.balance == sum(e["total"] for e in rewards["epochs"])

    newest = await get(client, f"/v1/farms/{farm_id}/rewards?epochs=1")
    assert newest["epochs"] == rewards["epochs"][:1]
    assert all(e["lines"] == [] for e in (await get(client, "/v1/farms/2/rewards"))["epochs"])


async def test_farm_and_node_lists_show_the_running_and_the_last_settled_epoch(
    api: Any, plots: list[Plot]
) -> None:
    client, node, th = api
    await node.produce_block()
    farm_id, node_id = await register(client, node, th)
    await send(client, node, th.alice, FarmCreate("empty", PAYOUT, 10_000))  # farm 2, no nodes
    await node.produce_block()
    params = node.genesis.params
    found = await get(client, f"/v1/nodes/by-key/{NODE_KEY.public_key.hex()}")
    agent = FarmerAgent(params_from_json(FARMING), node_from_json(found), plots)
    while node.head.height < epoch_start(params, 1) + 2:  # epoch 0 settled, 1 under way
        chain = chain_view(
            await get(client, "/v1/farming"), await get(client, f"/v1/nodes/{node_id}")
        )
        assert chain is not None
        for payload in agent.next_payloads(chain):
            await send(client, node, NODE_KEY, payload)
        await node.produce_block()

    # The agent polled its node through the epoch's settling block: never read for it.
    assert settled_reads(client) == 0
    settling = node.store.block_at(epoch_start(params, 1))
    raw = node.store.block_bytes(settling.hash)
    assert stored_block_rewards(raw) == settling.rewards  # read without the transactions
    assert stored_block_header(raw) == settling.header and settling.txs
    (line,) = settling.rewards
    nodes = await get(client, "/v1/nodes")
    assert nodes["epoch"]["epoch"] == 1 and nodes["settled_epoch"] == 0
    (row,) = nodes["nodes"]
    view = await get(client, f"/v1/nodes/{node_id}?settled=true")
    assert row == view | {"farm_name": "ghent", "replicas": 0, "routes": 0}
    assert row["status"] == "up" and row["last_epoch"] == reward_to_json(line)
    assert line.storage_bytes > 0 and row["projected"]["epoch"] == 1
    assert row["location"]["country"] == "BE"
    # What the agent polls: the same without the settled line (asked for or not).
    polled = await get(client, f"/v1/nodes/{node_id}")
    assert "last_epoch" not in polled and polled == {
        k: v for k, v in view.items() if k != "last_epoch"
    }
    assert polled == await get(client, f"/v1/nodes/by-key/{NODE_KEY.public_key.hex()}")
    assert await get(client, f"/v1/nodes/{node_id}?settled=false") == polled
    by_key = f"/v1/nodes/by-key/{NODE_KEY.public_key.hex()}?settled=1"
    assert await get(client, by_key) == view

    farms = await get(client, "/v1/farms")
    assert [f["id"] for f in farms["farms"]] == [1, 2] and farms["next_start"] is None
    assert farms["epoch"] == nodes["epoch"] and farms["settled_epoch"] == 0
    first, empty = farms["farms"]
    stored = read_farm(node.store, farm_id)
    assert stored is not None
    assert first == farm_to_json(stored) | {
        "last_epoch": {
            "epoch": 0,
            "storage_bytes": line.storage_bytes,
            "compute_milli_cores": line.compute_milli_cores,
            "amount": line.amount,
        }
    }
    assert empty["nodes"] == 0 and empty["last_epoch"]["amount"] == 0
    # What the Farms page shows of a farm's nodes, from the node list: how many (of the farm's
    # count) are up and what this epoch would pay them so far.
    own = (await get(client, f"/v1/nodes?farm={farm_id}"))["nodes"]
    assert [n["id"] for n in own] == [node_id] and first["nodes"] == len(own)
    assert [n["status"] for n in own] == ["up"]
    assert sum(n["projected"]["amount"] for n in own) == row["projected"]["amount"]
    # The settling block was read once for all these answers.
    assert settled_reads(client) == 1

    page = await get(client, "/v1/farms?limit=1")
    assert [f["id"] for f in page["farms"]] == [1] and page["next_start"] == 2
    assert [f["id"] for f in (await get(client, "/v1/farms?start=2"))["farms"]] == [2]
    assert (await get(client, "/v1/nodes?farm=2"))["nodes"] == []
    assert (await get(client, "/v1/nodes?farm=1"))["nodes"] == [row]
    assert (await get(client, "/v1/nodes?start=2"))["nodes"] == []
    bad = (
        "/v1/nodes?farm=0",
        "/v1/nodes?limit=101",
        "/v1/farms?start=0",
        "/v1/farms?x=1",
        f"/v1/nodes/{node_id}?settled=maybe",
        f"/v1/nodes/{node_id}?x=1",
    )
    for path in bad:
        assert (await get(client, path, 400))["error"]["code"] == "invalid_request", path
    assert settled_reads(client) == 1


async def test_a_farms_nodes_among_other_farms_are_paged_through_each_once(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Farm 1's nodes spread among farm 2's: the list looks at MAX_NODE_SCAN ids an answer
    and goes on after the last one it looked at, so every node comes once, whatever the page's
    limit, and a page of none but a next_start goes on past the other farm's run."""
    client, node, th = api
    await node.produce_block()
    await send(client, node, th.alice, FarmCreate("ghent", PAYOUT, 20_000))
    await send(client, node, th.alice, FarmCreate("ypres", PAYOUT, 20_000))
    await node.produce_block()
    farms = [1, 2, 2, 2, 1, 2, 2, 1, 1]  # node ids 1..9
    await register_nodes(client, node, th, farms)
    monkeypatch.setattr(farming, "MAX_NODE_SCAN", 3)
    next_node = (await get(client, "/v1/farming"))["next_node"]
    assert next_node == len(farms) + 1

    async def pages(farm_id: int | None, limit: int) -> list[list[int]]:
        """The ids of each page, following next_start from the first id to the end."""
        query = f"limit={limit}" + ("" if farm_id is None else f"&farm={farm_id}")
        found: list[list[int]] = []
        start: int | None = 1
        while start is not None:
            page = await get(client, f"/v1/nodes?{query}&start={start}")
            ids = [n["id"] for n in page["nodes"]]
            found.append(ids)
            following = page["next_start"]
            # at most three ids looked at, each matching one of them listed, in id order
            looked = range(start, next_node if following is None else following)
            assert 1 <= len(looked) <= 3 and len(ids) <= limit, (query, start, following)
            assert ids == [i for i in looked if farm_id in (None, farms[i - 1])]
            start = following
        return found

    for farm_id in (1, 2, None):
        own = [i for i, f in enumerate(farms, 1) if farm_id in (None, f)]
        for limit in (1, 2, 100):
            found = await pages(farm_id, limit)
            assert [i for ids in found for i in ids] == own, (farm_id, limit)
    assert await pages(1, 1) == [[1], [], [5], [8], [9]]
    assert await pages(1, 100) == [[1], [5], [8, 9]]
    assert await pages(2, 2) == [[2, 3], [4, 6], [7]]
    first = await get(client, "/v1/nodes?limit=100")
    assert [n["id"] for n in first["nodes"]] == [1, 2, 3] and first["next_start"] == 4
    assert [n["farm_name"] for n in first["nodes"]] == ["ghent", "ypres", "ypres"]
    assert (await get(client, "/v1/nodes?start=10"))["next_start"] is None
    farm_view = await get(client, "/v1/farms/1")
    assert farm_view["node_ids"] == [1, 5, 8, 9] and farm_view["nodes"] == 4
