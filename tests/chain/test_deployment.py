"""Reports, bills, escrow and grace over real state records: who may report or bill what, what
a replica costs while it runs, and that credits only move (escrow in, bills and refunds out)."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.deployment.begin import begin_deployment
from chain.deployment.billing import cost
from chain.deployment.healing import evacuate
from chain.deployment.records import (
    DEPLOYED,
    ENDED,
    EXPIRED,
    MOVING,
    PLACED,
    Deployment,
    read_deployment,
)
from chain.deployment.reports import bill_replica, report_replica
from chain.deployment.rules import (
    end_deployment,
    fund_deployment,
    request_deployment,
)
from chain.deployment.spec import decode_spec
from chain.encoding import decode
from chain.env import BlockEnv
from chain.errors import (
    AlreadyDone,
    InsufficientBalance,
    NotDeployed,
    NotOwner,
    NotPlacedHere,
    UnknownDeployment,
)
from chain.farming.liveness import Down
from chain.farming.records import read_last_seen
from chain.state import Overlay, increase_balance
from tests.kit.deploykit import (
    CONTRACT,
    HEIGHT,
    PARAMS,
    PAYER,
    REF,
    balance,
    bill,
    env,
    farm_node,
    heartbeat,
    node_keypair,
    payout_of,
    report,
    signed,
    spec,
    state_with,
)

SPEC = spec(cpu=2, memory_mb=4096)


def placed(escrow: int = 10**6, replicas: int = 1) -> tuple[Overlay, Deployment]:
    """A deployment of SPEC placed on node 1 (and 2...), its escrow funded by the contract."""
    state = state_with([farm_node(i, "BE", farm=i) for i in range(1, replicas + 1)])
    increase_balance(state, CONTRACT, escrow)
    request_deployment(
        env(HEIGHT - 1),
        state,
        CONTRACT,
        1,
        1,
        spec(cpu=2, memory_mb=4096, replicas=replicas),
        PAYER,
    )
    if escrow:
        fund_deployment(env(HEIGHT - 1), state, CONTRACT, 1, escrow)
    begin_deployment(env(), state)
    d = read_deployment(state, REF)
    assert d is not None and d.state == PLACED
    return state, d


def test_only_the_placed_node_reports_and_only_for_the_current_version() -> None:
    state, d = placed(replicas=2)
    on_one = next(r for r in d.replicas if r.node == 1)
    other = 2
    with pytest.raises(NotOwner):  # node 1's key cannot speak for node 2
        report_replica(env(), state, signed(node_keypair(1), report(other, index=on_one.index)))
    with pytest.raises(NotPlacedHere):
        report_replica(env(), state, signed(node_keypair(other), report(other, index=on_one.index)))
    with pytest.raises(UnknownDeployment, match="is at version 1, not 2"):
        report_replica(
            env(), state, signed(node_keypair(1), report(1, version=2, index=on_one.index))
        )
    report_replica(env(), state, signed(node_keypair(1), report(1, index=on_one.index)))
    after = read_deployment(state, REF)
    assert after is not None
    replica = next(r for r in after.replicas if r.node == 1)
    assert (replica.state, replica.endpoint, replica.billed_until) == (
        DEPLOYED,
        "10.200.0.2",
        HEIGHT,
    )
    with pytest.raises(AlreadyDone):
        report_replica(
            env(HEIGHT + 1), state, signed(node_keypair(1), report(1, index=on_one.index))
        )
    topics = [e.topic for e in state.audit]
    assert topics[-1] == "deployed" and "placed" in topics


def test_a_bill_pays_the_farm_for_the_blocks_deployed_and_only_while_deployed() -> None:
    state, _ = placed()
    with pytest.raises(NotDeployed, match="is assigned, not deployed"):
        bill_replica(env(), state, signed(node_keypair(1), bill(1)))
    report_replica(env(), state, signed(node_keypair(1), report(1)))
    with pytest.raises(AlreadyDone, match="proven by a heartbeat"):  # none since it deployed
        bill_replica(env(HEIGHT + 40), state, signed(node_keypair(1), bill(1)))
    heartbeat(state, 1, HEIGHT + 40)
    bill_replica(env(HEIGHT + 40), state, signed(node_keypair(1), bill(1)))
    owed = cost(PARAMS, decode_spec(SPEC).compute[0], 40)
    assert owed > 0 and balance(state, payout_of(1)) == owed
    d = read_deployment(state, REF)
    assert d is not None and d.escrow == 10**6 - owed and d.replicas[0].billed_until == HEIGHT + 40
    with pytest.raises(AlreadyDone):
        bill_replica(env(HEIGHT + 40), state, signed(node_keypair(1), bill(1)))
    # Failing bills what ran until then, and stops the meter: the replica leaves the node.
    heartbeat(state, 1, HEIGHT + 50)
    report_replica(env(HEIGHT + 50), state, signed(node_keypair(1), report(1, ok=False)))
    assert balance(state, payout_of(1)) == owed + cost(PARAMS, decode_spec(SPEC).compute[0], 10)
    with pytest.raises(NotPlacedHere, match="placed nowhere now"):
        bill_replica(env(HEIGHT + 60), state, signed(node_keypair(1), bill(1)))
    assert read_deployment(state, REF).replicas[0].state == MOVING  # type: ignore[union-attr]


def test_an_empty_escrow_pauses_a_top_up_resumes_and_grace_ends_it() -> None:
    per_block = cost(PARAMS, decode_spec(SPEC).compute[0], PARAMS.billing_period_blocks) // 100
    state, _ = placed(escrow=per_block * 5)
    report_replica(env(), state, signed(node_keypair(1), report(1)))
    heartbeat(state, 1, HEIGHT + 20)
    bill_replica(env(HEIGHT + 20), state, signed(node_keypair(1), bill(1)))  # 20 blocks, 5 paid
    d = read_deployment(state, REF)
    assert d is not None and d.escrow == 0 and d.grace_since == HEIGHT + 20
    assert [e.topic for e in state.audit][-2:] == ["bill", "paused"]
    with pytest.raises(NotDeployed, match="paused"):
        bill_replica(env(HEIGHT + 21), state, signed(node_keypair(1), bill(1)))
    # A top-up of less than a period's worth does not resume it; a full period does.
    increase_balance(state, CONTRACT, 10**7)
    fund_deployment(env(HEIGHT + 30), state, CONTRACT, 1, per_block)
    assert read_deployment(state, REF).grace_since == HEIGHT + 20  # type: ignore[union-attr]
    fund_deployment(env(HEIGHT + 31), state, CONTRACT, 1, per_block * 200)
    resumed = read_deployment(state, REF)
    assert resumed is not None and resumed.grace_since == 0
    assert resumed.replicas[0].billed_until == HEIGHT + 31  # the paused blocks are not billed
    # Out of funds again, and nobody tops up: after the grace period it ends.
    heartbeat(state, 1, HEIGHT + 400)
    bill_replica(env(HEIGHT + 400), state, signed(node_keypair(1), bill(1)))
    paused = read_deployment(state, REF)
    assert paused is not None and paused.in_grace
    begin_deployment(env(paused.grace_since + PARAMS.grace_period_blocks), state)
    ended = read_deployment(state, REF)
    assert ended is not None and (ended.state, ended.message) == (ENDED, "out of funds")
    assert ended.replicas == () and [e.topic for e in state.audit][-1] == "released"


def test_ending_and_expiring_refund_what_the_escrow_holds() -> None:
    state, _ = placed(escrow=5_000)
    report_replica(env(), state, signed(node_keypair(1), report(1)))
    heartbeat(state, 1, HEIGHT + 8)  # the last proof of life before the end: what is paid
    end_deployment(env(HEIGHT + 10), state, CONTRACT, 1, "cancelled by the owner")
    paid = cost(PARAMS, decode_spec(SPEC).compute[0], 8)
    assert balance(state, payout_of(1)) == paid and balance(state, PAYER) == 5_000 - paid
    # A request no node can take expires, and its escrow goes back to the payer.
    state = state_with([])
    increase_balance(state, CONTRACT, 700)
    request_deployment(env(1), state, CONTRACT, 1, 1, spec(), PAYER)
    fund_deployment(env(1), state, CONTRACT, 1, 700)
    with pytest.raises(InsufficientBalance):
        fund_deployment(env(1), state, CONTRACT, 1, 1)
    begin_deployment(env(2), state)
    begin_deployment(env(2 + 1000), state)  # past expiry_blocks (the schema's default: 1000)
    gone = read_deployment(state, REF)
    assert gone is not None and gone.state == EXPIRED and balance(state, PAYER) == 700


def total(state: Overlay, d: Deployment | None) -> int:
    held = 0 if d is None else d.escrow
    return held + sum(balance(state, a) for a in (CONTRACT, PAYER, payout_of(1), payout_of(2)))


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(
                ["deployed", "failed", "heartbeat", "bill", "fund", "end", "begin", "down"]
            ),
            st.integers(0, 1),
            st.integers(1, 200),
        ),
        max_size=25,
    ),
    escrow=st.integers(0, 50_000),
)
def test_credits_only_move(steps: list[tuple[str, int, int]], escrow: int) -> None:
    """Over any sequence of heartbeats, reports, bills, top-ups, nodes going down, moves, grace
    ends and an end, the credits of the contract, the payer, the farms and the escrow add up to
    what there was at the start, and no bill covers a block after its node's latest
    heartbeat."""
    state, d = placed(escrow=escrow, replicas=2)
    increase_balance(state, CONTRACT, 100_000)
    start = total(state, d)
    height = HEIGHT
    for what, index, gap in steps:
        height += gap
        at = BlockEnv(env().chain_id, height, height * 1000, CONTRACT, PARAMS, env().prev_hash)
        current = read_deployment(state, REF)
        assert current is not None
        node = next((r.node for r in current.replicas if r.index == index and r.placed), 1)
        work = state.child()
        try:
            if what in ("deployed", "failed"):
                payload = replace(report(node, ok=what == "deployed"), index=index)
                report_replica(at, work, signed(node_keypair(node), payload))
            elif what == "heartbeat":
                heartbeat(work, node, height)
            elif what == "bill":
                bill_replica(at, work, signed(node_keypair(node), bill(node, index)))
            elif what == "fund":
                fund_deployment(at, work, CONTRACT, 1, gap * 100)
            elif what == "end":
                end_deployment(at, work, CONTRACT, 1, "cancelled")
            elif what == "down":  # its node is marked down: what it held moves
                evacuate(at, work, Down(node, height, read_last_seen(work, node) or 0))
            else:
                begin_deployment(at, work)
        except (AlreadyDone, NotDeployed, NotPlacedHere, UnknownDeployment, InsufficientBalance):
            continue  # refused: nothing of it is merged
        for entry in work.audit:  # no block billed past its node's last proof of life
            if entry.topic == "bill":
                billed = decode(entry.data)
                assert billed["until"] <= (read_last_seen(work, billed["node"]) or 0)
        work.merge_into_parent()
        assert total(state, read_deployment(state, REF)) == start
    assert total(state, read_deployment(state, REF)) == start
