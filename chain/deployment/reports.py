"""What a node's agent sends about the replicas placed on it: reports and bills.

Only the node's own key may send them, only for a replica placed on that node, and only for
the deployment's current version, so a stale agent or a stranger cannot move a replica's state
or bill for it. A replica is billed only while deployed: becoming deployed starts its meter,
and failing stops it after billing what ran.
"""

from collections.abc import Callable
from dataclasses import replace

from chain.address import key_address
from chain.deployment.billing import billable_until, settle_replica
from chain.deployment.healing import fail
from chain.deployment.journal import record, save
from chain.deployment.records import (
    ASSIGNED,
    DEPLOYED,
    FAILED,
    PLACED,
    Deployment,
    DeploymentRef,
    read_deployment,
)
from chain.deployment.rules import remove_idle_node, spec_of
from chain.deployment.txs import ReplicaBill, ReplicaReport
from chain.env import BlockEnv
from chain.errors import (
    AlreadyDone,
    NotDeployed,
    NotOwner,
    NotPlacedHere,
    UnknownDeployment,
    UnknownNode,
)
from chain.farming.records import read_node
from chain.farming.txs import NodeRemove
from chain.ledger.transactions import SignedTx, payload_as
from chain.state import Overlay


def placed_replica(
    state: Overlay, tx: SignedTx, p: ReplicaReport | ReplicaBill
) -> tuple[Deployment, int]:
    """The deployment and the index of the replica `p` names, checked against its sender."""
    node = read_node(state, p.node)
    if node is None:
        raise UnknownNode(f"node {p.node} does not exist")
    if key_address(node.key) != tx.body.sender:
        raise NotOwner(f"only node {p.node}'s own key may send for it")
    d = read_deployment(state, DeploymentRef(p.contract, p.wid))
    if d is None or d.state != PLACED:
        raise UnknownDeployment(f"workload {p.wid} of {p.contract} is not placed")
    if p.version != d.version:
        raise UnknownDeployment(f"workload {p.wid} is at version {d.version}, not {p.version}")
    for at, r in enumerate(d.replicas):
        if (r.workload, r.index) == (p.workload, p.index):
            if r.node != p.node:
                where = f"on node {r.node}" if r.placed else f"nowhere now ({r.state})"
                raise NotPlacedHere(f"replica {p.workload}/{p.index} is placed {where}")
            return d, at
    raise UnknownDeployment(f"workload {p.wid} has no replica {p.workload}/{p.index}")


def report_replica(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """The placed node says a replica of the current version is deployed or failed. A failed
    replica leaves the node (healing.fail): it is placed elsewhere after a backoff."""
    p = payload_as(tx, ReplicaReport)
    d, at = placed_replica(state, tx, p)
    spec = spec_of(state, d)
    replica = d.replicas[at]
    new_state = DEPLOYED if p.ok else FAILED
    if (replica.state, replica.message, replica.endpoint) == (new_state, p.message, p.endpoint):
        raise AlreadyDone(f"replica {p.workload}/{p.index} is already {new_state}")
    if replica.state == DEPLOYED:
        d = settle_replica(env, state, d, spec, at)  # bill what ran so far
        replica = d.replicas[at]
    healed = {}
    if p.ok and replica.state == ASSIGNED and replica.history:
        last = replica.history[-1]  # deployed again after a move: how long it took
        healed = {"moved_from": last.node, "left": last.left}
    record(
        env, state, d.ref, new_state, version=p.version, workload=p.workload, index=p.index,
        node=p.node, message=p.message, endpoint=p.endpoint, **healed,
    )  # fmt: skip
    if not p.ok:
        save(env, state, fail(env, state, d, spec, at, p.message))
        return
    started = env.height if replica.state != DEPLOYED else replica.billed_until
    updated = replace(
        replica,
        state=DEPLOYED,
        message=p.message,
        endpoint=p.endpoint,
        since=env.height,
        billed_until=started,
    )
    save(env, state, replace(d, replicas=(*d.replicas[:at], updated, *d.replicas[at + 1 :])))


def bill_replica(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """The placed node bills a deployed replica for the blocks since its last bill, up to its
    latest heartbeat."""
    p = payload_as(tx, ReplicaBill)
    d, at = placed_replica(state, tx, p)
    replica = d.replicas[at]
    if replica.state != DEPLOYED:
        raise NotDeployed(f"replica {p.workload}/{p.index} is {replica.state}, not deployed")
    if d.in_grace:
        raise NotDeployed(f"workload {p.wid} is paused: its escrow ran short")
    if replica.billed_until >= billable_until(env, state, replica.node):
        raise AlreadyDone(
            f"replica {p.workload}/{p.index} is billed up to height {replica.billed_until}: "
            f"nothing after it is proven by a heartbeat of node {replica.node} yet"
        )
    save(env, state, settle_replica(env, state, d, spec_of(state, d), at))


DEPLOYMENT_RULES: dict[type, Callable[[BlockEnv, Overlay, SignedTx], None]] = {
    ReplicaReport: report_replica,
    ReplicaBill: bill_replica,
    NodeRemove: remove_idle_node,
}
