"""Farming transactions: what farms, nodes and the council send, and their canonical values.

A farm's owner registers the farm and its nodes; a node's own key sends what only the running
node can send (heartbeats, proofs of space, compute answers), so a farmer cannot prove uptime
for a node that is off. The rules that apply them are in chain/farming/rules.py.
"""

import re
from dataclasses import dataclass
from typing import Any

from chain.address import RAW_SIZE, Address
from chain.encoding import (
    expect_bool,
    expect_bytes,
    expect_fixed_list,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
)
from chain.errors import EncodingError
from chain.hashing import HASH_SIZE
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from chain.ledger.codec import PayloadCodec
from chain.params import (
    MAX_COMPUTE_SAMPLES,
    MAX_COMPUTE_UNITS,
    MAX_CORES,
    MAX_PLOT_K,
    MAX_STORAGE_CHALLENGES,
    MIN_PLOT_K,
)

MAX_ID = 2**32
MAX_NAME = 64
MAX_PROOFS_PER_TX = 512
MAX_MERKLE_PATH = 32
MAX_MEMORY_MB = 2**40
MAX_DISK_GB = 2**40
MAX_AMOUNT = 2**63 - 1
MICRODEGREES = 1_000_000


@dataclass(frozen=True)
class Resources:
    """What a node declares it offers: the ceiling of what it can be paid for."""

    cores: int
    memory_mb: int
    ssd_gb: int
    hdd_gb: int


@dataclass(frozen=True)
class Location:
    """Where a node is: ISO 3166 alpha-2 country, city, and coordinates in millionths of a
    degree (integers, so they hash the same everywhere)."""

    country: str
    city: str
    latitude: int
    longitude: int


@dataclass(frozen=True)
class Capabilities:
    """What a node's runtime can run: containers (sandboxes), virtual machines (it has a
    hypervisor), and a gateway (a reverse proxy serving names under `gateway`, its domain)."""

    container: bool = False
    vm: bool = False
    gateway: str = ""  # the gateway's domain; "" if the node is no gateway


NO_CAPABILITIES = Capabilities()


@dataclass(frozen=True)
class FarmCreate:
    """Open a farm owned by the sender, locking `bond` credits from its account."""

    name: str
    payout: Address
    bond: int


@dataclass(frozen=True)
class FarmUpdate:
    """Rename a farm, change where it is paid, or add to its bond (`add_bond` may be 0)."""

    farm: int
    name: str
    payout: Address
    add_bond: int


@dataclass(frozen=True)
class FarmRemove:
    """Close a farm that has no nodes left; its bond goes back to the owner."""

    farm: int


@dataclass(frozen=True)
class NodeRegister:
    """Add a node to the sender's farm. `node_signature` is the node key's signature over
    node_consent_message(chain_id, farm, node_key): a key cannot be registered by someone
    else's farm."""

    farm: int
    node_key: bytes
    resources: Resources
    location: Location
    node_signature: bytes
    capabilities: Capabilities = NO_CAPABILITIES


@dataclass(frozen=True)
class NodeUpdate:
    node: int
    resources: Resources
    location: Location
    capabilities: Capabilities = NO_CAPABILITIES


@dataclass(frozen=True)
class NodeRemove:
    node: int


@dataclass(frozen=True)
class Heartbeat:
    """Sent by the node key: names a recent block, so it cannot be signed in advance."""

    node: int
    ref_height: int
    ref_hash: bytes


@dataclass(frozen=True)
class SpaceProof:
    """One chiapos proof: plot `plot_seed` (its id is bound to the farm owner) of size `k`
    answers the epoch's challenge number `challenge`."""

    plot_seed: bytes
    k: int
    challenge: int
    proof: bytes


@dataclass(frozen=True)
class StorageProofs:
    node: int
    epoch: int
    proofs: tuple[SpaceProof, ...]


@dataclass(frozen=True)
class ComputeCommit:
    """The Merkle root over `count` scrypt results for this epoch's compute challenge."""

    node: int
    epoch: int
    count: int
    root: bytes


@dataclass(frozen=True)
class Opening:
    """One committed result with its Merkle path, for a sampled index."""

    index: int
    result: bytes
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class ComputeReveal:
    node: int
    epoch: int
    openings: tuple[Opening, ...]


FarmPayload = (
    FarmCreate
    | FarmUpdate
    | FarmRemove
    | NodeRegister
    | NodeUpdate
    | NodeRemove
    | Heartbeat
    | StorageProofs
    | ComputeCommit
    | ComputeReveal
)
# Payloads the node key sends (the rest come from the farm owner; reward rates are changed by
# a council proposal, chain/governance/).
NODE_SENT = (Heartbeat, StorageProofs, ComputeCommit, ComputeReveal)


# Canonical values


def resources_to_value(r: Resources) -> list[int]:
    return [r.cores, r.memory_mb, r.ssd_gb, r.hdd_gb]


def location_to_value(loc: Location) -> list[Any]:
    return [loc.country, loc.city, loc.latitude, loc.longitude]


def capabilities_to_value(c: Capabilities) -> dict[str, Any]:
    return {"container": c.container, "vm": c.vm, "gateway": c.gateway}


# One codec per kind: its canonical value and back.


def _farm_create_to_value(payload: FarmCreate) -> dict[str, Any]:
    return {"name": payload.name, "payout": payload.payout.raw, "bond": payload.bond}


def _farm_create_from_value(value: Any) -> FarmCreate:
    f = expect_map(value, "farm_create", ("name", "payout", "bond"))
    return FarmCreate(
        _name(f["name"]),
        _address(f["payout"], "payout"),
        expect_int(f["bond"], "bond", 0, MAX_AMOUNT),
    )


def _farm_update_to_value(payload: FarmUpdate) -> dict[str, Any]:
    return {
        "farm": payload.farm,
        "name": payload.name,
        "payout": payload.payout.raw,
        "add_bond": payload.add_bond,
    }


def _farm_update_from_value(value: Any) -> FarmUpdate:
    f = expect_map(value, "farm_update", ("farm", "name", "payout", "add_bond"))
    return FarmUpdate(
        _id(f["farm"], "farm"),
        _name(f["name"]),
        _address(f["payout"], "payout"),
        expect_int(f["add_bond"], "add_bond", 0, MAX_AMOUNT),
    )


def _farm_remove_to_value(payload: FarmRemove) -> dict[str, Any]:
    return {"farm": payload.farm}


def _farm_remove_from_value(value: Any) -> FarmRemove:
    return FarmRemove(_id(expect_map(value, "farm_remove", ("farm",))["farm"], "farm"))


def _node_register_to_value(payload: NodeRegister) -> dict[str, Any]:
    return {
        "farm": payload.farm,
        "node_key": payload.node_key,
        "resources": resources_to_value(payload.resources),
        "location": location_to_value(payload.location),
        "node_signature": payload.node_signature,
        "capabilities": capabilities_to_value(payload.capabilities),
    }


def _node_register_from_value(value: Any) -> NodeRegister:
    f = expect_map(
        value,
        "node_register",
        ("farm", "node_key", "resources", "location", "node_signature", "capabilities"),
    )
    return NodeRegister(
        _id(f["farm"], "farm"),
        expect_bytes(f["node_key"], "node_key", PUBLIC_KEY_SIZE),
        resources_from_value(f["resources"]),
        location_from_value(f["location"]),
        expect_bytes(f["node_signature"], "node_signature", SIGNATURE_SIZE),
        capabilities_from_value(f["capabilities"]),
    )


def _node_update_to_value(payload: NodeUpdate) -> dict[str, Any]:
    return {
        "node": payload.node,
        "resources": resources_to_value(payload.resources),
        "location": location_to_value(payload.location),
        "capabilities": capabilities_to_value(payload.capabilities),
    }


def _node_update_from_value(value: Any) -> NodeUpdate:
    f = expect_map(value, "node_update", ("node", "resources", "location", "capabilities"))
    return NodeUpdate(
        _id(f["node"], "node"),
        resources_from_value(f["resources"]),
        location_from_value(f["location"]),
        capabilities_from_value(f["capabilities"]),
    )


def _node_remove_to_value(payload: NodeRemove) -> dict[str, Any]:
    return {"node": payload.node}


def _node_remove_from_value(value: Any) -> NodeRemove:
    return NodeRemove(_id(expect_map(value, "node_remove", ("node",))["node"], "node"))


def _heartbeat_to_value(payload: Heartbeat) -> dict[str, Any]:
    return {
        "node": payload.node,
        "ref_height": payload.ref_height,
        "ref_hash": payload.ref_hash,
    }


def _heartbeat_from_value(value: Any) -> Heartbeat:
    f = expect_map(value, "heartbeat", ("node", "ref_height", "ref_hash"))
    return Heartbeat(
        _id(f["node"], "node"),
        expect_int(f["ref_height"], "ref_height", 0, 2**63 - 1),
        expect_bytes(f["ref_hash"], "ref_hash", HASH_SIZE),
    )


def _storage_proofs_to_value(payload: StorageProofs) -> dict[str, Any]:
    return {
        "node": payload.node,
        "epoch": payload.epoch,
        "proofs": [[p.plot_seed, p.k, p.challenge, p.proof] for p in payload.proofs],
    }


def _storage_proofs_from_value(value: Any) -> StorageProofs:
    f = expect_map(value, "storage_proofs", ("node", "epoch", "proofs"))
    proofs = expect_list(f["proofs"], "proofs", MAX_PROOFS_PER_TX)
    if not proofs:
        raise EncodingError("storage_proofs carries no proof")
    return StorageProofs(
        _id(f["node"], "node"),
        expect_int(f["epoch"], "epoch"),
        tuple(space_proof_from_value(p, i) for i, p in enumerate(proofs)),
    )


def _compute_commit_to_value(payload: ComputeCommit) -> dict[str, Any]:
    return {
        "node": payload.node,
        "epoch": payload.epoch,
        "count": payload.count,
        "root": payload.root,
    }


def _compute_commit_from_value(value: Any) -> ComputeCommit:
    f = expect_map(value, "compute_commit", ("node", "epoch", "count", "root"))
    return ComputeCommit(
        _id(f["node"], "node"),
        expect_int(f["epoch"], "epoch"),
        expect_int(f["count"], "count", 1, MAX_COMPUTE_UNITS),
        expect_bytes(f["root"], "root", HASH_SIZE),
    )


def _compute_reveal_to_value(payload: ComputeReveal) -> dict[str, Any]:
    return {
        "node": payload.node,
        "epoch": payload.epoch,
        "openings": [[o.index, o.result, list(o.path)] for o in payload.openings],
    }


def _compute_reveal_from_value(value: Any) -> ComputeReveal:
    f = expect_map(value, "compute_reveal", ("node", "epoch", "openings"))
    return ComputeReveal(
        _id(f["node"], "node"),
        expect_int(f["epoch"], "epoch"),
        tuple(
            opening_from_value(o, i)
            for i, o in enumerate(expect_list(f["openings"], "openings", MAX_COMPUTE_SAMPLES))
        ),
    )


FARM_CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("farm_create", FarmCreate, _farm_create_to_value, _farm_create_from_value),
    PayloadCodec("farm_update", FarmUpdate, _farm_update_to_value, _farm_update_from_value),
    PayloadCodec("farm_remove", FarmRemove, _farm_remove_to_value, _farm_remove_from_value),
    PayloadCodec("node_register", NodeRegister, _node_register_to_value, _node_register_from_value),
    PayloadCodec("node_update", NodeUpdate, _node_update_to_value, _node_update_from_value),
    PayloadCodec("node_remove", NodeRemove, _node_remove_to_value, _node_remove_from_value),
    PayloadCodec("heartbeat", Heartbeat, _heartbeat_to_value, _heartbeat_from_value),
    PayloadCodec(
        "storage_proofs", StorageProofs, _storage_proofs_to_value, _storage_proofs_from_value
    ),
    PayloadCodec(
        "compute_commit", ComputeCommit, _compute_commit_to_value, _compute_commit_from_value
    ),
    PayloadCodec(
        "compute_reveal", ComputeReveal, _compute_reveal_to_value, _compute_reveal_from_value
    ),
)
FARM_CODECS_BY_KIND = {c.kind: c for c in FARM_CODECS}
FARM_PAYLOADS: dict[str, type[FarmPayload]] = {c.kind: c.cls for c in FARM_CODECS}
FARM_CODEC_OF_TYPE = {c.cls: c for c in FARM_CODECS}


def farm_payload_to_value(payload: FarmPayload) -> dict[str, Any]:
    return FARM_CODEC_OF_TYPE[type(payload)].to_value(payload)


def _id(value: Any, what: str) -> int:
    return expect_int(value, what, 1, MAX_ID)


def _address(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, RAW_SIZE))


def _name(value: Any) -> str:
    name = expect_text(value, "farm name", MAX_NAME)
    if not name or not name.isprintable() or name != name.strip():
        raise EncodingError("farm name must be 1-64 printable characters without outer spaces")
    return name


def resources_from_value(value: Any) -> Resources:
    cores, memory, ssd, hdd = expect_fixed_list(
        value, "resources [cores, memory_mb, ssd_gb, hdd_gb]", 4
    )
    return Resources(
        cores=expect_int(cores, "cores", 1, MAX_CORES),
        memory_mb=expect_int(memory, "memory_mb", 1, MAX_MEMORY_MB),
        ssd_gb=expect_int(ssd, "ssd_gb", 0, MAX_DISK_GB),
        hdd_gb=expect_int(hdd, "hdd_gb", 0, MAX_DISK_GB),
    )


def location_from_value(value: Any) -> Location:
    country, city, lat, lon = expect_fixed_list(
        value, "location [country, city, latitude, longitude]", 4
    )
    code = expect_text(country, "country", 2)
    if len(code) != 2 or not ("A" <= code[0] <= "Z" and "A" <= code[1] <= "Z"):
        raise EncodingError(f"country {code!r} must be an ISO 3166 alpha-2 code such as 'BE'")
    town = expect_text(city, "city", MAX_NAME)
    if not town or not town.isprintable():
        raise EncodingError("city must be 1-64 printable characters")
    return Location(
        code,
        town,
        expect_int(lat, "latitude (millionths of a degree)", -90 * MICRODEGREES, 90 * MICRODEGREES),
        expect_int(
            lon, "longitude (millionths of a degree)", -180 * MICRODEGREES, 180 * MICRODEGREES
        ),
    )


def space_proof_from_value(value: Any, i: int) -> SpaceProof:
    seed, k, challenge, proof = expect_fixed_list(
        value, f"proof {i} [plot_seed, k, challenge, proof]", 4
    )
    size = expect_int(k, f"proof {i} k", MIN_PLOT_K, MAX_PLOT_K)
    return SpaceProof(
        plot_seed=expect_bytes(seed, f"proof {i} plot_seed", HASH_SIZE),
        k=size,
        challenge=expect_int(challenge, f"proof {i} challenge", 0, MAX_STORAGE_CHALLENGES - 1),
        proof=expect_bytes(proof, f"proof {i}", 8 * size),
    )


def opening_from_value(value: Any, i: int) -> Opening:
    index, result, path = expect_fixed_list(value, f"opening {i} [index, result, path]", 3)
    return Opening(
        index=expect_int(index, f"opening {i} index", 0, MAX_COMPUTE_UNITS - 1),
        result=expect_bytes(result, f"opening {i} result", HASH_SIZE),
        path=tuple(
            expect_bytes(h, f"opening {i} path hash", HASH_SIZE)
            for h in expect_list(path, f"opening {i} path", MAX_MERKLE_PATH)
        ),
    )


def farm_payload_from_value(kind: str, value: Any) -> FarmPayload:
    codec = FARM_CODECS_BY_KIND.get(kind)
    if codec is None:
        raise EncodingError(f"unknown transaction type {kind!r}")
    payload: FarmPayload = codec.from_value(value)
    return payload


def farm_payload_to_json(payload: FarmPayload) -> dict[str, Any]:
    """Readable view: addresses with checksums, bytes in hex."""
    value = farm_payload_to_value(payload)
    return {name: _json(item) for name, item in value.items()} | _json_extras(payload)


def _json(item: Any) -> Any:
    if isinstance(item, bytes):
        return item.hex()
    if isinstance(item, list):
        return [_json(i) for i in item]
    return item


def _json_extras(payload: FarmPayload) -> dict[str, Any]:
    if isinstance(payload, FarmCreate | FarmUpdate):
        return {"payout": str(payload.payout)}
    if isinstance(payload, NodeRegister | NodeUpdate):
        return {
            "resources": resources_to_json(payload.resources),
            "location": location_to_json(payload.location),
        }
    return {}


DOMAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def capabilities_from_value(value: Any) -> Capabilities:
    f = expect_map(value, "capabilities", ("container", "vm", "gateway"))
    domain = expect_text(f["gateway"], "gateway domain", 253)
    if domain and not all(DOMAIN_LABEL.fullmatch(label) for label in domain.split(".")):
        raise EncodingError(f"gateway domain {domain!r} is not a lower-case DNS name")
    return Capabilities(
        expect_bool(f["container"], "capabilities.container"),
        expect_bool(f["vm"], "capabilities.vm"),
        domain,
    )


def capability_names(c: Capabilities) -> tuple[str, ...]:
    """The node's capabilities by name, in a fixed order (the node index's lists)."""
    names = (("container", c.container), ("vm", c.vm), ("gateway", bool(c.gateway)))
    return tuple(name for name, has in names if has)


def resources_to_json(r: Resources) -> dict[str, int]:
    return {"cores": r.cores, "memory_mb": r.memory_mb, "ssd_gb": r.ssd_gb, "hdd_gb": r.hdd_gb}


def location_to_json(loc: Location) -> dict[str, Any]:
    return {
        "country": loc.country,
        "city": loc.city,
        "latitude": loc.latitude,
        "longitude": loc.longitude,
    }


def capabilities_to_json(c: Capabilities) -> dict[str, Any]:
    return {"container": c.container, "vm": c.vm, "gateway": c.gateway or None}
