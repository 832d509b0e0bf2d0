"""Deployment rules: asking for a deployment, placing it, releasing it, and the nodes' reports.

A contract (the standard workload contract once its signers authorized a version) asks for a
deployment through the VM (request_deployment); the request waits in the placement queue and is
placed at the start of the next block (begin_deployment), from the hash of the block that
authorized it, which did not exist when the signers signed. A placement is all or nothing: each
replica of each compute workload gets a node and reserves its capacity there, each gateway name
gets a gateway node, or nothing is reserved and the reason is recorded; the request is tried
again every placement_retry_blocks until it expires. Ending a deployment (the contract cancels
it) or a new version releases everything the old one reserved. Every step is an audit entry.
"""

from collections.abc import Callable
from dataclasses import replace

from chain.address import Address, key_address
from chain.deployment.placement import Taken, choose, need_resources
from chain.deployment.records import (
    ASSIGNED,
    DEPLOYED,
    ENDED,
    EXPIRED,
    FAILED,
    MAX_NODE_REPLICAS,
    MAX_QUEUE,
    PLACED,
    PLACING,
    QUEUE_KEY,
    Deployment,
    DeploymentRef,
    NodeLoad,
    Replica,
    ReplicaRef,
    Route,
    deployment_key,
    deployment_spec_key,
    encode_deployment,
    encode_node_load,
    encode_queue,
    gateway_name_holder,
    gateway_name_key,
    node_load_key,
    read_deployment,
    read_deployment_spec,
    read_node_load,
    read_queue,
)
from chain.deployment.spec import Constraints, DeploymentSpec, decode_spec
from chain.deployment.txs import ReplicaReport
from chain.encoding import encode
from chain.env import BlockEnv
from chain.errors import (
    AlreadyDone,
    InvalidSpec,
    NotOwner,
    NotPlacedHere,
    UnknownDeployment,
    UnknownNode,
    present,
)
from chain.farming.records import read_node
from chain.farming.txs import Resources
from chain.hashing import hash32
from chain.ledger.audit import AuditEntry
from chain.ledger.transactions import SignedTx, payload_as
from chain.state import Overlay

BLOCK_STEP = 2**32 - 1  # the tx_index of audit entries a block's own steps make
NO_TX = bytes(32)
ANYWHERE = Constraints()  # gateway names go to any gateway: a name's node does not run it


def record(env: BlockEnv, state: Overlay, ref: DeploymentRef, topic: str, **fields: object) -> None:
    """An audit entry of a step the block itself took (no transaction made it)."""
    data = encode({"wid": ref.wid, **fields})
    state.audit.append(AuditEntry(env.height, BLOCK_STEP, NO_TX, ref.contract.raw, topic, data))


def write(state: Overlay, d: Deployment) -> None:
    state.set_state(deployment_key(d.ref), encode_deployment(d))


def enqueue(state: Overlay, due: int, ref: DeploymentRef) -> None:
    queue = [item for item in read_queue(state) if item[1] != ref]
    if len(queue) >= MAX_QUEUE:
        raise InvalidSpec(f"{MAX_QUEUE} deployments are already waiting to be placed")
    state.set_state(QUEUE_KEY, encode_queue(tuple(sorted([*queue, (due, ref)]))))


def dequeue(state: Overlay, ref: DeploymentRef) -> None:
    queue = read_queue(state)
    if any(item[1] == ref for item in queue):
        state.set_state(QUEUE_KEY, encode_queue(tuple(i for i in queue if i[1] != ref)))


# What a contract asks for (through the VM's deploy and undeploy)


def request_deployment(
    env: BlockEnv, state: Overlay, contract: Address, wid: int, version: int, spec: bytes
) -> None:
    """Queue `spec` (version `version` of the contract's workload `wid`) for placement in the
    next block; a previous version's placement is released first."""
    parsed = decode_spec(spec)
    ref = DeploymentRef(contract, wid)
    old = read_deployment(state, ref)
    if old is not None:
        if version <= old.version:
            raise InvalidSpec(f"workload {wid} is already at version {old.version}")
        release(state, old)
    write(
        state,
        Deployment(
            ref,
            version,
            hash32(spec),
            PLACING,
            "waiting for the next block",
            requested=env.height,
            expires=env.height + parsed.expiry_blocks,
        ),
    )
    state.set_state(deployment_spec_key(ref), spec)
    enqueue(state, env.height + 1, ref)


def end_deployment(env: BlockEnv, state: Overlay, contract: Address, wid: int, why: str) -> None:
    """The contract ended its workload: release what it holds; its agents tear it down."""
    ref = DeploymentRef(contract, wid)
    d = read_deployment(state, ref)
    if d is None or d.state in (ENDED, EXPIRED):
        return
    release(state, d)
    dequeue(state, ref)
    write(state, replace(d, state=ENDED, message=why, replicas=(), routes=()))
    record(env, state, ref, "released", version=d.version, reason=why)


def release(state: Overlay, d: Deployment) -> None:
    """Give back every node's reservation and every gateway name `d` holds."""
    spec = decode_spec(present(read_deployment_spec(state, d.ref), "a deployment's spec"))
    needs = {c.name: need_resources(c.need) for c in spec.compute}
    for r in d.replicas:
        load = read_node_load(state, r.node)
        mine = ReplicaRef(d.ref, r.workload, r.index)
        left = NodeLoad(
            subtract(load.reserved, needs[r.workload]),
            tuple(x for x in load.replicas if x != mine),
        )
        if left.replicas:
            state.set_state(node_load_key(r.node), encode_node_load(left))
        else:
            state.delete_state(node_load_key(r.node))
    for route in d.routes:
        state.delete_state(gateway_name_key(route.host))


def add(a: Resources, b: Resources) -> Resources:
    return Resources(
        a.cores + b.cores, a.memory_mb + b.memory_mb, a.ssd_gb + b.ssd_gb, a.hdd_gb + b.hdd_gb
    )


def subtract(a: Resources, b: Resources) -> Resources:
    return Resources(
        a.cores - b.cores, a.memory_mb - b.memory_mb, a.ssd_gb - b.ssd_gb, a.hdd_gb - b.hdd_gb
    )


# Placement, at the start of each block


def begin_deployment(env: BlockEnv, state: Overlay) -> None:
    """Place every queued deployment that is due at this height."""
    queue = read_queue(state)
    due = [ref for height, ref in queue if height <= env.height]
    if not due:
        return
    state.set_state(QUEUE_KEY, encode_queue(tuple(i for i in queue if i[0] > env.height)))
    for ref in due:
        place_deployment(env, state, present(read_deployment(state, ref), "a queued deployment"))


def place_deployment(env: BlockEnv, state: Overlay, d: Deployment) -> None:
    if env.height > d.expires:
        write(state, replace(d, state=EXPIRED, message="no placement before the request expired"))
        record(env, state, d.ref, "expired", version=d.version, reason=d.message)
        return
    spec = decode_spec(present(read_deployment_spec(state, d.ref), "a deployment's spec"))
    work = state.child()
    try:
        replicas, routes = place_all(env, work, d, spec)
    except Unplaceable as why:
        write(state, replace(d, message=why.reason))
        enqueue(state, env.height + env.params.placement_retry_blocks, d.ref)
        if why.reason != d.message:  # each new reason once, not every retry
            record(env, state, d.ref, "unplaceable", version=d.version, reason=why.reason)
        return
    work.merge_into_parent()
    placed = replace(
        d, state=PLACED, message="", seed=env.prev_hash, replicas=replicas, routes=routes
    )
    write(state, placed)
    for r in replicas:
        record(
            env,
            state,
            d.ref,
            "placed",
            version=d.version,
            workload=r.workload,
            index=r.index,
            node=r.node,
            seed=env.prev_hash,
        )
    for route in routes:
        record(
            env,
            state,
            d.ref,
            "routed",
            version=d.version,
            name=route.name,
            host=route.host,
            node=route.node,
            seed=env.prev_hash,
        )


class Unplaceable(Exception):
    """Raised inside an attempt, never out of a rule: the attempt's writes are dropped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def place_all(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec
) -> tuple[tuple[Replica, ...], tuple[Route, ...]]:
    replicas = []
    for compute in spec.compute:
        taken = Taken()
        for index in range(spec.constraints.replicas):
            label = d.ref.raw + d.version.to_bytes(8, "big") + f"{compute.name}/{index}".encode()
            choice = choose(
                env,
                state,
                env.prev_hash,
                label,
                compute.type,
                compute.need,
                spec.constraints,
                taken,
            )
            if choice.node is None:
                raise Unplaceable(f"{compute.name} replica {index}: {choice.reason}")
            node = choice.node
            reserve(
                state, node.id, need_resources(compute.need), ReplicaRef(d.ref, compute.name, index)
            )
            replicas.append(Replica(compute.name, index, node.id, ASSIGNED, "", env.height))
            taken = Taken(
                taken.nodes | {node.id},
                taken.farms | {node.farm},
                taken.countries | {node.location.country},
            )
    routes = []
    for gateway in spec.gateways:
        route = place_route(env, state, d, gateway.name, gateway.subdomain)
        routes.append(route)
    return tuple(replicas), tuple(routes)


def reserve(state: Overlay, node: int, need: Resources, ref: ReplicaRef) -> None:
    load = read_node_load(state, node)
    if len(load.replicas) >= MAX_NODE_REPLICAS:
        raise Unplaceable(f"node {node} holds {MAX_NODE_REPLICAS} replicas already")
    new = NodeLoad(add(load.reserved, need), (*load.replicas, ref))
    state.set_state(node_load_key(node), encode_node_load(new))


def place_route(env: BlockEnv, state: Overlay, d: Deployment, name: str, subdomain: str) -> Route:
    """A gateway node for one gateway name: any up gateway whose domain has the name free."""
    label = d.ref.raw + d.version.to_bytes(8, "big") + f"gateway/{name}".encode()
    taken = Taken()
    for _ in range(8):
        choice = choose(env, state, env.prev_hash, label, "gateway", None, ANYWHERE, taken)
        if choice.node is None:
            raise Unplaceable(f"gateway {name}: {choice.reason}")
        domain = choice.node.capabilities.gateway
        route = Route(name, subdomain, domain, choice.node.id)
        if gateway_name_holder(state, route.host) is None:
            state.set_state(gateway_name_key(route.host), d.ref.raw)
            return route
        taken = Taken(taken.nodes | {choice.node.id})
    raise Unplaceable(f"gateway {name}: the name {subdomain!r} is taken on every gateway tried")


# Reports from the nodes' agents


def report_replica(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """The placed node says a replica of the current version is deployed or failed."""
    p = payload_as(tx, ReplicaReport)
    node = read_node(state, p.node)
    if node is None:
        raise UnknownNode(f"node {p.node} does not exist")
    if key_address(node.key) != tx.body.sender:
        raise NotOwner(f"only node {p.node}'s own key may report for it")
    ref = DeploymentRef(p.contract, p.wid)
    d = read_deployment(state, ref)
    if d is None or d.state != PLACED:
        raise UnknownDeployment(f"workload {p.wid} of {p.contract} is not placed")
    if p.version != d.version:
        raise UnknownDeployment(f"workload {p.wid} is at version {d.version}, not {p.version}")
    at = next(
        (i for i, r in enumerate(d.replicas) if (r.workload, r.index) == (p.workload, p.index)),
        None,
    )
    if at is None:
        raise UnknownDeployment(f"workload {p.wid} has no replica {p.workload}/{p.index}")
    replica = d.replicas[at]
    if replica.node != p.node:
        raise NotPlacedHere(f"replica {p.workload}/{p.index} is placed on node {replica.node}")
    new_state = DEPLOYED if p.ok else FAILED
    if (replica.state, replica.message) == (new_state, p.message):
        raise AlreadyDone(f"replica {p.workload}/{p.index} is already {new_state}")
    updated = replace(replica, state=new_state, message=p.message, since=env.height)
    replicas = (*d.replicas[:at], updated, *d.replicas[at + 1 :])
    write(state, replace(d, replicas=replicas))
    data = encode(
        {
            "wid": p.wid,
            "version": p.version,
            "workload": p.workload,
            "index": p.index,
            "node": p.node,
            "message": p.message,
        }
    )
    # tx_index is stamped by process_plain_tx, which knows where this transaction is
    state.audit.append(AuditEntry(env.height, 0, tx.id, p.contract.raw, new_state, data))


DEPLOYMENT_RULES: dict[type, Callable[[BlockEnv, Overlay, SignedTx], None]] = {
    ReplicaReport: report_replica,
}
