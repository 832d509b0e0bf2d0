"""A snapshot's chunks: the state records under one key prefix, checked against the manifest.

A chunk is the records (key, value) whose keys begin with its index's `bits` bits, in key
order. A node that joins checks each one as it arrives: the keys in order and under the prefix,
and the subtree they make (`smt.subtree`, values hashed as the state tree hashes them) the one
the verified manifest names. The nodes of that subtree are what the joining node stores, so its
tree is the tree of the chain, node for node.
"""

from collections.abc import Iterable, Iterator, Sequence

from chain import smt
from chain.encoding import decode, encode, expect_bytes, expect_fixed_list, expect_list
from chain.errors import InvalidSnapshot
from chain.hashing import HASH_SIZE, hash32
from chain.snapshot.manifest import Manifest

MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_CHUNK_RECORDS = 1 << 20

Record = tuple[bytes, bytes]  # a state key and its record's bytes


def chunk_index(key: bytes, bits: int) -> int:
    return int.from_bytes(key, "big") >> (smt.KEY_BITS - bits)


def encode_chunk(records: Sequence[Record]) -> bytes:
    return encode([[key, value] for key, value in records])


def decode_chunk(data: bytes) -> tuple[Record, ...]:
    """Parse a chunk from a peer (its shape only: `check_chunk` says whether it is right)."""
    items = expect_list(decode(data, MAX_CHUNK_BYTES), "chunk", MAX_CHUNK_RECORDS)
    records = []
    for index, item in enumerate(items):
        key, value = expect_fixed_list(item, f"chunk record {index}", 2)
        records.append(
            (
                expect_bytes(key, f"chunk record {index} key", HASH_SIZE),
                expect_bytes(value, f"chunk record {index} value", max_size=MAX_RECORD_BYTES),
            )
        )
    return tuple(records)


def check_chunk(manifest: Manifest, index: int, records: Sequence[Record]) -> dict[bytes, bytes]:
    """Check chunk `index` against the verified `manifest`; returns its tree nodes to store."""
    if not 0 <= index < len(manifest.chunks):
        raise InvalidSnapshot(f"the snapshot has no chunk {index}")
    expected = manifest.chunks[index]
    if len(records) != expected.count:
        raise InvalidSnapshot(
            f"chunk {index} holds {len(records)} records; the manifest says {expected.count}"
        )
    previous = b""
    for key, _ in records:
        if key <= previous:
            raise InvalidSnapshot(f"chunk {index}: key {key.hex()} is out of order or repeated")
        if chunk_index(key, manifest.bits) != index:
            raise InvalidSnapshot(f"chunk {index}: key {key.hex()} belongs to another chunk")
        previous = key
    made, nodes = smt.subtree(index, manifest.bits, {k: hash32(v) for k, v in records})
    if made.root != expected.root:
        raise InvalidSnapshot(
            f"chunk {index}'s records make subtree {made.root.hex()}; the manifest says "
            f"{expected.root.hex()}"
        )
    return nodes


def cut_into_chunks(records: Iterable[Record], bits: int) -> Iterator[tuple[Record, ...]]:
    """Every chunk of a snapshot, in order (empty ones too), from records in key order."""
    index, current = 0, list[Record]()
    for key, value in records:
        at = chunk_index(key, bits)
        if at < index:
            raise ValueError(f"record {key.hex()} is out of key order")
        while index < at:
            yield tuple(current)
            index, current = index + 1, []
        current.append((key, value))
    while index < 1 << bits:
        yield tuple(current)
        index, current = index + 1, []


def chunk_subtree(index: int, bits: int, records: Sequence[Record]) -> smt.Subtree:
    """The manifest's line for a chunk the snapshot's maker cut."""
    return smt.subtree(index, bits, {key: hash32(value) for key, value in records})[0]
