"""Self-healing over real state records, block after block: a silent node is marked down at
exactly node_down_blocks, what it held moves to another node (another farm preferred) in the
same block, it is billed only up to its last heartbeat, and it can neither report nor bill for
a replica that left it; a replica its node reports failed moves after a growing backoff and
stays failed after replica_max_failures; a short outage moves nothing."""

from dataclasses import replace

import pytest

from chain.deployment.begin import begin_deployment
from chain.deployment.billing import cost
from chain.deployment.records import (
    ASSIGNED,
    DEPLOYED,
    FAILED,
    MOVING,
    PLACED,
    Deployment,
    read_deployment,
    read_node_load,
)
from chain.deployment.reports import bill_replica, report_replica
from chain.deployment.rules import fund_deployment, remove_idle_node, request_deployment
from chain.deployment.spec import decode_spec
from chain.encoding import decode
from chain.env import BlockEnv
from chain.errors import NodeInUse, NotPlacedHere
from chain.farming.liveness import Down, begin_liveness, nodes_down, read_down, seen_alive
from chain.farming.records import FarmNode, read_last_seen
from chain.farming.txs import Capabilities, NodeRemove
from chain.hashing import hash32
from chain.state import Overlay, increase_balance
from contracts_std.spec import load_spec, spec_bytes
from tests.kit.deploykit import (
    CONTRACT,
    HEIGHT,
    PARAMS,
    PAYER,
    REF,
    balance,
    bill,
    farm_node,
    node_keypair,
    payout_of,
    report,
    signed,
    spec,
    state_with,
)

# Uptime is not what these tests are about: every live node meets the threshold.
HEAL = replace(
    PARAMS,
    min_uptime_bp=0,
    placement_retry_blocks=4,
    replica_retry_blocks=5,
    replica_max_failures=3,
)
DOWN_AFTER = HEAL.node_down_blocks
SEEN = HEIGHT - 1  # state_with's nodes were last seen here
SPEC = spec(cpu=2, memory_mb=4096)


def at(height: int) -> BlockEnv:
    return BlockEnv("test", height, height * 1000, CONTRACT, HEAL, hash32(b"block %d" % height))


def block(state: Overlay, height: int) -> tuple[Down, ...]:
    """The start of block `height`, as chain/blockchain.py runs it."""
    env = at(height)
    down = begin_liveness(env, state)
    begin_deployment(env, state, down)
    return down


def run(state: Overlay, first: int, last: int, alive: set[int]) -> list[Down]:
    """Blocks first..last; the `alive` nodes send a heartbeat every 20 blocks."""
    marked: list[Down] = []
    for height in range(first, last + 1):
        marked += block(state, height)
        if height % 20 == 0:
            for node in sorted(alive):
                seen_alive(at(height), state, node)
    return marked


def deployed(nodes: list[FarmNode], spec_bytes: bytes = SPEC, escrow: int = 10**6) -> Overlay:
    """`spec_bytes` placed at HEIGHT on one of `nodes` and reported deployed there."""
    state = state_with(nodes)
    increase_balance(state, CONTRACT, escrow)
    request_deployment(at(HEIGHT - 1), state, CONTRACT, 1, 1, spec_bytes, PAYER)
    fund_deployment(at(HEIGHT - 1), state, CONTRACT, 1, escrow)
    block(state, HEIGHT)
    for r in deployment(state).replicas:
        report_replica(
            at(HEIGHT), state, signed(node_keypair(r.node), report(r.node, index=r.index))
        )
    return state


def deployment(state: Overlay) -> Deployment:
    d = read_deployment(state, REF)
    assert d is not None and d.state == PLACED
    return d


def node_of(state: Overlay, index: int = 0) -> int:
    return deployment(state).replicas[index].node


def test_a_silent_node_is_down_after_node_down_blocks_and_a_heartbeat_brings_it_up() -> None:
    state = state_with([farm_node(1, "BE"), farm_node(2, "BE")])
    due = SEEN + DOWN_AFTER + 1
    assert run(state, HEIGHT, due - 1, alive={2}) == []  # silent for node_down_blocks: still up
    assert block(state, due) == (Down(1, due, SEEN),)
    assert read_down(state, 1) == Down(1, due, SEEN) and read_down(state, 2) is None
    assert nodes_down(state) == 1
    assert run(state, due + 1, due + 200, alive={2}) == []  # marked once
    seen_alive(at(due + 201), state, 1)
    assert read_down(state, 1) is None and nodes_down(state) == 0
    assert read_last_seen(state, 1) == due + 201


def test_a_heartbeat_in_time_moves_the_deadline_and_the_stale_entry_is_dropped() -> None:
    state = state_with([farm_node(1, "BE")])
    seen_alive(at(SEEN + DOWN_AFTER), state, 1)  # the last block before it would be down
    assert run(state, HEIGHT, SEEN + 2 * DOWN_AFTER, alive=set()) == []
    assert block(state, SEEN + 2 * DOWN_AFTER + 1) == (
        Down(1, SEEN + 2 * DOWN_AFTER + 1, SEEN + DOWN_AFTER),
    )


def test_a_down_node_loses_its_replica_to_another_farm_in_the_same_block() -> None:
    nodes = [farm_node(1, "BE", farm=1), farm_node(2, "BE", farm=1), farm_node(3, "BE", farm=2)]
    state = deployed(nodes)
    dead = node_of(state)
    dead_farm = next(n.farm for n in nodes if n.id == dead)
    before = balance(state, payout_of(dead_farm))
    due = SEEN + DOWN_AFTER + 1
    marked = run(state, HEIGHT + 1, due, alive={n.id for n in nodes} - {dead})
    assert marked == [Down(dead, due, SEEN)]
    d = deployment(state)
    r = d.replicas[0]
    new_farm = next(n.farm for n in nodes if n.id == r.node)
    assert r.state == ASSIGNED and r.node != dead and new_farm != dead_farm  # another farm
    assert [(m.node, m.left) for m in r.history] == [(dead, SEEN)]
    assert "down" in r.history[0].reason
    assert read_node_load(state, dead).empty
    assert read_node_load(state, r.node).replicas[0].workload == "web"
    # Billed from deployed (HEIGHT) to its last heartbeat (SEEN < HEIGHT): nothing; never after.
    assert balance(state, payout_of(dead_farm)) == before
    topics = [e.topic for e in state.audit if e.height == due]
    assert topics == ["moving", "placed"]
    # The dead node can neither report nor bill for it any more; the new one can.
    with pytest.raises(NotPlacedHere):
        bill_replica(at(due + 5), state, signed(node_keypair(dead), bill(dead)))
    with pytest.raises(NotPlacedHere):
        report_replica(at(due + 5), state, signed(node_keypair(dead), report(dead)))
    report_replica(at(due + 5), state, signed(node_keypair(r.node), report(r.node)))
    deployed_again = [e for e in state.audit if e.topic == "deployed"][-1]
    assert deployed_again.height == due + 5


def test_the_dead_node_is_paid_only_up_to_its_last_heartbeat() -> None:
    nodes = [farm_node(1, "BE", farm=1), farm_node(2, "BE", farm=2)]
    state = deployed(nodes)
    dead = node_of(state)
    live = ({1, 2} - {dead}).pop()
    seen_alive(at(HEIGHT + 30), state, dead)  # its last heartbeat, 30 blocks after deployed
    run(state, HEIGHT + 1, HEIGHT + 30 + DOWN_AFTER + 1, alive={live})
    assert deployment(state).replicas[0].node == live
    owed = cost(HEAL, decode_spec(SPEC).compute[0], 30)
    assert balance(state, payout_of(dead)) == owed  # farm id == node id here


def test_with_only_its_own_farm_left_a_replica_moves_within_the_farm() -> None:
    state = deployed([farm_node(1, "BE", farm=1), farm_node(2, "BE", farm=1)])
    dead = node_of(state)
    run(state, HEIGHT + 1, SEEN + DOWN_AFTER + 1, alive={1, 2} - {dead})
    assert node_of(state) == ({1, 2} - {dead}).pop()


def test_with_no_node_left_a_replica_waits_and_is_placed_when_one_comes_back() -> None:
    state = deployed([farm_node(1, "BE")])
    due = SEEN + DOWN_AFTER + 1
    run(state, HEIGHT + 1, due + 20, alive=set())
    r = deployment(state).replicas[0]
    assert (r.state, r.node) == (MOVING, 0) and "no eligible node" in r.message
    unplaceable = [e for e in state.audit if e.topic == "unplaceable"]
    assert len(unplaceable) == 1  # each reason once, not every retry
    # Node 1 comes back: its copy was torn down; the replica may be placed on it again.
    run(state, due + 21, due + 60, alive={1})
    assert deployment(state).replicas[0].node == 1


def test_a_short_outage_moves_nothing() -> None:
    state = deployed([farm_node(1, "BE"), farm_node(2, "BE")])
    first = node_of(state)
    seen_alive(at(SEEN + DOWN_AFTER), state, first)  # silent for node_down_blocks - 1
    run(state, HEIGHT + 1, SEEN + DOWN_AFTER + 40, alive={1, 2} - {first})
    assert node_of(state) == first and deployment(state).replicas[0].state == DEPLOYED
    assert not any(e.topic == "moving" for e in state.audit)


def test_replicas_moved_keep_their_spread() -> None:
    nodes = [farm_node(i, "BE", farm=(i + 1) // 2) for i in range(1, 7)]  # 3 farms of 2
    state = deployed(nodes, spec(cpu=2, memory_mb=4096, replicas=2, spread="farm"))
    dead = node_of(state, 0)
    run(state, HEIGHT + 1, SEEN + DOWN_AFTER + 1, alive={n.id for n in nodes} - {dead})
    farms = [(r.node + 1) // 2 for r in deployment(state).replicas]
    assert dead not in [r.node for r in deployment(state).replicas] and len(set(farms)) == 2


def test_a_failed_replica_moves_after_a_doubling_backoff_then_stays_failed() -> None:
    nodes = [farm_node(i, "BE", farm=i) for i in range(1, 5)]
    state = deployed(nodes)
    alive = {1, 2, 3, 4}
    height = HEIGHT + 1
    visited = []
    for failure, wait in ((1, 5), (2, 10)):
        node = node_of(state)
        visited.append(node)
        report_replica(at(height), state, signed(node_keypair(node), report(node, ok=False)))
        r = deployment(state).replicas[0]
        assert (r.state, r.failures, r.retry_at) == (MOVING, failure, height + wait)
        assert read_node_load(state, node).empty  # its node stops it
        run(state, height + 1, height + wait - 1, alive)
        assert deployment(state).replicas[0].state == MOVING
        run(state, height + wait, height + wait, alive)
        assert deployment(state).replicas[0].node not in visited  # a node not used before
        height += wait + 1
    node = node_of(state)
    report_replica(at(height), state, signed(node_keypair(node), report(node, ok=False)))
    r = deployment(state).replicas[0]
    assert (r.state, r.node, r.failures) == (FAILED, 0, 3)
    assert r.message.startswith("failed 3 times in version 1; last: oom")
    assert [m.node for m in r.history] == [*visited, node]
    run(state, height + 1, height + 200, alive)
    assert deployment(state).replicas[0].state == FAILED
    topics = [e.topic for e in state.audit if e.topic in ("failed", "moving", "placed", "gave_up")]
    assert topics == ["placed", *["failed", "moving", "placed"] * 2, "failed", "gave_up"]


def test_a_down_gateway_loses_its_names_to_another_gateway() -> None:
    gateways = [
        replace(farm_node(i, "BE", farm=i), capabilities=Capabilities(gateway=f"gw{i}.example"))
        for i in (1, 2)
    ]
    document = spec(cpu=2, memory_mb=4096)

    value = decode(document)
    value["workloads"].append(
        {"type": "gateway_name", "name": "site", "subdomain": "shop", "backends": ["web:80"]}
    )
    value["workloads"][0]["ports"] = [80]
    with_gateway = spec_bytes(load_spec(value))
    state = deployed([farm_node(3, "BE", farm=3), *gateways], with_gateway)
    route = deployment(state).routes[0]
    dead = route.node
    run(state, HEIGHT + 1, SEEN + DOWN_AFTER + 1, alive={1, 2, 3} - {dead})
    moved = deployment(state).routes[0]
    assert moved.node == ({1, 2} - {dead}).pop() and moved.host == f"shop.gw{moved.node}.example"
    assert read_node_load(state, dead).empty
    assert [e.topic for e in state.audit][-2:] == ["unrouted", "routed"]


def test_a_node_holding_replicas_cannot_be_removed() -> None:
    state = deployed([farm_node(1, "BE")])
    owner = node_keypair(10_001)
    with pytest.raises(NodeInUse, match="holds 1 replicas"):
        remove_idle_node(at(HEIGHT + 1), state, signed(owner, NodeRemove(1)))  # type: ignore[arg-type]
