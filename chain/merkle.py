"""Certificate Transparency Merkle trees (RFC 9162 section 2.1) with hash32 as the hash.

Used for ordered lists such as a block's transactions: leaves and interior nodes are hashed
with different one-byte prefixes so a leaf can never pass for a node, and the tree over n
leaves splits at the largest power of two below n, so audit and consistency proofs are
those of RFC 9162 and any CT-style verifier can check them.

Functions over trees take the leaf hashes (`leaf_hash(entry)` of each entry) in order.
"""

from collections.abc import Sequence

from chain.errors import InvalidProof
from chain.hashing import HASH_SIZE, hash32

__all__ = [
    "EMPTY_ROOT",
    "check_consistency",
    "check_inclusion",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hash32(b"")


def leaf_hash(entry: bytes) -> bytes:
    """MTH of a one-entry list: H(0x00 || entry)."""
    return hash32(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: H(0x01 || left || right)."""
    return hash32(b"\x01" + left + right)


def _levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, in O(n).

    Pairing neighbours level by level and lifting an unpaired last node unchanged builds the
    same left-balanced tree as the recursive split of RFC 9162.
    """
    level = list(leaf_hashes)
    levels = [level]
    h = hash32
    while len(level) > 1:
        paired = [h(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        levels.append(level)
    return levels


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of the list; H(b"") for the empty list."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _levels(leaf_hashes)[-1][0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path PATH(index, D[n]) of RFC 9162 2.1.3.1, from the leaf's sibling upward."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"index {index} is outside a tree of size {len(leaf_hashes)}")
    proof: list[bytes] = []
    for level in _levels(leaf_hashes)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index >>= 1
    return proof


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), root(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), root(leaves[:k])]


def consistency_proof(leaf_hashes: Sequence[bytes], first_size: int) -> list[bytes]:
    """PROOF(first_size, D[n]) of RFC 9162 2.1.4.1; empty when first_size is 0 or n."""
    if not 0 <= first_size <= len(leaf_hashes):
        raise ValueError(f"first size {first_size} is outside 0..{len(leaf_hashes)}")
    if first_size == 0:
        return []
    return _subproof(leaf_hashes, first_size, True)


def _inclusion_failure(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> str | None:
    """Why `proof` does not place `leaf` at `index` of the tree (`size`, `expected_root`)."""
    if not 0 <= index < size:
        return f"index {index} is outside a tree of size {size}"
    if any(len(p) != HASH_SIZE for p in proof):
        return "every proof element must be 32 bytes"
    fn = index
    sn = size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return "proof is longer than the tree is deep"
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "proof is shorter than the path to the root"
    if r != expected_root:
        return "proof does not recompute the root"
    return None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether `leaf` (a leaf hash) is entry `index` of the tree."""
    return _inclusion_failure(leaf, index, size, proof, expected_root) is None


def check_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Like `verify_inclusion`, raising InvalidProof that says what failed."""
    reason = _inclusion_failure(leaf, index, size, proof, expected_root)
    if reason is not None:
        raise InvalidProof(f"inclusion proof: {reason}")


def _consistency_failure(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> str | None:
    """Why `proof` does not show the first tree is a prefix of the second (RFC 9162 2.1.4.2)."""
    if not 0 <= first_size <= second_size:
        return f"sizes {first_size} and {second_size} are not 0 <= first <= second"
    if any(len(c) != HASH_SIZE for c in proof):
        return "every proof element must be 32 bytes"
    if first_size == 0:
        # Every tree extends the empty one; its root is fixed.
        if proof:
            return "proof from the empty tree must be empty"
        if first_root != EMPTY_ROOT:
            return "first root is not the root of the empty tree"
        return None
    if first_size == second_size:
        if proof:
            return "proof between equal sizes must be empty"
        if first_root != second_root:
            return "roots of equal-size trees differ"
        return None
    if not proof:
        return "proof is empty"
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn = first_size - 1
    sn = second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return "proof is longer than needed"
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "proof is shorter than needed"
    if fr != first_root:
        return "proof does not recompute the first root"
    if sr != second_root:
        return "proof does not recompute the second root"
    return None


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 2.1.4.2: whether the tree of `first_size` is a prefix of that of `second_size`."""
    return _consistency_failure(first_size, second_size, first_root, second_root, proof) is None


def check_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Like `verify_consistency`, raising InvalidProof that says what failed."""
    reason = _consistency_failure(first_size, second_size, first_root, second_root, proof)
    if reason is not None:
        raise InvalidProof(f"consistency proof: {reason}")
