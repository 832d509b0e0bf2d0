"""Deployment rules: asking for a deployment, funding it, placing it, ending and releasing it.

A contract (the standard workload contract once its signers authorized a version) asks for a
deployment through the VM (request_deployment); the request waits in the placement queue and is
placed at the start of the next block (begin_deployment), from the hash of the block that
authorized it, which did not exist when the signers signed. A placement is all or nothing: each
replica of each compute workload gets a node and reserves its capacity there, each gateway name
gets a gateway node, or nothing is reserved and the reason is recorded; the request is tried
again every placement_retry_blocks until it expires. Ending a deployment (the contract cancels
it, or its escrow ran out and the grace period passed) or a new version bills what ran and
releases everything the old one reserved. Every step is an audit entry. What nodes report and
bill is in chain/deployment/reports.py.
"""

from dataclasses import replace

from chain.address import Address
from chain.deployment.billing import compute_named, fund, settle_all
from chain.deployment.journal import dequeue, enqueue, record, save, write
from chain.deployment.placement import (
    BLOCK_CHECKS,
    Budget,
    OverBudget,
    Taken,
    choose,
    need_resources,
)
from chain.deployment.records import (
    ASSIGNED,
    ENDED,
    EXPIRED,
    MAX_NODE_REPLICAS,
    PLACED,
    PLACING,
    Deployment,
    DeploymentRef,
    NodeLoad,
    Replica,
    ReplicaRef,
    Route,
    RouteRef,
    deployment_spec_key,
    encode_node_load,
    gateway_name_holder,
    gateway_name_key,
    node_load_key,
    read_deployment,
    read_deployment_spec,
    read_node_load,
)
from chain.deployment.spec import Compute, Constraints, DeploymentSpec, decode_spec
from chain.env import BlockEnv
from chain.errors import InvalidSpec, NodeInUse, UnknownDeployment, present
from chain.farming.records import FarmNode
from chain.farming.rules import remove_node
from chain.farming.txs import NodeRemove, Resources
from chain.hashing import hash32
from chain.ledger.transactions import SignedTx, payload_as
from chain.state import Overlay, decrease_balance, increase_balance

ANYWHERE = Constraints()  # gateway names go to any gateway: a name's node does not run it


# What a contract asks for (through the VM's deploy and undeploy)


def request_deployment(
    env: BlockEnv,
    state: Overlay,
    contract: Address,
    wid: int,
    version: int,
    spec: bytes,
    payer: Address,
) -> None:
    """Queue `spec` (version `version` of the contract's workload `wid`) for placement in the
    next block. A previous version is billed up to now and released first; its escrow
    carries over."""
    parsed = decode_spec(spec)
    ref = DeploymentRef(contract, wid)
    escrow = 0
    old = read_deployment(state, ref)
    if old is not None:
        if version <= old.version:
            raise InvalidSpec(f"workload {wid} is already at version {old.version}")
        if old.state in (PLACING, PLACED):
            old = settle_all(env, state, old, spec_of(state, old))
            release(state, old)
            escrow = old.escrow
    new = Deployment(
        ref,
        version,
        hash32(spec),
        PLACING,
        "waiting for the next block",
        requested=env.height,
        expires=env.height + parsed.expiry_blocks,
        payer=payer,
        escrow=escrow,
    )
    write(state, new)
    state.set_state(deployment_spec_key(ref), spec)
    enqueue(state, env.height + 1, ref)


def fund_deployment(
    env: BlockEnv, state: Overlay, contract: Address, wid: int, amount: int
) -> None:
    """Move `amount` from the contract's balance into the deployment's escrow."""
    d = live_deployment(state, DeploymentRef(contract, wid))
    decrease_balance(state, contract, amount)
    save(env, state, fund(env, state, d, spec_of(state, d), amount))


def end_deployment(env: BlockEnv, state: Overlay, contract: Address, wid: int, why: str) -> None:
    """The contract ended its workload: bill what ran, release what it holds, give the payer
    the rest of the escrow; the nodes' agents then tear it down."""
    d = read_deployment(state, DeploymentRef(contract, wid))
    if d is None or d.state in (ENDED, EXPIRED):
        return
    finish(env, state, settle_all(env, state, d, spec_of(state, d)), ENDED, why)


def finish(env: BlockEnv, state: Overlay, d: Deployment, final: str, why: str) -> None:
    release(state, d)
    dequeue(state, d.ref)
    if d.escrow:
        increase_balance(state, d.payer, d.escrow)
    write(state, replace(d, state=final, message=why, replicas=(), routes=(), escrow=0))
    topic = "released" if final == ENDED else final
    record(env, state, d.ref, topic, version=d.version, reason=why, refund=d.escrow)


def live_deployment(state: Overlay, ref: DeploymentRef) -> Deployment:
    d = read_deployment(state, ref)
    if d is None or d.state in (ENDED, EXPIRED):
        raise UnknownDeployment(f"workload {ref.wid} of {ref.contract} has no live deployment")
    return d


def spec_of(state: Overlay, d: Deployment) -> DeploymentSpec:
    return decode_spec(present(read_deployment_spec(state, d.ref), "a deployment's spec"))


def release(state: Overlay, d: Deployment) -> None:
    """Give back every node's reservation and every gateway name `d` holds."""
    spec = spec_of(state, d)
    for r in d.replicas:
        if r.placed:
            release_replica(state, d.ref, r, need_resources(compute_named(spec, r.workload).need))
    for route in d.routes:
        if route.placed:
            release_route(state, d.ref, route)


def release_replica(state: Overlay, ref: DeploymentRef, r: Replica, need: Resources) -> None:
    """Give back what replica `r` reserves on its node; the node's agent then stops it."""
    load = read_node_load(state, r.node)
    mine = ReplicaRef(ref, r.workload, r.index)
    left = replace(
        load,
        reserved=subtract(load.reserved, need),
        replicas=tuple(x for x in load.replicas if x != mine),
    )
    write_load(state, r.node, left)


def release_route(state: Overlay, ref: DeploymentRef, route: Route) -> None:
    """Free a gateway name and take it off its gateway's load."""
    state.delete_state(gateway_name_key(route.host))
    load = read_node_load(state, route.node)
    served = RouteRef(ref, route.name)
    write_load(
        state, route.node, replace(load, routes=tuple(x for x in load.routes if x != served))
    )


def write_load(state: Overlay, node: int, load: NodeLoad) -> None:
    if load.empty:
        state.delete_state(node_load_key(node))
    else:
        state.set_state(node_load_key(node), encode_node_load(load))


def add(a: Resources, b: Resources) -> Resources:
    return Resources(
        a.cores + b.cores, a.memory_mb + b.memory_mb, a.ssd_gb + b.ssd_gb, a.hdd_gb + b.hdd_gb
    )


def subtract(a: Resources, b: Resources) -> Resources:
    return Resources(
        a.cores - b.cores, a.memory_mb - b.memory_mb, a.ssd_gb - b.ssd_gb, a.hdd_gb - b.hdd_gb
    )


def remove_idle_node(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """A farmer removes a node only once it holds nothing: a node with replicas or gateway
    names is stopped first; once down, what it held is placed elsewhere (healing.evacuate)."""
    p = payload_as(tx, NodeRemove)
    load = read_node_load(state, p.node)
    if not load.empty:
        raise NodeInUse(
            f"node {p.node} holds {len(load.replicas)} replicas and {len(load.routes)} gateway "
            "names: stop it, and remove it once it is down and they have moved"
        )
    remove_node(env, state, tx)


# Placement: a queued request, in the block after the one that asked


def place_deployment(env: BlockEnv, state: Overlay, d: Deployment, budget: Budget) -> None:
    """Place every replica and route of a waiting deployment, or none (retried later)."""
    if env.height > d.expires:
        finish(env, state, d, EXPIRED, "no placement before the request expired")
        return
    if budget.left <= 0:
        enqueue(state, env.height + 1, d.ref, system=True)  # this block's checks are spent
        return
    whole_block = budget.left == BLOCK_CHECKS
    spec = spec_of(state, d)
    work = state.child()
    try:
        try:
            replicas, routes = place_all(env, work, d, spec, budget)
        except OverBudget:
            if not whole_block:
                enqueue(state, env.height + 1, d.ref, system=True)  # a block of its own next
                return
            raise Unplaceable(
                f"placing it takes more than the {BLOCK_CHECKS} node checks a block allows: "
                "ask for fewer replicas or narrow the constraints"
            ) from None
    except Unplaceable as why:
        write(state, replace(d, message=why.reason))
        enqueue(state, env.height + env.params.placement_retry_blocks, d.ref, system=True)
        if why.reason != d.message:  # each new reason once, not every retry
            record(env, state, d.ref, "unplaceable", version=d.version, reason=why.reason)
        return
    work.merge_into_parent()
    placed = replace(
        d, state=PLACED, message="", seed=env.prev_hash, replicas=replicas, routes=routes
    )
    save(env, state, placed)
    for r in replicas:
        record_placed(env, state, placed, r)
    for route in routes:
        record_routed(env, state, placed, route)


def record_placed(env: BlockEnv, state: Overlay, d: Deployment, r: Replica, **why: object) -> None:
    record(
        env, state, d.ref, "placed", version=d.version, workload=r.workload, index=r.index,
        node=r.node, seed=env.prev_hash, **why,
    )  # fmt: skip


def record_routed(env: BlockEnv, state: Overlay, d: Deployment, route: Route) -> None:
    record(
        env, state, d.ref, "routed", version=d.version, name=route.name, host=route.host,
        node=route.node, seed=env.prev_hash,
    )  # fmt: skip


class Unplaceable(Exception):
    """Raised inside an attempt, never out of a rule: the attempt's writes are dropped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def place_all(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec, budget: Budget
) -> tuple[tuple[Replica, ...], tuple[Route, ...]]:
    replicas = []
    for compute in spec.compute:
        taken = Taken()
        for index in range(spec.constraints.replicas):
            node = place_replica(env, state, d, spec, compute, index, taken, budget)
            replicas.append(Replica(compute.name, index, node.id, ASSIGNED, since=env.height))
            taken = Taken(
                taken.nodes | {node.id},
                taken.farms | {node.farm},
                taken.countries | {node.location.country},
            )
    routes = []
    for gateway in spec.gateways:
        route = place_route(env, state, d, gateway.name, gateway.subdomain, budget)
        routes.append(route)
    return tuple(replicas), tuple(routes)


def place_replica(
    env: BlockEnv,
    state: Overlay,
    d: Deployment,
    spec: DeploymentSpec,
    compute: Compute,
    index: int,
    taken: Taken,
    budget: Budget,
    attempt: int = 0,
) -> FarmNode:
    """A node for replica `index` of `compute`, its capacity reserved there; raises
    Unplaceable (nothing written) or OverBudget. `attempt` counts the moves before this one,
    so each move draws afresh."""
    label = d.ref.raw + d.version.to_bytes(8, "big") + f"{compute.name}/{index}".encode()
    if attempt:
        label += attempt.to_bytes(4, "big")
    choice = choose(
        env,
        state,
        env.prev_hash,
        label,
        compute.type,
        compute.need,
        spec.constraints,
        taken,
        budget,
    )
    if choice.node is None:
        raise Unplaceable(f"{compute.name} replica {index}: {choice.reason}")
    reserve(
        state,
        choice.node.id,
        need_resources(compute.need),
        ReplicaRef(d.ref, compute.name, index),
    )
    return choice.node


def reserve(state: Overlay, node: int, need: Resources, ref: ReplicaRef) -> None:
    load = read_node_load(state, node)
    if len(load.replicas) >= MAX_NODE_REPLICAS:
        raise Unplaceable(f"node {node} holds {MAX_NODE_REPLICAS} replicas already")
    write_load(
        state,
        node,
        replace(load, reserved=add(load.reserved, need), replicas=(*load.replicas, ref)),
    )


def place_route(
    env: BlockEnv, state: Overlay, d: Deployment, name: str, subdomain: str, budget: Budget
) -> Route:
    """A gateway node for one gateway name: any up gateway whose domain has the name free."""
    label = d.ref.raw + d.version.to_bytes(8, "big") + f"gateway/{name}".encode()
    taken = Taken()
    for _ in range(8):
        choice = choose(env, state, env.prev_hash, label, "gateway", None, ANYWHERE, taken, budget)
        if choice.node is None:
            if taken.nodes:
                holders = ", ".join(str(n) for n in sorted(taken.nodes))
                raise Unplaceable(f"gateway {name}: {subdomain!r} is taken on gateways {holders}")
            raise Unplaceable(f"gateway {name}: {choice.reason}")
        domain = choice.node.capabilities.gateway
        route = Route(name, subdomain, domain, choice.node.id)
        load = read_node_load(state, route.node)
        if gateway_name_holder(state, route.host) is None and len(load.routes) < MAX_NODE_REPLICAS:
            state.set_state(gateway_name_key(route.host), d.ref.raw)
            write_load(
                state, route.node, replace(load, routes=(*load.routes, RouteRef(d.ref, name)))
            )
            return route
        taken = Taken(taken.nodes | {choice.node.id})
    raise Unplaceable(f"gateway {name}: {subdomain!r} is taken on every gateway tried")
