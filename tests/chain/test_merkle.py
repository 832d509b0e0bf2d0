"""RFC 9162 Merkle tree: roots against a recursive reference, exhaustive proofs for small trees."""

from collections.abc import Sequence

import pytest

from chain import merkle
from chain.errors import InvalidProof
from chain.hashing import hash32

MAX_SIZE = 70


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH exactly as written in RFC 9162 2.1.1, over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hash32(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hash32(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:]))


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


ALL_LEAVES = leaves_of(MAX_SIZE)
ROOTS = [merkle.root(ALL_LEAVES[:n]) for n in range(MAX_SIZE + 1)]


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def test_empty_root_known_answer() -> None:
    assert merkle.root([]) == hash32(b"")
    assert hash32(b"") == merkle.EMPTY_ROOT


def test_leaf_and_node_hash_prefixes() -> None:
    assert merkle.leaf_hash(b"abc") == hash32(b"\x00abc")
    a, b = hash32(b"a"), hash32(b"b")
    assert merkle.node_hash(a, b) == hash32(b"\x01" + a + b)
    assert merkle.root([a]) == a


@pytest.mark.parametrize("n", range(MAX_SIZE + 1))
def test_root_matches_reference(n: int) -> None:
    assert ROOTS[n] == reference_mth(ALL_LEAVES[:n])


def test_root_large_tree_matches_reference() -> None:
    leaves = leaves_of(10_000)
    assert merkle.root(leaves) == reference_mth(leaves)


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_inclusion_proofs(n: int) -> None:
    leaves = ALL_LEAVES[:n]
    tree_root = ROOTS[n]
    other_root = ROOTS[n - 1] if n > 1 else hash32(b"other")
    for index in range(n):
        proof = merkle.inclusion_proof(leaves, index)
        leaf = leaves[index]
        assert merkle.verify_inclusion(leaf, index, n, proof, tree_root)
        merkle.check_inclusion(leaf, index, n, proof, tree_root)
        assert not merkle.verify_inclusion(leaf, index, n, proof, other_root)
        assert not merkle.verify_inclusion(flip(leaf), index, n, proof, tree_root)
        assert not merkle.verify_inclusion(leaf, n, n, proof, tree_root)
        assert not merkle.verify_inclusion(leaf, -1, n, proof, tree_root)
        for wrong_index in range(n):
            if wrong_index != index:
                assert not merkle.verify_inclusion(leaf, wrong_index, n, proof, tree_root)
        # A proof does not commit to the size (the signed root does): with the root of the size
        # claimed, a proof made for another size must fail.
        for wrong_size in range(1, MAX_SIZE + 1):
            if wrong_size != n:
                wrong_root = ROOTS[wrong_size]
                assert not merkle.verify_inclusion(leaf, index, wrong_size, proof, wrong_root)
        for i in range(len(proof)):
            tampered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
            assert not merkle.verify_inclusion(leaf, index, n, tampered, tree_root)
        assert not merkle.verify_inclusion(leaf, index, n, [*proof, leaf], tree_root)
        if proof:
            assert not merkle.verify_inclusion(leaf, index, n, proof[:-1], tree_root)
        with pytest.raises(InvalidProof):
            merkle.check_inclusion(leaf, index, n, proof, other_root)


def test_inclusion_proof_index_out_of_range() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(ALL_LEAVES[:3], 3)
    with pytest.raises(ValueError):
        merkle.inclusion_proof([], 0)


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_consistency_proofs(n: int) -> None:
    leaves = ALL_LEAVES[:n]
    second_root = ROOTS[n]
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(leaves, m)
        first_root = ROOTS[m]
        assert merkle.verify_consistency(m, n, first_root, second_root, proof)
        merkle.check_consistency(m, n, first_root, second_root, proof)
        assert not merkle.verify_consistency(m, n, flip(first_root), second_root, proof)
        assert not merkle.verify_consistency(m, n, first_root, flip(second_root), proof)
        for i in range(len(proof)):
            tampered = [*proof[:i], flip(proof[i]), *proof[i + 1 :]]
            assert not merkle.verify_consistency(m, n, first_root, second_root, tampered)
        assert not merkle.verify_consistency(m, n, first_root, second_root, [*proof, first_root])
        if proof:
            assert not merkle.verify_consistency(m, n, first_root, second_root, proof[:-1])
        if m < n:
            assert not merkle.verify_consistency(m, n - 1, first_root, ROOTS[n - 1], proof)
            assert not merkle.verify_consistency(n, m, second_root, first_root, proof)
            with pytest.raises(InvalidProof):
                merkle.check_consistency(m, n, second_root, second_root, proof)


def test_consistency_edge_cases() -> None:
    leaves = ALL_LEAVES[:5]
    assert merkle.consistency_proof(leaves, 5) == []
    assert merkle.consistency_proof(leaves, 0) == []
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [ROOTS[5]])
    assert not merkle.verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert not merkle.verify_consistency(5, 5, ROOTS[5], ROOTS[4], [])
    assert not merkle.verify_consistency(3, 5, ROOTS[3], ROOTS[5], [])
    with pytest.raises(ValueError):
        merkle.consistency_proof(leaves, 6)
    with pytest.raises(InvalidProof, match="empty"):
        merkle.check_consistency(3, 5, ROOTS[3], ROOTS[5], [])


def test_rfc_example_proof_shapes() -> None:
    # RFC 9162 2.1.5: the 7-leaf tree. d0..d6 are leaves; a, ..., l interior nodes.
    d = ALL_LEAVES[:7]
    g = merkle.node_hash(d[0], d[1])
    h = merkle.node_hash(d[2], d[3])
    i = merkle.node_hash(d[4], d[5])
    k = merkle.node_hash(g, h)
    assert merkle.inclusion_proof(d, 0) == [d[1], h, merkle.node_hash(i, d[6])]
    assert merkle.inclusion_proof(d, 3) == [d[2], g, merkle.node_hash(i, d[6])]
    assert merkle.inclusion_proof(d, 4) == [d[5], d[6], k]
    assert merkle.inclusion_proof(d, 6) == [i, k]
    assert merkle.consistency_proof(d, 3) == [d[2], d[3], g, merkle.node_hash(i, d[6])]
    assert merkle.consistency_proof(d, 4) == [merkle.node_hash(i, d[6])]
    assert merkle.consistency_proof(d, 6) == [i, d[6], k]
