"""The metrics the Grafana dashboard reads beyond a node's own counters, on a real node over
LevelDB: farming (proofs, each node's uptime, the rewards of each epoch), deployments
(replicas by state, the time from authorization to deployed, heals) and the height block sync
catches up toward; and that a contract's event never breaks the metrics of a committed block."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chain.address import Address, key_address
from chain.deployment.records import DeploymentRef, read_deployment
from chain.deployment.txs import ReplicaReport
from chain.encoding import encode
from chain.farming.records import read_node
from chain.farming.rules import epoch_start
from chain.hashing import hash32
from chain.ledger.audit import AuditEntry
from chain.state import read_account
from contracts_std.requirement import (
    workload_address,
)
from node.consensus.blocksync import BlockSync
from node.farmer.agent import FarmerAgent
from node.farmer.plots import Plot, create_plot
from node.farmer.views import chain_view, node_from_json, params_from_json
from node.metrics import NodeMetrics
from node.p2p.messages import GetBlocks, Status
from node.replica_census import ReplicaCensus
from node.server import build_node
from node.service import NodeService
from tests.kit.support import dev_key, make_home
from tests.node.test_api_farming import FARMING, NODE_KEY, PAYOUT, register
from tests.node.test_api_workloads import (
    NODE_KEYS,
    PARAMS,
    Heartbeats,
    authorize,
    farm_with_two_nodes,
    send,
)
from tests.node.test_synced_batch import blocks_of

Client = TestClient[Any, Any]


def samples(node: NodeService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the node's metrics as Prometheus reads them."""
    text = node.metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(node: NodeService, name: str, /, **labels: str) -> float | None:
    return samples(node).get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def plots(tmp_path_factory: pytest.TempPathFactory) -> list[Plot]:
    alice = key_address(dev_key("alice").public_key)  # make_home's alice owns the farm
    return [create_plot(tmp_path_factory.mktemp("plots"), alice, 18)]


@pytest.mark.parametrize("genesis_params", [FARMING])
async def test_farming_proofs_uptime_and_rewards_of_each_epoch(api: Any, plots: list[Plot]) -> None:
    """A farmer's agent farms through three epochs: each settling block sets the epoch, what
    it paid (adding up to the payout's balance) and each paid node's uptime."""
    client, node, th = api
    await node.produce_block()
    farm_id, node_id = await register(client, node, th)
    params = node.genesis.params
    assert value(node, "gridchain_farming_epoch") == 0
    assert value(node, "gridchain_farming_proofs_total", kind="heartbeat") == 0
    record = read_node(node.store, node_id)
    assert record is not None
    found = await (await client.get(f"/v1/nodes/{node_id}")).json()
    farming = await (await client.get("/v1/farming")).json()
    agent = FarmerAgent(params_from_json(farming["params"]), node_from_json(found), plots)
    paid: list[float] = []
    sent: dict[str, int] = {}
    while node.head.height < epoch_start(params, 3):  # the block that settles epoch 2
        farming = await (await client.get("/v1/farming")).json()
        view = await (await client.get(f"/v1/nodes/{node_id}")).json()
        chain = chain_view(farming, view)
        assert chain is not None
        for payload in agent.next_payloads(chain):
            kind = type(payload).__name__
            sent[kind] = sent.get(kind, 0) + 1
            await send(client, node, NODE_KEY, payload)
        header = await node.produce_block()
        if header.height > 1 and (header.height - 1) % params.epoch_blocks == 0:
            settled = (header.height - 1) // params.epoch_blocks - 1
            assert value(node, "gridchain_farming_epoch") == settled
            rewards = value(node, "gridchain_farming_epoch_rewards")
            assert rewards is not None
            paid.append(rewards)
    assert len(paid) == 3 and paid[1] > 0 and paid[2] > 0
    payout = read_account(node.store, PAYOUT)
    assert payout is not None
    assert value(node, "gridchain_farming_rewards_paid_total") == sum(paid) == payout.balance
    uptime = value(node, "gridchain_farming_node_uptime_ratio", farm=str(farm_id), node="1")
    assert uptime == 1.0  # a whole epoch of heartbeats
    for kind, payload_type in [
        ("heartbeat", "Heartbeat"),
        ("storage_proofs", "StorageProofs"),
        ("compute_reveal", "ComputeReveal"),
    ]:
        counted = value(node, "gridchain_farming_proofs_total", kind=kind)
        assert counted == sent[payload_type] > 0, kind


async def report(
    client: Client, node: NodeService, node_id: int, endpoint: str, beats: Heartbeats
) -> None:
    payload = ReplicaReport(node_id, workload_address(), 1, 1, "site", 0, True, "up", endpoint)
    await send(client, node, NODE_KEYS[node_id], payload)
    await beats.block()


@pytest.mark.parametrize("genesis_params", [PARAMS])
async def test_replicas_by_state_time_to_deploy_and_to_heal(api: Any, tmp_path: Path) -> None:
    """A workload is authorized, placed and reported deployed (timed once, from the block
    that authorized it; a second report is not another deployment); its node falls silent,
    the replica moves and is deployed on the other node: a heal, not a deployment."""
    client, node, th = api
    await farm_with_two_nodes(client, node, th)
    beats = Heartbeats(client, node)
    for _ in range(4):
        await beats.block()
    assert value(node, "gridchain_replicas", state="assigned") == 0
    await authorize(client, node, th, beats)
    await beats.block()  # placed at the start of this block
    ref = DeploymentRef(workload_address(), 1)
    record = read_deployment(node.store, ref)
    assert record is not None and record.state == "placed"
    (replica,) = record.replicas
    assert value(node, "gridchain_replicas", state="assigned") == 1
    assert value(node, "gridchain_replicas", state="deployed") == 0

    await report(client, node, replica.node, "10.200.0.2", beats)
    authorized_ms = node.time_ms_at(record.requested)
    assert authorized_ms is not None
    waited = (node.head.time_ms - authorized_ms) / 1000
    assert value(node, "gridchain_replicas", state="deployed") == 1
    assert value(node, "gridchain_replicas", state="assigned") == 0
    assert value(node, "gridchain_deploy_seconds_count") == 1
    assert value(node, "gridchain_deploy_seconds_sum") == pytest.approx(waited)
    await report(client, node, replica.node, "10.200.0.6", beats)  # a new address, reported
    assert value(node, "gridchain_deploy_seconds_count") == 1
    census = ReplicaCensus()  # a node starting now finds it from the node's load
    census.seed(node.store)
    assert census.counts() == {"assigned": 0, "deployed": 1, "moving": 0, "failed": 0}

    other = 3 - replica.node
    for _ in range(PARAMS["node_down_blocks"] + 3 * PARAMS["placement_retry_blocks"]):
        await beats.block((other,))
    moved = read_deployment(node.store, ref)
    assert moved is not None and moved.replicas[0].node == other
    assert value(node, "gridchain_replicas_moved_total", cause="down") == 1
    assert value(node, "gridchain_replicas", state="assigned") == 1
    assert value(node, "gridchain_heal_seconds_count") == 0
    await report(client, node, other, "10.200.0.10", beats)
    assert value(node, "gridchain_heal_seconds_count") == 1
    assert value(node, "gridchain_deploy_seconds_count") == 1
    assert value(node, "gridchain_replicas", state="deployed") == 1

    # A node syncing all of it in one batch: the census from the state after the batch, moves
    # and heals from each block's entries; times to deploy only for blocks committed alone.
    sink = build_node(make_home(tmp_path / "sink", PARAMS).home)
    try:
        outcome = await sink.apply_synced(blocks_of(node.store, node.head.height))
        assert outcome.failure is None and sink.head == node.head
        for state in ("assigned", "deployed", "moving", "failed"):
            assert value(sink, "gridchain_replicas", state=state) == value(
                node, "gridchain_replicas", state=state
            )
        assert value(sink, "gridchain_replicas_moved_total", cause="down") == 1
        assert value(sink, "gridchain_heal_seconds_count") == 1
        assert value(sink, "gridchain_heal_seconds_sum") == value(
            node, "gridchain_heal_seconds_sum"
        )
        assert value(sink, "gridchain_deploy_seconds_count") == 0
        assert value(sink, "gridchain_metrics_errors_total") == 0
    finally:
        sink.close()


def test_a_contracts_event_never_breaks_the_metrics() -> None:
    """Any contract may emit events of the deployment rules' topics with bytes of its own:
    they are neither decoded as the rules' records nor counted (they once raised in the
    middle of a committed block's bookkeeping)."""
    contract = Address(bytes([2]) + hash32(b"some contract")).raw
    entries = [
        AuditEntry(5, 0, hash32(b"tx"), contract, "moving", b"\xff\x00"),
        AuditEntry(5, 0, hash32(b"tx"), contract, "moving", encode({"wid": 1})),
        AuditEntry(5, 0, hash32(b"tx"), contract, "deployed", encode({"left": "x"})),
        AuditEntry(5, 0, hash32(b"tx"), contract, "deployed", encode({"wid": 1, "left": "x"})),
        AuditEntry(5, 0, hash32(b"tx"), contract, "deployed", encode([1, 2])),
    ]
    metrics = NodeMetrics()
    metrics.observe_deployments(entries, 10_000, lambda height: 0)
    text = metrics.render().decode()
    assert "gridchain_replicas_moved_total{" not in text
    assert "gridchain_heal_seconds_count 0.0" in text

    class NoState:
        def get_state(self, key: bytes) -> bytes | None:
            return None

    census = ReplicaCensus()
    assert census.observe(NoState(), entries) == []
    assert census.counts() == {"assigned": 0, "deployed": 0, "moving": 0, "failed": 0}


async def test_the_sync_target_is_the_best_connected_peers_committed_height() -> None:
    ahead, behind, gone = b"a" * 32, b"b" * 32, b"g" * 32
    sent: list[GetBlocks] = []
    metrics = NodeMetrics()
    node = SimpleNamespace(head=SimpleNamespace(height=10), metrics=metrics)
    gossip = SimpleNamespace(
        connected=lambda: [ahead, behind], send=lambda message, to: sent.append(message)
    )
    consensus = SimpleNamespace(height=11, is_validator=False, stalled=lambda: False)
    sync = BlockSync(node, gossip, consensus)  # type: ignore[arg-type]

    def target() -> float | None:
        return metrics.registry.get_sample_value("gridchain_sync_target_height")

    await sync.on_status(behind, Status(9, 0, 0))
    assert target() == 10  # nobody ahead: this node's own height
    await sync.on_status(gone, Status(500, 0, 0))  # not connected (any more)
    assert target() == 10 and sent == []
    await sync.on_status(ahead, Status(31, 0, 0))  # deciding 31: it committed 30
    assert target() == 30 and sent == [GetBlocks(11, 200)]  # and block sync asks for them
