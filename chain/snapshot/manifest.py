"""A snapshot's manifest: the state of one height cut into chunks, and what each chunk holds.

State sync (a node that joins late starts from a recent state instead of replaying every
block) trusts nothing a peer says: the records are cut by the first `bits` bits of their keys
into 2**bits chunks, and the manifest names each chunk's subtree of the sparse Merkle tree (its
root and how many records it holds). The subtrees join into the state root (`smt.join`), so a
manifest is checked against a header the joining node's light client verified, and each chunk
against its line in the manifest as it arrives (chain/snapshot/chunks.py): a peer that serves
one wrong record is caught at that chunk.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain import smt
from chain.blocks.header import Header, header_from_value, header_to_value
from chain.encoding import (
    decode,
    encode,
    expect_bytes,
    expect_fixed_list,
    expect_int,
    expect_list,
    expect_map,
)
from chain.errors import InvalidSnapshot
from chain.hashing import HASH_SIZE, ZERO_HASH, hash32

MAX_BITS = 16  # at most 65,536 chunks
RECORDS_PER_CHUNK = 1024  # what a snapshot aims at: chunks of about 100 KiB
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # 65,536 chunks of 40 bytes, and room
# The headers before a snapshot's height a joining node is served: the proposer election reads
# the hashes of the 256 blocks below a height (consensus/election.py's stake modifier).
EARLIER_HEADERS = 256
MAX_HEADERS_BYTES = EARLIER_HEADERS * 4096


@dataclass(frozen=True)
class Manifest:
    height: int
    state_root: bytes
    bits: int
    chunks: tuple[smt.Subtree, ...]  # 2**bits of them, in key order

    @property
    def hash(self) -> bytes:
        """What peers that serve the same snapshot agree on."""
        return hash32(encode_manifest(self))

    @property
    def records(self) -> int:
        return sum(chunk.count for chunk in self.chunks)


def chunk_bits(records: int) -> int:
    """How finely a snapshot of `records` records is cut: about RECORDS_PER_CHUNK a chunk (the
    keys are hashes, so chunks are even)."""
    return min(MAX_BITS, (records // RECORDS_PER_CHUNK).bit_length())


def manifest_to_value(manifest: Manifest) -> dict[str, Any]:
    return {
        "height": manifest.height,
        "state_root": manifest.state_root,
        "bits": manifest.bits,
        "chunks": [[chunk.root, chunk.count] for chunk in manifest.chunks],
    }


def encode_manifest(manifest: Manifest) -> bytes:
    return encode(manifest_to_value(manifest))


def decode_manifest(data: bytes) -> Manifest:
    """Parse a manifest from a peer; raises EncodingError (its shape) or InvalidSnapshot."""
    f = expect_map(
        decode(data, MAX_MANIFEST_BYTES), "manifest", ("height", "state_root", "bits", "chunks")
    )
    bits = expect_int(f["bits"], "manifest bits", 0, MAX_BITS)
    items = expect_list(f["chunks"], "manifest chunks", 1 << MAX_BITS)
    if len(items) != 1 << bits:
        raise InvalidSnapshot(f"a manifest of {bits} bits lists {len(items)} chunks")
    chunks = []
    for index, item in enumerate(items):
        root, count = expect_fixed_list(item, f"manifest chunk {index}", 2)
        chunk = smt.Subtree(
            expect_bytes(root, f"chunk {index} root", HASH_SIZE),
            expect_int(count, f"chunk {index} records"),
        )
        if (chunk.count == 0) != (chunk.root == ZERO_HASH):
            raise InvalidSnapshot(f"chunk {index}: {chunk.count} records under its root")
        chunks.append(chunk)
    return Manifest(
        expect_int(f["height"], "manifest height", 1),
        expect_bytes(f["state_root"], "manifest state root", HASH_SIZE),
        bits,
        tuple(chunks),
    )


def check_manifest(manifest: Manifest, header: Header) -> None:
    """The manifest is of `header`'s height and its chunks join into `header`'s state root."""
    if manifest.height != header.height:
        raise InvalidSnapshot(f"the manifest is of height {manifest.height}, not {header.height}")
    if manifest.state_root != header.state_root:
        raise InvalidSnapshot(
            f"the manifest names state root {manifest.state_root.hex()}; block {header.height} "
            f"has {header.state_root.hex()}"
        )
    root, _ = smt.join(manifest.chunks)
    if root != header.state_root:
        raise InvalidSnapshot(
            f"the manifest's chunks make state root {root.hex()}, not block {header.height}'s"
        )


def encode_headers(headers: Sequence[Header]) -> bytes:
    return encode([header_to_value(header) for header in headers])


def decode_headers(data: bytes) -> tuple[Header, ...]:
    items = expect_list(decode(data, MAX_HEADERS_BYTES), "headers", EARLIER_HEADERS)
    return tuple(header_from_value(item) for item in items)


def earlier_hashes(headers: Sequence[Header], trusted: Header) -> dict[int, bytes]:
    """The hashes of the blocks before `trusted`, from `headers` (oldest first, ending at the
    one before it), each checked as the parent named by the header after it."""
    hashes = {}
    child = trusted
    for header in reversed(headers):
        if header.height != child.height - 1 or header.hash != child.prev_hash:
            raise InvalidSnapshot(
                f"header {header.height} is not the parent of block {child.height}"
            )
        hashes[header.height] = header.hash
        child = header
    wanted = min(EARLIER_HEADERS, trusted.height)
    if len(hashes) != wanted:
        raise InvalidSnapshot(f"{len(hashes)} headers before block {trusted.height}, not {wanted}")
    return hashes
