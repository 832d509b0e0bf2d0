"""Writing deployment state back: the record, the placement queue, and an audit entry for each
step. A step the block takes on its own (placing, pausing at the end of grace) has no
transaction: tx_index BLOCK_STEP and a zero tx id; a step a transaction makes (a report, a bill,
a contract's deploy) is stamped with that transaction by chain/ledger/execution.py."""

from chain.deployment.records import (
    MAX_QUEUE,
    MOVING,
    PLACED,
    QUEUE_KEY,
    Deployment,
    DeploymentRef,
    deployment_key,
    encode_deployment,
    encode_queue,
    read_queue,
)
from chain.encoding import encode
from chain.env import BlockEnv
from chain.errors import InvalidSpec
from chain.ledger.audit import BLOCK_STEP, NO_TX, AuditEntry
from chain.state import Overlay


def record(env: BlockEnv, state: Overlay, ref: DeploymentRef, topic: str, **fields: object) -> None:
    """An audit entry for `ref`'s contract: what happened, as a canonical map."""
    data = encode({"wid": ref.wid, **fields})
    state.audit.append(AuditEntry(env.height, BLOCK_STEP, NO_TX, ref.contract.raw, topic, data))


def write(state: Overlay, d: Deployment) -> None:
    state.set_state(deployment_key(d.ref), encode_deployment(d))


def save(env: BlockEnv, state: Overlay, d: Deployment) -> None:
    """Write `d`; a placed one is also queued for the next height the block must look at it
    (next_due), or taken off the queue if there is none."""
    write(state, d)
    if d.state == PLACED:
        due = next_due(env, d)
        if due is None:
            dequeue(state, d.ref)
        else:
            enqueue(state, due, d.ref, system=True)


def next_due(env: BlockEnv, d: Deployment) -> int | None:
    """When a placed deployment needs the block again: a replica or route with no node is
    placed again at its retry height, a paused one ends when its grace period is over."""
    dues = [r.retry_at for r in d.replicas if r.state == MOVING]
    dues += [r.retry_at for r in d.routes if not r.placed]
    if d.in_grace:
        dues.append(d.grace_since + env.params.grace_period_blocks)
    return min(dues) if dues else None


def enqueue(state: Overlay, due: int, ref: DeploymentRef, *, system: bool = False) -> None:
    """Look at `ref` again at height `due` (one entry per deployment: a new one replaces it).
    A new request is refused when MAX_QUEUE are waiting; the block's own steps (a retry, a
    grace period, a node gone down) never are, so a busy queue cannot strand a placed one."""
    queue = [item for item in read_queue(state) if item[1] != ref]
    if len(queue) >= MAX_QUEUE and not system:
        raise InvalidSpec(f"{MAX_QUEUE} deployments are already waiting to be placed")
    state.set_state(QUEUE_KEY, encode_queue(tuple(sorted([*queue, (due, ref)]))))


def dequeue(state: Overlay, ref: DeploymentRef) -> None:
    queue = read_queue(state)
    if any(item[1] == ref for item in queue):
        state.set_state(QUEUE_KEY, encode_queue(tuple(i for i in queue if i[1] != ref)))


def take_due(state: Overlay, height: int) -> list[DeploymentRef]:
    """Remove and return every deployment due at or before `height`, in queue order."""
    queue = read_queue(state)
    due = [ref for at, ref in queue if at <= height]
    if due:
        state.set_state(QUEUE_KEY, encode_queue(tuple(i for i in queue if i[0] > height)))
    return due
