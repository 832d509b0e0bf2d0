"""Self-healing: replicas leave a node that went down or that failed them, and are placed
again elsewhere by the placement rule, with nobody acting.

A node marked down (chain/farming/liveness.py) loses everything it holds in the block that
marks it: each replica is billed up to the node's last heartbeat (never for the blocks it was
silent), its reservation released, and it becomes `moving`, to be placed again in the same
block; each gateway name it served is freed and placed on another gateway. A replica its node
reports failed moves the same way after replica_retry_blocks, doubling with each failure of
the version; after replica_max_failures it stays `failed`, placed nowhere. A move prefers, in
order: a farm none of the nodes it left belongs to, a node it has not run on, and only then a
node it left that is up again (a node that is down is never eligible), so a lone farm's node
that comes back gets its replica back rather than leave it waiting for ever.

A replica is wanted on exactly one node at a time: once it moves, its old node's load no
longer lists it (so that node's agent stops its copy, and may never bill for it: the chain
refuses a report or bill from a node the replica is not placed on), and the gateways route
only to replicas deployed where they are placed now. Every move, retry and reason is an audit
entry of the deployment's contract.
"""

from collections.abc import Callable
from dataclasses import replace

from chain.deployment.billing import compute_named, settle_replica
from chain.deployment.journal import record, save
from chain.deployment.placement import Budget, OverBudget, Taken, need_resources
from chain.deployment.records import (
    ASSIGNED,
    FAILED,
    MAX_HISTORY,
    MOVING,
    NO_NODE,
    Deployment,
    DeploymentRef,
    Move,
    Replica,
    read_deployment,
    read_node_load,
)
from chain.deployment.rules import (
    Unplaceable,
    place_replica,
    place_route,
    record_placed,
    record_routed,
    release_replica,
    release_route,
    spec_of,
)
from chain.deployment.spec import DeploymentSpec
from chain.env import BlockEnv
from chain.errors import CorruptRecord, present
from chain.farming.liveness import Down
from chain.farming.records import FarmNode, read_node
from chain.state import MAX_HEIGHT, Overlay

MAX_BACKOFF_DOUBLINGS = 16
DOWN = "down"  # why a replica left its node: the node went down, or it failed there (FAILED)


# Leaving a node


def evacuate(env: BlockEnv, state: Overlay, down: Down) -> None:
    """Everything node `down.node` holds leaves it, to be placed again in this block."""
    why = f"node {down.node} down at height {down.since} (last heartbeat at {down.last_seen})"
    load = read_node_load(state, down.node)
    for held in load.replicas:
        d = _deployment(state, held.deployment)
        spec = spec_of(state, d)
        at = _replica_at(d, held.workload, held.index)
        d = settle_replica(env, state, d, spec, at)  # up to its last heartbeat: down.last_seen
        left = down.last_seen
        save(env, state, leave(env, state, d, spec, at, DOWN, why, left, env.height))
    for served in load.routes:
        d = _deployment(state, served.deployment)
        at = next(i for i, r in enumerate(d.routes) if r.name == served.name)
        route = d.routes[at]
        release_route(state, d.ref, route)
        unrouted = replace(route, node=NO_NODE, domain="", retry_at=env.height, message=why)
        d = replace(d, routes=(*d.routes[:at], unrouted, *d.routes[at + 1 :]))
        record(
            env, state, d.ref, "unrouted", version=d.version, name=route.name, host=route.host,
            node=route.node, reason=why,
        )  # fmt: skip
        save(env, state, d)


def fail(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec, at: int, message: str
) -> Deployment:
    """Replica `at`'s node reported it failed (billed up to now by the caller): it moves after
    a backoff, or stays failed once it has failed replica_max_failures times."""
    params = env.params
    failures = d.replicas[at].failures + 1
    d = _set(d, at, replace(d.replicas[at], failures=failures))
    if failures >= params.replica_max_failures:
        why = f"failed {failures} times in version {d.version}; last: {message}"
        return leave(env, state, d, spec, at, FAILED, why, env.height, 0, final=True)
    delay = params.replica_retry_blocks << min(failures - 1, MAX_BACKOFF_DOUBLINGS)
    retry_at = min(env.height + delay, MAX_HEIGHT)
    return leave(env, state, d, spec, at, FAILED, f"failed: {message}", env.height, retry_at)


def leave(
    env: BlockEnv,
    state: Overlay,
    d: Deployment,
    spec: DeploymentSpec,
    at: int,
    cause: str,
    why: str,
    left: int,
    retry_at: int,
    *,
    final: bool = False,
) -> Deployment:
    """Replica `at` leaves its node (its reservation released) because of `cause` (DOWN or
    FAILED): `moving` until `retry_at`, or `failed` for good."""
    r = d.replicas[at]
    release_replica(state, d.ref, r, need_resources(compute_named(spec, r.workload).need))
    history = (*r.history, Move(r.node, left, why[:256]))[-MAX_HISTORY:]
    moved = replace(
        r,
        node=NO_NODE,
        state=FAILED if final else MOVING,
        message=why[:256],
        since=env.height,
        endpoint="",
        retry_at=0 if final else retry_at,
        history=history,
    )
    record(
        env, state, d.ref, "gave_up" if final else "moving", version=d.version,
        workload=r.workload, index=r.index, node=r.node, cause=cause, reason=why,
        retry_at=moved.retry_at,
    )  # fmt: skip
    return _set(d, at, moved)


# Placing again


def heal(env: BlockEnv, state: Overlay, d: Deployment, budget: Budget) -> Deployment:
    """Place every moving replica and unrouted gateway name of `d` whose retry is due."""
    spec = spec_of(state, d)
    for at, r in enumerate(d.replicas):
        if r.state == MOVING and r.retry_at <= env.height:
            d = _move(env, state, d, spec, at, budget)
    for at, route in enumerate(d.routes):
        if not route.placed and route.retry_at <= env.height:
            d = _reroute(env, state, d, at, budget)
    return d


def _move(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec, at: int, budget: Budget
) -> Deployment:
    r = d.replicas[at]
    compute = compute_named(spec, r.workload)
    spread = _spread(state, d, r)
    left = frozenset(m.node for m in r.history)
    farms = frozenset(n.farm for n in (read_node(state, x) for x in left) if n is not None)
    tries = [
        replace(spread, avoid_nodes=left, avoid_farms=farms),  # another farm, preferred
        replace(spread, avoid_nodes=left),  # a node it has not run on
        spread,  # a node it left, now up again, when nothing else can take it
    ]
    try:
        node = _first_fit(tries, lambda t: place_replica(
            env, state, d, spec, compute, r.index, t, budget, len(r.history)
        ))  # fmt: skip
    except OverBudget:
        return _set(d, at, replace(r, retry_at=env.height + 1))  # the next block goes on
    except Unplaceable as exc:
        retry_at = env.height + env.params.placement_retry_blocks
        if exc.reason != r.message:  # each new reason once, not every retry
            record(
                env, state, d.ref, "unplaceable", version=d.version, workload=r.workload,
                index=r.index, reason=exc.reason,
            )  # fmt: skip
        return _set(d, at, replace(r, message=exc.reason, retry_at=retry_at))
    placed = replace(
        r, node=node.id, state=ASSIGNED, message="", since=env.height, retry_at=0, billed_until=0
    )
    d = _set(d, at, placed)
    record_placed(env, state, d, placed, moved_from=r.history[-1].node, reason=r.history[-1].reason)
    return d


def _first_fit(tries: list[Taken], place: Callable[[Taken], FarmNode]) -> FarmNode:
    """The node of the first try that finds one; else the last try's Unplaceable. Tries
    that would repeat the one before are skipped."""
    tries = [t for i, t in enumerate(tries) if i == 0 or t != tries[i - 1]]
    for taken in tries[:-1]:
        try:
            return place(taken)
        except Unplaceable:
            continue
    return place(tries[-1])


def _spread(state: Overlay, d: Deployment, r: Replica) -> Taken:
    """What the other placed replicas of the same workload hold (the spread rule)."""
    nodes = [
        present(read_node(state, x.node), f"node {x.node} of a placed replica")
        for x in d.replicas
        if x.workload == r.workload and x.index != r.index and x.placed
    ]
    return Taken(
        frozenset(n.id for n in nodes),
        frozenset(n.farm for n in nodes),
        frozenset(n.location.country for n in nodes),
    )


def _reroute(env: BlockEnv, state: Overlay, d: Deployment, at: int, budget: Budget) -> Deployment:
    route = d.routes[at]
    try:
        placed = place_route(env, state, d, route.name, route.subdomain, budget)
    except OverBudget:
        placed = replace(route, retry_at=env.height + 1)
    except Unplaceable as exc:
        if exc.reason != route.message:  # each new reason once, not every retry
            record(
                env, state, d.ref, "unplaceable", version=d.version, name=route.name,
                reason=exc.reason,
            )  # fmt: skip
        retry_at = env.height + env.params.placement_retry_blocks
        placed = replace(route, retry_at=retry_at, message=exc.reason)
    else:
        record_routed(env, state, d, placed)
    return replace(d, routes=(*d.routes[:at], placed, *d.routes[at + 1 :]))


# Helpers


def _deployment(state: Overlay, ref: DeploymentRef) -> Deployment:
    return present(read_deployment(state, ref), "the deployment of a node's load")


def _replica_at(d: Deployment, workload: str, index: int) -> int:
    for at, r in enumerate(d.replicas):
        if (r.workload, r.index) == (workload, index):
            return at
    raise CorruptRecord(f"the state lacks replica {workload}/{index} of a node's load")


def _set(d: Deployment, at: int, r: Replica) -> Deployment:
    return replace(d, replicas=(*d.replicas[:at], r, *d.replicas[at + 1 :]))
