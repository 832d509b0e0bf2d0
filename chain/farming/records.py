"""Farming records in the state: farms, nodes, each node's activity this epoch, plot claims,
the current epoch and the recent block hashes challenges are drawn from.

Ids are sequential integers (as tfchain's), handed out by the COUNTERS_KEY record. A node's
activity is one record that starts over when a new epoch's first transaction touches it, so an
epoch's settlement reads one record per node and writes none of them.
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
    expect_map,
    expect_text,
    stored_record,
)
from chain.errors import EncodingError
from chain.farming.txs import (
    MAX_ID,
    NO_CAPABILITIES,
    Capabilities,
    Location,
    Resources,
    capabilities_from_value,
    capabilities_to_json,
    capabilities_to_value,
    location_from_value,
    location_to_json,
    location_to_value,
    resources_from_value,
    resources_to_json,
    resources_to_value,
)
from chain.hashing import HASH_SIZE, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE
from chain.params import RECENT_HASHES
from chain.state import MAX_BALANCE, MAX_HEIGHT, StateReader

NO_EPOCH = -1

# Compute states of a node's epoch
NONE, COMMITTED, VERIFIED, FAILED = "none", "committed", "verified", "failed"
COMPUTE_STATES = (NONE, COMMITTED, VERIFIED, FAILED)


@dataclass(frozen=True)
class Farm:
    id: int
    owner: Address
    payout: Address
    bond: int
    name: str
    nodes: int = 0
    slashed_epoch: int = NO_EPOCH  # the last epoch a wrong compute answer cost it its bond


@dataclass(frozen=True)
class FarmNode:
    """A machine a farm registered: its key, what it declares, where it is."""

    id: int
    farm: int
    key: bytes
    resources: Resources
    location: Location
    registered_height: int
    capabilities: Capabilities = NO_CAPABILITIES


@dataclass(frozen=True)
class Activity:
    """What a node did in `epoch`: heartbeats, proven space, and its compute challenge."""

    epoch: int
    heartbeats: int = 0
    last_slot: int = NO_EPOCH
    space: int = 0  # sum of plot_bytes(k) over its valid proofs
    proofs: int = 0
    compute: str = NONE
    commit_height: int = 0
    count: int = 0
    root: bytes = b""


@dataclass(frozen=True)
class PlotClaim:
    """Which node proved a plot this epoch, and which challenges it answered (a bit each)."""

    epoch: int
    node: int
    challenges: int


@dataclass(frozen=True)
class EpochInfo:
    """The running epoch: its first height and seed (the hash of the block before it)."""

    epoch: int
    start: int
    seed: bytes


COUNTERS_KEY = tagged_hash(b"gc/state/farm-counters", b"")
EPOCH_KEY = tagged_hash(b"gc/state/epoch", b"")
RECENT_HASHES_KEY = tagged_hash(b"gc/state/recent-hashes", b"")


def farm_key(farm: int) -> bytes:
    return tagged_hash(b"gc/state/farm", farm.to_bytes(8, "big"))


def node_key(node: int) -> bytes:
    return tagged_hash(b"gc/state/node", node.to_bytes(8, "big"))


def node_by_key_key(public_key: bytes) -> bytes:
    return tagged_hash(b"gc/state/node-by-key", public_key)


def activity_key(node: int) -> bytes:
    return tagged_hash(b"gc/state/activity", node.to_bytes(8, "big"))


def last_seen_key(node: int) -> bytes:
    return tagged_hash(b"gc/state/seen", node.to_bytes(8, "big"))


def plot_claim_key(plot: bytes) -> bytes:
    return tagged_hash(b"gc/state/plot", plot)


# Codecs


def encode_farm(farm: Farm) -> bytes:
    fields = [farm.id, farm.owner.raw, farm.payout.raw, farm.bond, farm.name, farm.nodes]
    return encode([*fields, farm.slashed_epoch + 1])


@stored_record("farm record")
def decode_farm(data: bytes) -> Farm:
    f = expect_fixed_list(decode_stored(data), "farm record", 7)
    return Farm(
        id=expect_int(f[0], "farm id", 1, MAX_ID),
        owner=Address(expect_bytes(f[1], "farm owner", RAW_SIZE)),
        payout=Address(expect_bytes(f[2], "farm payout", RAW_SIZE)),
        bond=expect_int(f[3], "farm bond", 0, MAX_BALANCE),
        name=expect_text(f[4], "farm name", 64),
        nodes=expect_int(f[5], "farm nodes", 0, MAX_ID),
        slashed_epoch=expect_int(f[6], "farm slashed epoch") - 1,
    )


def encode_node(node: FarmNode) -> bytes:
    return encode(
        [
            node.id,
            node.farm,
            node.key,
            resources_to_value(node.resources),
            location_to_value(node.location),
            node.registered_height,
            capabilities_to_value(node.capabilities),
        ]
    )


@stored_record("node record")
def decode_node(data: bytes) -> FarmNode:
    f = expect_fixed_list(decode_stored(data), "node record", 7)
    return FarmNode(
        id=expect_int(f[0], "node id", 1, MAX_ID),
        farm=expect_int(f[1], "node farm", 1, MAX_ID),
        key=expect_bytes(f[2], "node key", PUBLIC_KEY_SIZE),
        resources=resources_from_value(f[3]),
        location=location_from_value(f[4]),
        registered_height=expect_int(f[5], "node registered height", 0, MAX_HEIGHT),
        capabilities=capabilities_from_value(f[6]),
    )


def encode_activity(a: Activity) -> bytes:
    fields = [a.epoch, a.heartbeats, a.last_slot + 1, a.space, a.proofs, a.compute]
    return encode([*fields, a.commit_height, a.count, a.root])


@stored_record("activity record")
def decode_activity(data: bytes) -> Activity:
    f = expect_fixed_list(decode_stored(data), "activity record", 9)
    compute = expect_text(f[5], "compute state", 16)
    if compute not in COMPUTE_STATES:
        raise EncodingError(f"compute state {compute!r} is unknown")
    return Activity(
        epoch=expect_int(f[0], "activity epoch"),
        heartbeats=expect_int(f[1], "heartbeats"),
        last_slot=expect_int(f[2], "last slot") - 1,
        space=expect_int(f[3], "proven space"),
        proofs=expect_int(f[4], "proofs"),
        compute=compute,
        commit_height=expect_int(f[6], "commit height"),
        count=expect_int(f[7], "unit count"),
        root=expect_bytes(f[8], "commit root", max_size=HASH_SIZE),
    )


def encode_plot_claim(c: PlotClaim) -> bytes:
    return encode([c.epoch, c.node, c.challenges.to_bytes(32, "big")])


@stored_record("plot claim record")
def decode_plot_claim(data: bytes) -> PlotClaim:
    f = expect_fixed_list(decode_stored(data), "plot claim record", 3)
    return PlotClaim(
        expect_int(f[0], "claim epoch"),
        expect_int(f[1], "claim node", 1, MAX_ID),
        int.from_bytes(expect_bytes(f[2], "claimed challenges", 32), "big"),
    )


def encode_epoch(e: EpochInfo) -> bytes:
    return encode([e.epoch, e.start, e.seed])


@stored_record("epoch record")
def decode_epoch(data: bytes) -> EpochInfo:
    f = expect_fixed_list(decode_stored(data), "epoch record", 3)
    return EpochInfo(
        expect_int(f[0], "epoch"),
        expect_int(f[1], "epoch start", 1, MAX_HEIGHT),
        expect_bytes(f[2], "epoch seed", HASH_SIZE),
    )


def encode_recent(hashes: tuple[tuple[int, bytes], ...]) -> bytes:
    return encode([[height, block_hash] for height, block_hash in hashes])


@stored_record("recent hashes")
def decode_recent(data: bytes) -> tuple[tuple[int, bytes], ...]:
    items = expect_list(decode_stored(data), "recent hashes", RECENT_HASHES)
    return tuple(
        (
            expect_int(
                expect_fixed_list(item, "recent hash record", 2)[0], "recent height", 0, MAX_HEIGHT
            ),
            expect_bytes(item[1], "recent hash", HASH_SIZE),
        )
        for item in items
    )


# Reads


@stored_record("farm counters")
def read_counters(reader: StateReader) -> tuple[int, int]:
    """The next farm id and the next node id."""
    raw = reader.get_state(COUNTERS_KEY)
    if raw is None:
        return 1, 1
    f = expect_map(decode_stored(raw), "farm counters", ("farm", "node"))
    return expect_int(f["farm"], "next farm", 1), expect_int(f["node"], "next node", 1)


def counters_record(next_farm: int, next_node: int) -> bytes:
    return encode({"farm": next_farm, "node": next_node})


def read_farm(reader: StateReader, farm: int) -> Farm | None:
    raw = reader.get_state(farm_key(farm))
    return None if raw is None else decode_farm(raw)


def read_node(reader: StateReader, node: int) -> FarmNode | None:
    raw = reader.get_state(node_key(node))
    return None if raw is None else decode_node(raw)


def node_id_by_key(reader: StateReader, public_key: bytes) -> int | None:
    raw = reader.get_state(node_by_key_key(public_key))
    return None if raw is None else int.from_bytes(raw, "big")


def read_activity(reader: StateReader, node: int, epoch: int) -> Activity:
    """The node's activity in `epoch` (empty if its record is from an earlier epoch)."""
    raw = reader.get_state(activity_key(node))
    if raw is None:
        return Activity(epoch)
    activity = decode_activity(raw)
    return activity if activity.epoch == epoch else Activity(epoch)


def read_last_seen(reader: StateReader, node: int) -> int | None:
    """The height of the block holding the node's latest heartbeat (None: never seen). Unlike
    the activity record it outlives the epoch, so a node is up or down at every height."""
    raw = reader.get_state(last_seen_key(node))
    return None if raw is None else int.from_bytes(raw, "big")


def last_seen_record(height: int) -> bytes:
    return height.to_bytes(8, "big")


def read_plot_claim(reader: StateReader, plot: bytes, epoch: int) -> PlotClaim | None:
    raw = reader.get_state(plot_claim_key(plot))
    if raw is None:
        return None
    claim = decode_plot_claim(raw)
    return claim if claim.epoch == epoch else None


def read_epoch(reader: StateReader) -> EpochInfo | None:
    raw = reader.get_state(EPOCH_KEY)
    return None if raw is None else decode_epoch(raw)


def read_recent_hashes(reader: StateReader) -> tuple[tuple[int, bytes], ...]:
    raw = reader.get_state(RECENT_HASHES_KEY)
    return () if raw is None else decode_recent(raw)


def recent_hash(reader: StateReader, height: int) -> bytes | None:
    """The hash of block `height` if it is among the last RECENT_HASHES blocks."""
    for h, block_hash in read_recent_hashes(reader):
        if h == height:
            return block_hash
    return None


# Views


def farm_to_json(farm: Farm) -> dict[str, Any]:
    return {
        "id": farm.id,
        "name": farm.name,
        "owner": str(farm.owner),
        "payout": str(farm.payout),
        "bond": farm.bond,
        "nodes": farm.nodes,
        "slashed_epoch": None if farm.slashed_epoch == NO_EPOCH else farm.slashed_epoch,
    }


def node_to_json(node: FarmNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "farm": node.farm,
        "key": node.key.hex(),
        "resources": resources_to_json(node.resources),
        "location": location_to_json(node.location),
        "registered_height": node.registered_height,
        "capabilities": capabilities_to_json(node.capabilities),
    }


def activity_to_json(a: Activity) -> dict[str, Any]:
    return {
        "epoch": a.epoch,
        "heartbeats": a.heartbeats,
        "proofs": a.proofs,
        "space": a.space,
        "compute": a.compute,
        "commit_height": a.commit_height or None,
        "units": a.count,
    }
