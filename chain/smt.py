"""Authenticated state: a sparse Merkle tree over 256-bit keys with leaf shortcuts.

The tree is the Jellyfish/Diem layout. A key's path is its bits, most significant bit of byte 0
first, 0 going left. An empty subtree hashes to ZERO_HASH and a subtree that holds exactly one
leaf is replaced by that leaf, so a leaf sits at the shallowest depth where its path is unique.
The shape, and so the root, depends only on the set of (key, value_hash) pairs, never on the
order of the writes that produced it.

Nodes are content-addressed and never changed, so every old root stays readable and provable:

    leaf:     0x00 || key(32) || value_hash(32)
    internal: 0x01 || left_hash(32) || right_hash(32)

`update` applies a whole batch in one descent of the tree and returns the nodes it created for
the caller to write; nothing here writes storage.
"""

from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from chain.errors import InvalidProof, StoreError
from chain.hashing import HASH_SIZE, ZERO_HASH, hash32

__all__ = [
    "EMPTY_ROOT",
    "KEY_BITS",
    "NodeReader",
    "Proof",
    "Subtree",
    "check_proof",
    "get",
    "join",
    "leaf_hash",
    "prove",
    "subtree",
    "update",
    "verify",
]

KEY_BITS = 256
EMPTY_ROOT = ZERO_HASH

LEAF_TAG = b"\x00"
INTERNAL_TAG = b"\x01"
NODE_SIZE = 1 + 2 * HASH_SIZE


class NodeReader(Protocol):
    """Read access to the content-addressed node store."""

    def get_node(self, node_hash: bytes) -> bytes | None: ...


def leaf_hash(key: bytes, value_hash: bytes) -> bytes:
    """Hash of the leaf holding `key`; it does not depend on the depth the leaf sits at."""
    return hash32(LEAF_TAG + key + value_hash)


def _check_key(key: bytes) -> None:
    if len(key) != HASH_SIZE:
        raise ValueError(f"key must be {HASH_SIZE} bytes, got {len(key)}")


def _load(reader: NodeReader, node_hash: bytes) -> bytes:
    """The encoding of a referenced node; a missing or malformed one means a broken store."""
    encoding = reader.get_node(node_hash)
    if encoding is None:
        raise StoreError(f"state node {node_hash.hex()} is missing")
    if len(encoding) != NODE_SIZE or encoding[0] > 1:
        raise StoreError(f"state node {node_hash.hex()} is malformed")
    return encoding


# --- batched update ------------------------------------------------------------------------------


def update(
    reader: NodeReader, root: bytes, changes: Mapping[bytes, bytes | None]
) -> tuple[bytes, dict[bytes, bytes]]:
    """Apply `changes` (key -> new value_hash, None deletes) to the tree at `root`.

    Keys are sorted once and the tree is descended once: at each internal node the sorted run of
    keys below it is split by one bisection, so every affected node is read and rebuilt exactly
    once. Returns the new root and every node created (hash -> encoding).
    """
    keys = sorted(changes)
    values: list[bytes | None] = []
    for key in keys:
        _check_key(key)
        value = changes[key]
        if value is not None and len(value) != HASH_SIZE:
            raise ValueError(f"value hash for key {key.hex()} must be {HASH_SIZE} bytes")
        values.append(value)
    # Equal-length big-endian keys sort the same as bytes and as integers.
    ints = [int.from_bytes(key, "big") for key in keys]
    has_deletes = None in values

    new_nodes: dict[bytes, bytes] = {}
    h = hash32
    zero = ZERO_HASH
    bisect = bisect_left

    def is_leaf(node_hash: bytes) -> bool:
        encoding = new_nodes.get(node_hash)
        if encoding is None:
            encoding = _load(reader, node_hash)
        return encoding[0] == 0

    def internal(left: bytes, right: bytes) -> bytes:
        encoding = b"\x01" + left + right
        node_hash = h(encoding)
        new_nodes[node_hash] = encoding
        return node_hash

    def build(
        b_keys: list[bytes], b_ints: list[int], b_vals: list[bytes], lo: int, hi: int, depth: int
    ) -> bytes:
        """Canonical subtree at `depth` holding exactly the (present) entries [lo, hi)."""
        if hi - lo == 1:
            encoding = b"\x00" + b_keys[lo] + b_vals[lo]
            node_hash = h(encoding)
            new_nodes[node_hash] = encoding
            return node_hash
        if hi == lo:
            return zero
        first = b_ints[lo]
        # All entries share the path down to their first differing bit; they split there.
        split = KEY_BITS - (first ^ b_ints[hi - 1]).bit_length()
        shift = 255 - split
        mid = bisect(b_ints, ((first >> shift) | 1) << shift, lo, hi)
        node_hash = internal(
            build(b_keys, b_ints, b_vals, lo, mid, split + 1),
            build(b_keys, b_ints, b_vals, mid, hi, split + 1),
        )
        # Above the split point the path is a chain of internal nodes with one empty side.
        for d in range(split - 1, depth - 1, -1):
            if (first >> (255 - d)) & 1:
                node_hash = internal(zero, node_hash)
            else:
                node_hash = internal(node_hash, zero)
        return node_hash

    def build_present(
        lo: int, hi: int, depth: int, extra: tuple[int, bytes, bytes] | None
    ) -> bytes:
        """Subtree of the non-deleted changes in [lo, hi) plus `extra`, an untouched old leaf."""
        if extra is None and not has_deletes:
            return build(keys, ints, cast(list[bytes], values), lo, hi, depth)
        entries = [(ints[i], keys[i], v) for i in range(lo, hi) if (v := values[i]) is not None]
        if extra is not None:
            insort(entries, extra)
        return build(
            [e[1] for e in entries],
            [e[0] for e in entries],
            [e[2] for e in entries],
            0,
            len(entries),
            depth,
        )

    def descend(node_hash: bytes, depth: int, lo: int, hi: int) -> bytes:
        """New hash of the subtree `node_hash` at `depth` after the changes [lo, hi) (lo < hi)."""
        if node_hash == zero:
            return build_present(lo, hi, depth, None)
        encoding = _load(reader, node_hash)
        if encoding[0] == 0:
            old_key = encoding[1:33]
            old_int = int.from_bytes(old_key, "big")
            pos = bisect(ints, old_int, lo, hi)
            if pos < hi and ints[pos] == old_int:
                return build_present(lo, hi, depth, None)  # the old leaf is overwritten
            return build_present(lo, hi, depth, (old_int, old_key, encoding[33:65]))
        if depth >= KEY_BITS:
            raise StoreError(
                f"state node {node_hash.hex()} is an internal node below the key length"
            )
        left = encoding[1:33]
        right = encoding[33:65]
        shift = 255 - depth
        mid = bisect(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        new_left = descend(left, depth + 1, lo, mid) if mid > lo else left
        new_right = descend(right, depth + 1, mid, hi) if hi > mid else right
        if new_left == left and new_right == right:
            return node_hash
        # A subtree left with a single leaf collapses into that leaf.
        if new_left == zero:
            if new_right == zero or is_leaf(new_right):
                return new_right
        elif new_right == zero and is_leaf(new_left):
            return new_left
        return internal(new_left, new_right)

    if len(root) != HASH_SIZE:
        raise ValueError(f"root must be {HASH_SIZE} bytes")
    if not keys:
        return root, new_nodes
    return descend(root, 0, 0, len(keys)), new_nodes


# --- subtrees under a key prefix (a state snapshot's chunks) ------------------------------------


@dataclass(frozen=True)
class Subtree:
    """The part of the tree under one key prefix: its root as the whole tree holds it and how
    many keys it holds, which is all the tree above needs of it (a part holding one key is a
    leaf, which rises to where its path is unique; an empty part is ZERO_HASH)."""

    root: bytes
    count: int


class _NoNodes:
    def get_node(self, node_hash: bytes) -> bytes | None:
        return None


def subtree(
    prefix: int, depth: int, entries: Mapping[bytes, bytes]
) -> tuple[Subtree, dict[bytes, bytes]]:
    """The subtree at `depth` holding `entries` (key -> value_hash), whose keys all begin with
    the `depth` bits of `prefix`; returns it and its nodes."""
    for key in entries:
        if int.from_bytes(key, "big") >> (KEY_BITS - depth) != prefix:
            raise ValueError(f"key {key.hex()} is not under prefix {prefix} of {depth} bits")
    root, built = update(_NoNodes(), EMPTY_ROOT, entries)
    # A tree of keys that share `depth` bits is a chain of nodes with one empty side down to
    # that depth, and then their subtree, exactly as a larger tree holds it.
    node = root
    for level in range(depth):
        encoding = built.get(node)
        if encoding is None or encoding[0] == 0:
            break  # empty, or one key: a leaf, the same at any depth
        node = encoding[33:65] if (prefix >> (depth - 1 - level)) & 1 else encoding[1:33]
    nodes: dict[bytes, bytes] = {}
    stack = [node]
    while stack:
        encoding = built.get(stack.pop())
        if encoding is None:
            continue  # ZERO_HASH
        nodes[hash32(encoding)] = encoding
        if encoding[0] == 1:
            stack += [encoding[1:33], encoding[33:65]]
    return Subtree(node, len(entries)), nodes


def join(parts: Sequence[Subtree]) -> tuple[bytes, dict[bytes, bytes]]:
    """The root over the 2**d subtrees at depth d (left to right) and the nodes above them,
    with the same shape rules as `update`: an empty pair is empty, a pair holding one key is
    that leaf, anything more an internal node."""
    if not parts or len(parts) & (len(parts) - 1):
        raise ValueError(f"{len(parts)} subtrees: not a power of two")
    nodes: dict[bytes, bytes] = {}
    level = list(parts)
    while len(level) > 1:
        joined = []
        for left, right in zip(level[::2], level[1::2], strict=True):
            count = left.count + right.count
            if count <= 1:
                joined.append(left if left.count else right)
                continue
            encoding = INTERNAL_TAG + left.root + right.root
            node_hash = hash32(encoding)
            nodes[node_hash] = encoding
            joined.append(Subtree(node_hash, count))
        level = joined
    return level[0].root, nodes


# --- reads and proofs ----------------------------------------------------------------------------


def get(reader: NodeReader, root: bytes, key: bytes) -> bytes | None:
    """The value_hash stored under `key` in the tree at `root`, or None if absent."""
    _check_key(key)
    path = int.from_bytes(key, "big")
    node_hash = root
    depth = 0
    while node_hash != ZERO_HASH:
        encoding = _load(reader, node_hash)
        if encoding[0] == 0:
            return encoding[33:65] if encoding[1:33] == key else None
        if depth >= KEY_BITS:
            raise StoreError(
                f"state node {node_hash.hex()} is an internal node below the key length"
            )
        bit = (path >> (255 - depth)) & 1
        node_hash = encoding[33:65] if bit else encoding[1:33]
        depth += 1
    return None


@dataclass(frozen=True)
class Proof:
    """The siblings along a key's path (root level first) and what the path ends in.

    `leaf` is the (key, value_hash) leaf at the end of the path, or None when the path ends in
    an empty subtree. One proof shows either membership of its leaf or, if the leaf's key differs,
    non-membership of the queried key.
    """

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: hex strings, `leaf` null when the path ends empty."""
        leaf = None
        if self.leaf is not None:
            leaf = {"key": self.leaf[0].hex(), "value_hash": self.leaf[1].hex()}
        return {"siblings": [s.hex() for s in self.siblings], "leaf": leaf}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Proof":
        """Parse the JSON form, refusing anything `to_dict` would not produce."""
        if not isinstance(data, Mapping) or set(data) != {"siblings", "leaf"}:
            raise InvalidProof("proof must be an object with exactly 'siblings' and 'leaf'")
        siblings = _siblings(data["siblings"], _hex32)
        leaf = data["leaf"]
        if leaf is None:
            return cls(siblings, None)
        if not isinstance(leaf, Mapping) or set(leaf) != {"key", "value_hash"}:
            raise InvalidProof("proof leaf must be null or an object with 'key' and 'value_hash'")
        return cls(
            siblings,
            (_hex32(leaf["key"], "leaf key"), _hex32(leaf["value_hash"], "leaf value_hash")),
        )

    def to_value(self) -> dict[str, Any]:
        """Canonical-CBOR form: raw bytes; `leaf` is left out when the path ends empty."""
        value: dict[str, Any] = {"siblings": list(self.siblings)}
        if self.leaf is not None:
            value["leaf"] = {"key": self.leaf[0], "value_hash": self.leaf[1]}
        return value

    @classmethod
    def from_value(cls, value: Any) -> "Proof":
        """Parse the CBOR form, refusing anything `to_value` would not produce."""
        if not isinstance(value, Mapping) or set(value) not in ({"siblings"}, {"siblings", "leaf"}):
            raise InvalidProof("proof must be a map with 'siblings' and optionally 'leaf'")
        siblings = _siblings(value["siblings"], _bytes32)
        if "leaf" not in value:
            return cls(siblings, None)
        leaf = value["leaf"]
        if not isinstance(leaf, Mapping) or set(leaf) != {"key", "value_hash"}:
            raise InvalidProof("proof leaf must be a map with 'key' and 'value_hash'")
        return cls(
            siblings,
            (_bytes32(leaf["key"], "leaf key"), _bytes32(leaf["value_hash"], "leaf value_hash")),
        )


_HEX_DIGITS = frozenset("0123456789abcdef")


def _hex32(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE or not _HEX_DIGITS.issuperset(text):
        raise InvalidProof(f"{what} must be {2 * HASH_SIZE} lowercase hex digits")
    return bytes.fromhex(text)


def _bytes32(raw: Any, what: str) -> bytes:
    if not isinstance(raw, bytes) or len(raw) != HASH_SIZE:
        raise InvalidProof(f"{what} must be {HASH_SIZE} bytes")
    return raw


def _siblings(items: Any, parse: Callable[[Any, str], bytes]) -> tuple[bytes, ...]:
    if not isinstance(items, list | tuple):
        raise InvalidProof("proof siblings must be a list")
    if len(items) > KEY_BITS:
        raise InvalidProof(f"proof has {len(items)} siblings, more than {KEY_BITS}")
    return tuple(parse(item, f"sibling {depth}") for depth, item in enumerate(items))


def prove(reader: NodeReader, root: bytes, key: bytes) -> Proof:
    """Proof of the value of `key` (or of its absence) in the tree at `root`."""
    _check_key(key)
    path = int.from_bytes(key, "big")
    siblings: list[bytes] = []
    node_hash = root
    while node_hash != ZERO_HASH:
        encoding = _load(reader, node_hash)
        if encoding[0] == 0:
            return Proof(tuple(siblings), (encoding[1:33], encoding[33:65]))
        if len(siblings) >= KEY_BITS:
            raise StoreError(
                f"state node {node_hash.hex()} is an internal node below the key length"
            )
        if (path >> (255 - len(siblings))) & 1:
            siblings.append(encoding[1:33])
            node_hash = encoding[33:65]
        else:
            siblings.append(encoding[33:65])
            node_hash = encoding[1:33]
    return Proof(tuple(siblings), None)


def _failure(root: bytes, key: bytes, value_hash: bytes | None, proof: Proof) -> str | None:
    """Why `proof` does not show `key` -> `value_hash` (None: absent) under `root`, or None."""
    if len(root) != HASH_SIZE or len(key) != HASH_SIZE:
        return "root and key must be 32 bytes"
    if value_hash is not None and len(value_hash) != HASH_SIZE:
        return "value hash must be 32 bytes"
    siblings = proof.siblings
    depth = len(siblings)
    if depth > KEY_BITS:
        return f"proof has {depth} siblings, more than {KEY_BITS}"
    if any(len(s) != HASH_SIZE for s in siblings):
        return "every sibling must be 32 bytes"
    path = int.from_bytes(key, "big")
    if proof.leaf is None:
        if value_hash is not None:
            return "proof ends in an empty subtree, so it cannot show membership"
        node_hash = ZERO_HASH
    else:
        leaf_key, leaf_value = proof.leaf
        if len(leaf_key) != HASH_SIZE or len(leaf_value) != HASH_SIZE:
            return "proof leaf key and value hash must be 32 bytes"
        if value_hash is not None and (leaf_key != key or leaf_value != value_hash):
            return "proof leaf is not the claimed key and value"
        if value_hash is None and leaf_key == key:
            return "proof leaf holds the key, so it cannot show absence"
        if depth and (path ^ int.from_bytes(leaf_key, "big")) >> (KEY_BITS - depth):
            return "proof leaf does not lie on the key's path"
        node_hash = leaf_hash(leaf_key, leaf_value)
    # A canonical tree never pairs a leaf or an empty subtree with an empty sibling.
    if depth and siblings[-1] == ZERO_HASH:
        return "proof ends beside an empty sibling, which a canonical tree never has"
    for d in range(depth - 1, -1, -1):
        if (path >> (255 - d)) & 1:
            node_hash = hash32(INTERNAL_TAG + siblings[d] + node_hash)
        else:
            node_hash = hash32(INTERNAL_TAG + node_hash + siblings[d])
    if node_hash != root:
        return "proof does not recompute the root"
    return None


def verify(root: bytes, key: bytes, value_hash: bytes | None, proof: Proof) -> bool:
    """Whether `proof` shows `key` holds `value_hash` (or, for None, is absent) under `root`."""
    return _failure(root, key, value_hash, proof) is None


def check_proof(root: bytes, key: bytes, value_hash: bytes | None, proof: Proof) -> None:
    """Like `verify`, raising InvalidProof that says what failed."""
    reason = _failure(root, key, value_hash, proof)
    if reason is not None:
        raise InvalidProof(reason)


def count_leaves(reader: NodeReader, root: bytes) -> int:
    """How many keys a root commits to (walks every node; for audits, not hot paths)."""
    count, stack = 0, [root]
    while stack:
        node_hash = stack.pop()
        if node_hash == EMPTY_ROOT:
            continue
        node = _load(reader, node_hash)
        if node[:1] == LEAF_TAG:
            count += 1
        else:
            stack += [node[1 : 1 + HASH_SIZE], node[1 + HASH_SIZE :]]
    return count
