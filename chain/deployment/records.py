"""Deployment records in the state: each deployment with its replicas and gateway routes, what
each node has reserved, the gateway names in use, and the queue of workloads to place.

A deployment is named by the contract that asked for it and the contract's workload id
(DeploymentRef), so any contract, not only the standard workload contract, can run an approval
scheme of its own and then ask the chain to deploy.
"""

from dataclasses import dataclass
from typing import Any

from chain.address import RAW_SIZE, Address
from chain.encoding import (
    decode_stored,
    encode,
    expect_bytes,
    expect_fixed_list,
    expect_int,
    expect_list,
    expect_text,
    stored_record,
)
from chain.errors import EncodingError
from chain.farming.txs import MAX_DISK_GB, MAX_ID, MAX_MEMORY_MB, Resources
from chain.hashing import HASH_SIZE, tagged_hash
from chain.params import MAX_CORES
from chain.state import MAX_BALANCE, MAX_HEIGHT, StateReader

MAX_WID = 2**63 - 1
MAX_MESSAGE = 256  # bytes of a state's message (a failure reason, an unplaceable reason)
MAX_ENDPOINT = 64  # an IP address (v4 or v6) a replica serves at
MAX_NODE_REPLICAS = 256  # replicas one node holds at most
MAX_QUEUE = 4096  # new requests waiting to be placed at once
MAX_QUEUE_STORED = 16 * MAX_QUEUE  # with what the block itself queued (retries, grace ends)
MAX_HISTORY = 8  # moves a replica remembers (the audit log has every one)
NO_NODE = 0  # the node of a replica or route that has none now (moving, or failed for good)

# A deployment's states
PLACING = "placing"  # waiting for its placement (next block, or the next retry)
PLACED = "placed"  # every replica and route has a node
EXPIRED = "expired"  # never placed before its request expired
ENDED = "ended"  # its contract ended it (cancelled); everything released
DEPLOYMENT_STATES = (PLACING, PLACED, EXPIRED, ENDED)

# A replica's states: as its node's agent reports them, or while it has no node
ASSIGNED = "assigned"  # placed; the agent has not reported yet
DEPLOYED = "deployed"
MOVING = "moving"  # its node went down or it failed there: placed elsewhere at retry_at
FAILED = "failed"  # failed replica_max_failures times in this version: no longer placed
REPLICA_STATES = (ASSIGNED, DEPLOYED, MOVING, FAILED)


@dataclass(frozen=True, order=True)
class DeploymentRef:
    contract: Address
    wid: int

    @property
    def raw(self) -> bytes:
        return self.contract.raw + self.wid.to_bytes(8, "big")


def ref_from_raw(raw: bytes) -> DeploymentRef:
    if len(raw) != RAW_SIZE + 8:
        raise EncodingError(f"a deployment reference is {RAW_SIZE + 8} bytes")
    return DeploymentRef(Address(raw[:RAW_SIZE]), int.from_bytes(raw[RAW_SIZE:], "big"))


@dataclass(frozen=True)
class Move:
    """A node a replica left: the last height it ran there (what was billed), and why."""

    node: int
    left: int
    reason: str


@dataclass(frozen=True)
class Replica:
    """One copy of one compute workload, and the node it is placed on (NO_NODE while it is
    moving or failed for good)."""

    workload: str
    index: int
    node: int
    state: str = ASSIGNED
    message: str = ""
    since: int = 0  # height of the last change
    endpoint: str = ""  # where it serves (its address on the node's network), once deployed
    billed_until: int = 0  # usage is billed up to this height
    failures: int = 0  # times its nodes reported it failed in this version
    retry_at: int = 0  # while moving: the height it is placed again at the earliest
    history: tuple[Move, ...] = ()  # the last MAX_HISTORY nodes it left, oldest first

    @property
    def placed(self) -> bool:
        return self.node != NO_NODE


@dataclass(frozen=True)
class Route:
    """A gateway name of the spec: served as `subdomain.domain` by gateway node `node`
    (NO_NODE and no domain while its gateway went down and it waits for another)."""

    name: str
    subdomain: str
    domain: str
    node: int
    retry_at: int = 0  # while it has no gateway: the height it is placed again at the earliest
    message: str = ""  # while it has no gateway: why

    @property
    def host(self) -> str:
        return f"{self.subdomain}.{self.domain}" if self.domain else ""

    @property
    def placed(self) -> bool:
        return self.node != NO_NODE


@dataclass(frozen=True)
class Deployment:
    ref: DeploymentRef
    version: int
    spec_hash: bytes
    state: str
    message: str  # why it is not placed yet, or what ended it
    requested: int  # height its version was authorized
    expires: int  # not placed by this height: expired
    payer: Address  # who paid the escrow, and gets back what is left at the end
    seed: bytes = b""  # the block hash its placement drew from
    replicas: tuple[Replica, ...] = ()
    routes: tuple[Route, ...] = ()
    escrow: int = 0  # credits held to pay the nodes
    grace_since: int = 0  # height the escrow ran short (0: it has not); the replicas pause

    @property
    def in_grace(self) -> bool:
        return self.grace_since > 0


@dataclass(frozen=True)
class ReplicaRef:
    """What a node's load lists: which replica of which deployment it holds."""

    deployment: DeploymentRef
    workload: str
    index: int


@dataclass(frozen=True)
class RouteRef:
    """What a gateway node's load lists: which gateway name of which deployment it serves."""

    deployment: DeploymentRef
    name: str


@dataclass(frozen=True)
class NodeLoad:
    """What a node holds: the capacity reserved for the replicas placed on it, and (on a
    gateway) the names it serves."""

    reserved: Resources
    replicas: tuple[ReplicaRef, ...] = ()
    routes: tuple[RouteRef, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.replicas and not self.routes


NO_LOAD = NodeLoad(Resources(0, 0, 0, 0))


def deployment_key(ref: DeploymentRef) -> bytes:
    return tagged_hash(b"gc/deploy/record", ref.raw)


def deployment_spec_key(ref: DeploymentRef) -> bytes:
    return tagged_hash(b"gc/deploy/spec", ref.raw)


def node_load_key(node: int) -> bytes:
    return tagged_hash(b"gc/deploy/load", node.to_bytes(8, "big"))


def gateway_name_key(host: str) -> bytes:
    return tagged_hash(b"gc/deploy/gwname", host.encode())


QUEUE_KEY = tagged_hash(b"gc/deploy/queue", b"")


# Codecs


def encode_deployment(d: Deployment) -> bytes:
    replicas = [
        [
            r.workload, r.index, r.node, r.state, r.message, r.since, r.endpoint,
            r.billed_until, r.failures, r.retry_at,
            [[m.node, m.left, m.reason] for m in r.history],
        ]
        for r in d.replicas
    ]  # fmt: skip
    routes = [[r.name, r.subdomain, r.domain, r.node, r.retry_at, r.message] for r in d.routes]
    return encode(
        [
            d.ref.raw,
            d.version,
            d.spec_hash,
            d.state,
            d.message,
            d.requested,
            d.expires,
            d.payer.raw,
            d.seed,
            replicas,
            routes,
            d.escrow,
            d.grace_since,
        ]
    )


def _state(value: Any, what: str, allowed: tuple[str, ...]) -> str:
    text = expect_text(value, what, 16)
    if text not in allowed:
        raise EncodingError(f"{what} {text!r} is unknown")
    return text


def _replica(value: Any) -> Replica:
    f = expect_fixed_list(value, "replica", 11)
    return Replica(
        workload=expect_text(f[0], "replica workload", 32),
        index=expect_int(f[1], "replica index", 0, 1024),
        node=expect_int(f[2], "replica node", NO_NODE, MAX_ID),
        state=_state(f[3], "replica state", REPLICA_STATES),
        message=expect_text(f[4], "replica message", MAX_MESSAGE),
        since=expect_int(f[5], "replica since", 0, MAX_HEIGHT),
        endpoint=expect_text(f[6], "replica endpoint", MAX_ENDPOINT),
        billed_until=expect_int(f[7], "replica billed until", 0, MAX_HEIGHT),
        failures=expect_int(f[8], "replica failures", 0, MAX_HEIGHT),
        retry_at=expect_int(f[9], "replica retry height", 0, MAX_HEIGHT),
        history=tuple(_move(m) for m in expect_list(f[10], "replica history", MAX_HISTORY)),
    )


def _move(value: Any) -> Move:
    node, left, reason = expect_fixed_list(value, "replica move", 3)
    return Move(
        expect_int(node, "moved from node", 1, MAX_ID),
        expect_int(left, "moved at height", 0, MAX_HEIGHT),
        expect_text(reason, "moved because", MAX_MESSAGE),
    )


def _route(value: Any) -> Route:
    f = expect_fixed_list(value, "route", 6)
    return Route(
        name=expect_text(f[0], "route name", 32),
        subdomain=expect_text(f[1], "route subdomain", 63),
        domain=expect_text(f[2], "route domain", 253),
        node=expect_int(f[3], "route node", NO_NODE, MAX_ID),
        retry_at=expect_int(f[4], "route retry height", 0, MAX_HEIGHT),
        message=expect_text(f[5], "route message", MAX_MESSAGE),
    )


@stored_record("deployment record")
def decode_deployment(data: bytes) -> Deployment:
    f = expect_fixed_list(decode_stored(data), "deployment record", 13)
    return Deployment(
        ref=ref_from_raw(expect_bytes(f[0], "deployment reference")),
        version=expect_int(f[1], "deployment version", 1, MAX_WID),
        spec_hash=expect_bytes(f[2], "spec hash", HASH_SIZE),
        state=_state(f[3], "deployment state", DEPLOYMENT_STATES),
        message=expect_text(f[4], "deployment message", MAX_MESSAGE * 4),
        requested=expect_int(f[5], "requested height", 0, MAX_HEIGHT),
        expires=expect_int(f[6], "expiry height", 0, MAX_HEIGHT),
        payer=Address(expect_bytes(f[7], "payer", RAW_SIZE)),
        seed=expect_bytes(f[8], "placement seed", max_size=HASH_SIZE),
        replicas=tuple(_replica(r) for r in expect_list(f[9], "replicas", 1024)),
        routes=tuple(_route(r) for r in expect_list(f[10], "routes", 64)),
        escrow=expect_int(f[11], "escrow", 0, MAX_BALANCE),
        grace_since=expect_int(f[12], "grace since", 0, MAX_HEIGHT),
    )


def encode_node_load(load: NodeLoad) -> bytes:
    r = load.reserved
    refs = [[x.deployment.raw, x.workload, x.index] for x in load.replicas]
    routes = [[x.deployment.raw, x.name] for x in load.routes]
    return encode([[r.cores, r.memory_mb, r.ssd_gb, r.hdd_gb], refs, routes])


@stored_record("node load record")
def decode_node_load(data: bytes) -> NodeLoad:
    f = expect_fixed_list(decode_stored(data), "node load record", 3)
    cores, memory, ssd, hdd = expect_fixed_list(f[0], "reserved resources", 4)
    reserved = Resources(
        expect_int(cores, "reserved cores", 0, MAX_CORES),
        expect_int(memory, "reserved memory", 0, MAX_MEMORY_MB),
        expect_int(ssd, "reserved ssd", 0, MAX_DISK_GB),
        expect_int(hdd, "reserved hdd", 0, MAX_DISK_GB),
    )
    refs = []
    for item in expect_list(f[1], "node replicas", MAX_NODE_REPLICAS):
        raw, workload, index = expect_fixed_list(item, "node replica", 3)
        refs.append(
            ReplicaRef(
                ref_from_raw(expect_bytes(raw, "replica deployment")),
                expect_text(workload, "replica workload", 32),
                expect_int(index, "replica index", 0, 1024),
            )
        )
    routes = []
    for item in expect_list(f[2], "node routes", MAX_NODE_REPLICAS):
        raw, name = expect_fixed_list(item, "node route", 2)
        routes.append(
            RouteRef(
                ref_from_raw(expect_bytes(raw, "route deployment")),
                expect_text(name, "route name", 32),
            )
        )
    return NodeLoad(reserved, tuple(refs), tuple(routes))


def encode_queue(queue: tuple[tuple[int, DeploymentRef], ...]) -> bytes:
    return encode([[due, ref.raw] for due, ref in queue])


@stored_record("placement queue")
def decode_queue(data: bytes) -> tuple[tuple[int, DeploymentRef], ...]:
    items = expect_list(decode_stored(data), "placement queue", MAX_QUEUE_STORED)
    queue = []
    for item in items:
        due, raw = expect_fixed_list(item, "queued placement", 2)
        queue.append(
            (expect_int(due, "due height", 0, MAX_HEIGHT), ref_from_raw(expect_bytes(raw, "ref")))
        )
    return tuple(queue)


# Reads


def read_deployment(reader: StateReader, ref: DeploymentRef) -> Deployment | None:
    raw = reader.get_state(deployment_key(ref))
    return None if raw is None else decode_deployment(raw)


def read_deployment_spec(reader: StateReader, ref: DeploymentRef) -> bytes | None:
    return reader.get_state(deployment_spec_key(ref))


def read_node_load(reader: StateReader, node: int) -> NodeLoad:
    raw = reader.get_state(node_load_key(node))
    return NO_LOAD if raw is None else decode_node_load(raw)


def read_queue(reader: StateReader) -> tuple[tuple[int, DeploymentRef], ...]:
    raw = reader.get_state(QUEUE_KEY)
    return () if raw is None else decode_queue(raw)


def gateway_name_holder(reader: StateReader, host: str) -> DeploymentRef | None:
    raw = reader.get_state(gateway_name_key(host))
    return None if raw is None else ref_from_raw(raw)


# Views


def replica_to_json(r: Replica) -> dict[str, Any]:
    return {
        "workload": r.workload,
        "index": r.index,
        "node": r.node or None,
        "state": r.state,
        "message": r.message,
        "since": r.since,
        "endpoint": r.endpoint or None,
        "billed_until": r.billed_until,
        "failures": r.failures,
        "retry_at": r.retry_at or None,
        "history": [{"node": m.node, "left": m.left, "reason": m.reason} for m in r.history],
    }


def deployment_to_json(d: Deployment) -> dict[str, Any]:
    return {
        "contract": str(d.ref.contract),
        "workload_id": d.ref.wid,
        "version": d.version,
        "spec_hash": d.spec_hash.hex(),
        "state": d.state,
        "message": d.message,
        "requested": d.requested,
        "expires": d.expires,
        "payer": str(d.payer),
        "escrow": d.escrow,
        "grace_since": d.grace_since or None,
        "seed": d.seed.hex() or None,
        "replicas": [replica_to_json(r) for r in d.replicas],
        "routes": [
            {
                "name": r.name,
                "host": r.host or None,
                "node": r.node or None,
                "message": r.message,
                "retry_at": r.retry_at or None,
            }
            for r in d.routes
        ],
    }
