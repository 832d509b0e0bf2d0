"""The audit log: one append-only Certificate Transparency tree over every contract event.

Every event of a successful contract call (a workload request, a signature, an authorization,
a state change, a usage report, a bill) is an entry. Entries are hashed as RFC 9162 leaves
(chain/merkle.py); each header commits to the log's size and root after its block, so the
validators' commit is a signed tree head, and any entry can be proven against any later header
with an inclusion proof, any header against a later one with a consistency proof.

The state keeps only the frontier (the roots of the perfect subtrees that make up the log,
largest first): enough to append and to compute the root, O(log n) in size. The store keeps the
entries and every complete subtree hash, so proofs are O(log n) reads (chain/store.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chain.address import RAW_SIZE, Address, parse_address
from chain.encoding import (
    decode_stored,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
    stored_record,
)
from chain.errors import EncodingError
from chain.hashing import HASH_SIZE, tagged_hash
from chain.merkle import EMPTY_ROOT, leaf_hash, node_hash

AUDIT_KEY = tagged_hash(b"gc/state/audit", b"")
MAX_TOPIC = 64
MAX_DATA = 8 * 1024  # the VM's largest bytes value
ENTRY_FIELDS = ("height", "tx_index", "tx_id", "contract", "topic", "data")
BLOCK_STEP = 2**32 - 1  # the tx_index of the entries a block's own steps make (no transaction)
NO_TX = bytes(HASH_SIZE)  # their tx_id


@dataclass(frozen=True)
class AuditEntry:
    height: int
    tx_index: int
    tx_id: bytes
    contract: bytes  # raw address of the contract that emitted it
    topic: str
    data: bytes


def entry_to_value(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


def encode_entry(entry: AuditEntry) -> bytes:
    """The entry's canonical bytes: what its leaf hashes."""
    return encode(entry_to_value(entry))


@stored_record("audit entry")
def decode_entry(data: bytes) -> AuditEntry:
    return entry_from_value(decode_stored(data))


def entry_from_value(value: Any) -> AuditEntry:
    """An entry from its decoded value: a record this node stored (decode_entry) or bytes
    from outside, decoded strictly by the caller (an auditor's tools)."""
    f = expect_map(value, "audit entry", ENTRY_FIELDS)
    return AuditEntry(
        height=expect_int(f["height"], "entry height"),
        tx_index=expect_int(f["tx_index"], "entry tx_index"),
        tx_id=expect_bytes(f["tx_id"], "entry tx_id", HASH_SIZE),
        contract=expect_bytes(f["contract"], "entry contract", RAW_SIZE),
        topic=expect_text(f["topic"], "entry topic", MAX_TOPIC),
        data=expect_bytes(f["data"], "entry data", None, MAX_DATA),
    )


def entry_leaf(entry: AuditEntry) -> bytes:
    return leaf_hash(encode_entry(entry))


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "height": entry.height,
        "tx_index": entry.tx_index,
        "tx_id": entry.tx_id.hex(),
        "contract": str(Address(entry.contract)),
        "topic": entry.topic,
        "data": entry.data.hex(),
    }


def entry_from_json(view: Any) -> AuditEntry:
    """Rebuild an entry from its JSON view (for offline verification); EncodingError if bad."""
    if not isinstance(view, dict):
        raise EncodingError("audit entry is not a JSON object")
    try:
        return AuditEntry(
            height=int(view["height"]),
            tx_index=int(view["tx_index"]),
            tx_id=bytes.fromhex(view["tx_id"]),
            contract=parse_address(view["contract"]).raw,
            topic=str(view["topic"]),
            data=bytes.fromhex(view["data"]),
        )
    except (KeyError, TypeError, ValueError):
        raise EncodingError("audit entry is missing a field or has a malformed one") from None


# The frontier (in the state)


@dataclass(frozen=True)
class AuditFrontier:
    """Roots of the perfect subtrees of the log, largest first (one per bit of size)."""

    size: int = 0
    peaks: tuple[bytes, ...] = ()


def append(frontier: AuditFrontier, leaves: Sequence[bytes]) -> AuditFrontier:
    """The frontier after appending `leaves` (leaf hashes), like a binary counter."""
    size, peaks = frontier.size, list(frontier.peaks)
    for leaf in leaves:
        node, height = leaf, 0
        while (size >> height) & 1:  # merge with equal-sized subtrees on the right edge
            node = node_hash(peaks.pop(), node)
            height += 1
        peaks.append(node)
        size += 1
    return AuditFrontier(size, tuple(peaks))


def peak_levels(size: int) -> list[int]:
    """The level of each peak of a log of `size` entries, largest first (a peak of level L
    covers 2**L entries, and begins where the larger ones before it end)."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if (size >> level) & 1]


def frontier_root(frontier: AuditFrontier) -> bytes:
    """MTH of the whole log: fold the peaks from the right (RFC 9162's left-balanced tree)."""
    if not frontier.peaks:
        return EMPTY_ROOT
    root = frontier.peaks[-1]
    for peak in reversed(frontier.peaks[:-1]):
        root = node_hash(peak, root)
    return root


def encode_frontier(frontier: AuditFrontier) -> bytes:
    return encode([frontier.size, list(frontier.peaks)])


@stored_record("audit frontier")
def decode_frontier(data: bytes) -> AuditFrontier:
    size, peaks = expect_list(decode_stored(data), "audit frontier", 2)
    frontier = AuditFrontier(
        expect_int(size, "audit size"),
        tuple(expect_bytes(p, "audit peak", HASH_SIZE) for p in expect_list(peaks, "peaks", 64)),
    )
    if len(frontier.peaks) != bin(frontier.size).count("1"):
        raise EncodingError("audit frontier has the wrong number of peaks for its size")
    return frontier


# Proofs from stored subtree hashes: node(level, index) covers leaves
# [index * 2**level, (index + 1) * 2**level), and exists once they are all appended.

NodeSource = Callable[[int, int], bytes]


def complete_nodes(
    first_index: int, leaves: Sequence[bytes], get: NodeSource
) -> dict[tuple[int, int], bytes]:
    """Every subtree hash that appending `leaves` at `first_index` completes, leaves included."""
    new: dict[tuple[int, int], bytes] = {}

    def lookup(level: int, index: int) -> bytes:
        return new[(level, index)] if (level, index) in new else get(level, index)

    for offset, leaf in enumerate(leaves):
        position = first_index + offset
        new[(0, position)] = leaf
        level, index = 0, position
        while index & 1:
            new[(level + 1, index >> 1)] = node_hash(lookup(level, index - 1), lookup(level, index))
            level, index = level + 1, index >> 1
    return new


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(get: NodeSource, start: int, size: int) -> bytes:
    """MTH of leaves [start, start + size) where start is a multiple of the largest power of
    two <= size (true of every subtree RFC 9162's proofs use)."""
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return get(level, start >> level)
    k = _largest_power_below(size)
    return node_hash(range_hash(get, start, k), range_hash(get, start + k, size - k))


def inclusion_proof(get: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a log of size {size}")
    return _path(get, index, 0, size)


def _path(get: NodeSource, m: int, start: int, n: int) -> list[bytes]:
    if n == 1:
        return []
    k = _largest_power_below(n)
    if m < k:
        return [*_path(get, m, start, k), range_hash(get, start + k, n - k)]
    return [*_path(get, m - k, start + k, n - k), range_hash(get, start, k)]


def consistency_proof(get: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 2.1.4.1."""
    if not 0 <= first <= second:
        raise ValueError(f"sizes {first} and {second} are not 0 <= first <= second")
    if first in (0, second):
        return []
    return _subproof(get, first, 0, second, True)


def _subproof(get: NodeSource, m: int, start: int, n: int, complete: bool) -> list[bytes]:
    if m == n:
        return [] if complete else [range_hash(get, start, n)]
    k = _largest_power_below(n)
    if m <= k:
        return [*_subproof(get, m, start, k, complete), range_hash(get, start + k, n - k)]
    return [*_subproof(get, m - k, start + k, n - k, False), range_hash(get, start, k)]
