"""Sparse Merkle tree: canonical shape, batched updates, proofs and their strict checking."""

import random
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain import smt
from chain.errors import InvalidProof, StoreError
from chain.hashing import ZERO_HASH, hash32


class MemoryStore:
    """Dict-backed node store; `apply` keeps every node, so old roots stay readable."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def apply(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> bytes:
        new_root, new_nodes = smt.update(self, root, changes)
        for node_hash, encoding in new_nodes.items():
            assert hash32(encoding) == node_hash
        self.nodes.update(new_nodes)
        return new_root


def key_of(n: int) -> bytes:
    return n.to_bytes(32, "big")


def value_of(n: int) -> bytes:
    return hash32(b"value" + n.to_bytes(8, "big"))


def bit(key: bytes, depth: int) -> int:
    return (key[depth // 8] >> (7 - depth % 8)) & 1


def reference_root(entries: Mapping[bytes, bytes], depth: int = 0) -> bytes:
    """Root of the canonical tree, built directly from the definition."""
    if not entries:
        return ZERO_HASH
    if len(entries) == 1:
        ((key, value),) = entries.items()
        return hash32(b"\x00" + key + value)
    left = {k: v for k, v in entries.items() if bit(k, depth) == 0}
    right = {k: v for k, v in entries.items() if bit(k, depth) == 1}
    return hash32(b"\x01" + reference_root(left, depth + 1) + reference_root(right, depth + 1))


def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- unit tests ---------------------------------------------------------------------------------


def test_empty_tree() -> None:
    store = MemoryStore()
    assert smt.EMPTY_ROOT == ZERO_HASH
    assert smt.get(store, smt.EMPTY_ROOT, key_of(1)) is None
    assert smt.update(store, smt.EMPTY_ROOT, {}) == (smt.EMPTY_ROOT, {})
    assert smt.update(store, smt.EMPTY_ROOT, {key_of(1): None}) == (smt.EMPTY_ROOT, {})
    proof = smt.prove(store, smt.EMPTY_ROOT, key_of(1))
    assert proof == smt.Proof((), None)
    assert smt.verify(smt.EMPTY_ROOT, key_of(1), None, proof)
    assert not smt.verify(smt.EMPTY_ROOT, key_of(1), value_of(1), proof)


def test_one_key_is_a_leaf_at_the_root() -> None:
    store = MemoryStore()
    key, value = key_of(7), value_of(7)
    root, new_nodes = smt.update(store, smt.EMPTY_ROOT, {key: value})
    leaf = b"\x00" + key + value
    assert root == hash32(leaf) == smt.leaf_hash(key, value)
    assert new_nodes == {root: leaf}
    store.nodes.update(new_nodes)
    assert smt.get(store, root, key) == value
    assert smt.get(store, root, key_of(8)) is None
    assert smt.prove(store, root, key) == smt.Proof((), (key, value))


def test_two_keys_differing_in_the_last_bit() -> None:
    store = MemoryStore()
    a = b"\xab" * 31 + b"\x10"
    b = b"\xab" * 31 + b"\x11"
    root = store.apply(smt.EMPTY_ROOT, {b: value_of(2), a: value_of(1)})
    assert root == reference_root({a: value_of(1), b: value_of(2)})
    assert smt.get(store, root, a) == value_of(1)
    assert smt.get(store, root, b) == value_of(2)
    proof = smt.prove(store, root, a)
    assert len(proof.siblings) == 256
    assert proof.siblings[-1] == smt.leaf_hash(b, value_of(2))
    assert all(s == ZERO_HASH for s in proof.siblings[:-1])
    assert smt.verify(root, a, value_of(1), proof)
    # A key on the shared path but not present ends in an empty subtree beside it.
    c = b"\xab" * 31 + b"\x00"
    absent = smt.prove(store, root, c)
    assert absent.leaf is None
    assert smt.verify(root, c, None, absent)
    # Deleting one collapses the whole 256-level chain back to a single leaf.
    root2 = store.apply(root, {a: None})
    assert root2 == smt.leaf_hash(b, value_of(2))


def test_update_value_and_delete_back_to_empty() -> None:
    store = MemoryStore()
    keys = [hash32(bytes([i])) for i in range(20)]
    root = store.apply(smt.EMPTY_ROOT, {k: value_of(i) for i, k in enumerate(keys)})
    old_root = root
    root = store.apply(root, {keys[3]: value_of(99)})
    assert smt.get(store, root, keys[3]) == value_of(99)
    assert smt.get(store, old_root, keys[3]) == value_of(3)  # old roots stay readable
    expected = {k: value_of(i) for i, k in enumerate(keys)} | {keys[3]: value_of(99)}
    assert root == reference_root(expected)
    # Rewriting the same value changes nothing.
    assert store.apply(root, {keys[5]: value_of(5)}) == root
    assert store.apply(root, {k: None for k in keys}) == smt.EMPTY_ROOT
    assert store.apply(root, {hash32(b"absent"): None}) == root


def test_delete_collapses_through_single_child_chain() -> None:
    store = MemoryStore()
    # a and b share 20 bits; c sits alone on the other side of the root.
    a = b"\x00\x00\x00" + b"\x01" * 29
    b = b"\x00\x00\x08" + b"\x02" * 29
    c = b"\x80" + b"\x03" * 31
    root = store.apply(smt.EMPTY_ROOT, {a: value_of(1), b: value_of(2), c: value_of(3)})
    root = store.apply(root, {b: None})
    expected = {a: value_of(1), c: value_of(3)}
    assert root == reference_root(expected)
    assert smt.prove(store, root, a) == smt.Proof(
        (smt.leaf_hash(c, value_of(3)),), (a, value_of(1))
    )
    root = store.apply(root, {c: None})
    assert root == smt.leaf_hash(a, value_of(1))


def test_delete_and_insert_in_one_batch() -> None:
    store = MemoryStore()
    a, b = key_of(1), key_of(2)
    root = store.apply(smt.EMPTY_ROOT, {a: value_of(1)})
    root = store.apply(root, {a: None, b: value_of(2)})
    assert root == smt.leaf_hash(b, value_of(2))


def test_missing_node_raises_store_error() -> None:
    store = MemoryStore()
    # Four keys whose top two bits are 00, 01, 10, 11: a complete tree of depth two.
    keys = [key_of(i << 254) for i in range(4)]
    root = store.apply(smt.EMPTY_ROOT, {k: value_of(i) for i, k in enumerate(keys)})
    empty = MemoryStore()
    with pytest.raises(StoreError, match="missing"):
        smt.get(empty, root, keys[0])
    with pytest.raises(StoreError):
        smt.prove(empty, root, keys[0])
    with pytest.raises(StoreError):
        smt.update(empty, root, {keys[0]: value_of(9)})
    # Deleting a leaf has to read its remaining sibling to know whether it collapses upward.
    partial = MemoryStore()
    partial.nodes = dict(store.nodes)
    del partial.nodes[smt.leaf_hash(keys[1], value_of(1))]
    assert partial.apply(root, {keys[2]: None}) == store.apply(root, {keys[2]: None})
    with pytest.raises(StoreError, match="missing"):
        smt.update(partial, root, {keys[0]: None})


def test_malformed_node_raises_store_error() -> None:
    store = MemoryStore()
    store.nodes[b"\x11" * 32] = b"\x02" + b"\x00" * 64
    with pytest.raises(StoreError):
        smt.get(store, b"\x11" * 32, key_of(0))


def test_bad_lengths_are_refused() -> None:
    store = MemoryStore()
    with pytest.raises(ValueError):
        smt.update(store, smt.EMPTY_ROOT, {b"short": value_of(1)})
    with pytest.raises(ValueError):
        smt.update(store, smt.EMPTY_ROOT, {key_of(1): b"short"})
    with pytest.raises(ValueError):
        smt.get(store, smt.EMPTY_ROOT, b"short")


def populated(n: int = 50) -> tuple[MemoryStore, bytes, dict[bytes, bytes]]:
    store = MemoryStore()
    entries = {hash32(i.to_bytes(4, "big")): value_of(i) for i in range(n)}
    return store, store.apply(smt.EMPTY_ROOT, entries), entries


def test_membership_and_non_membership_proofs() -> None:
    store, root, entries = populated()
    for key, value in entries.items():
        proof = smt.prove(store, root, key)
        assert proof.leaf == (key, value)
        assert smt.verify(root, key, value, proof)
        smt.check_proof(root, key, value, proof)
        assert not smt.verify(root, key, None, proof)
        assert not smt.verify(root, key, value_of(-1 % 2**32), proof)
        assert not smt.verify(flip_byte(root, 0), key, value, proof)
    for i in range(50):
        absent = hash32(b"absent" + bytes([i]))
        proof = smt.prove(store, root, absent)
        assert smt.verify(root, absent, None, proof)
        assert not smt.verify(root, absent, value_of(0), proof)
        if proof.leaf is not None:
            # The same proof cannot be read as membership of the leaf's key for another key.
            assert smt.verify(root, proof.leaf[0], proof.leaf[1], proof)
            assert not smt.verify(root, absent, proof.leaf[1], proof)


def test_strict_verification_rejects_reinterpretations() -> None:
    store, root, entries = populated()
    key, value = next(iter(entries.items()))
    proof = smt.prove(store, root, key)
    # Too many siblings.
    assert not smt.verify(root, key, value, smt.Proof((ZERO_HASH,) * 257, (key, value)))
    # Siblings of the wrong size.
    assert not smt.verify(root, key, value, smt.Proof((b"\x00",), (key, value)))
    # A leaf off the queried key's path cannot prove its absence.
    other_key = next(k for k in entries if bit(k, 0) != bit(key, 0))
    other_proof = smt.prove(store, root, other_key)
    assert not smt.verify(root, key, None, other_proof)
    with pytest.raises(InvalidProof, match="path"):
        smt.check_proof(root, key, None, other_proof)
    # Dropping the bottom sibling and pretending the leaf sits higher.
    shortened = smt.Proof(proof.siblings[:-1], proof.leaf)
    assert not smt.verify(root, key, value, shortened)
    # Extending the path with an empty sibling (a non-canonical position).
    lowered = smt.Proof((*proof.siblings, ZERO_HASH), proof.leaf)
    assert not smt.verify(root, key, value, lowered)
    with pytest.raises(InvalidProof, match="empty sibling"):
        smt.check_proof(root, key, value, lowered)
    with pytest.raises(InvalidProof, match="root"):
        smt.check_proof(flip_byte(root, 3), key, value, proof)
    with pytest.raises(InvalidProof, match="holds the key"):
        smt.check_proof(root, key, None, proof)


def test_proof_dict_round_trip() -> None:
    store, root, entries = populated()
    key = next(iter(entries))
    for proof in (smt.prove(store, root, key), smt.prove(store, root, hash32(b"nope"))):
        assert smt.Proof.from_dict(proof.to_dict()) == proof
        assert smt.Proof.from_value(proof.to_value()) == proof
    empty = smt.Proof((), None)
    assert empty.to_dict() == {"siblings": [], "leaf": None}
    assert empty.to_value() == {"siblings": []}
    assert smt.Proof.from_dict(empty.to_dict()) == empty
    assert smt.Proof.from_value(empty.to_value()) == empty


def test_proof_value_is_canonically_encodable() -> None:
    from chain import encoding

    store, root, entries = populated()
    for key in (next(iter(entries)), hash32(b"nope")):
        proof = smt.prove(store, root, key)
        assert smt.Proof.from_value(encoding.decode(encoding.encode(proof.to_value()))) == proof


GOOD_HEX = "ab" * 32


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"siblings": []},
        {"siblings": [], "leaf": None, "extra": 1},
        {"siblings": "00", "leaf": None},
        {"siblings": ["ab" * 31], "leaf": None},
        {"siblings": ["AB" * 32], "leaf": None},
        {"siblings": [" " + "ab" * 31 + "a"], "leaf": None},
        {"siblings": [GOOD_HEX] * 257, "leaf": None},
        {"siblings": [b"\xab" * 32], "leaf": None},
        {"siblings": [], "leaf": {"key": GOOD_HEX}},
        {"siblings": [], "leaf": {"key": GOOD_HEX, "value_hash": "zz" * 32}},
        {"siblings": [], "leaf": [GOOD_HEX, GOOD_HEX]},
    ],
)
def test_from_dict_rejects_bad_shapes(data: object) -> None:
    with pytest.raises(InvalidProof):
        smt.Proof.from_dict(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        {"siblings": [], "leaf": None},
        {"siblings": [GOOD_HEX]},
        {"siblings": [b"\x00" * 31]},
        {"siblings": [], "leaf": {"key": b"\x00" * 32}},
        {"siblings": [], "extra": 1},
    ],
)
def test_from_value_rejects_bad_shapes(value: object) -> None:
    with pytest.raises(InvalidProof):
        smt.Proof.from_value(value)


# --- properties ----------------------------------------------------------------------------------

keys_st = st.binary(min_size=32, max_size=32)
# Keys crowded into a few prefixes, so the trees have long shared paths and deep leaves.
crowded_keys_st = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"\x00" * 31, b"\xff" * 31, b"\x5a" * 30 + b"\x00"]),
    st.binary(min_size=1, max_size=1),
)
any_key_st = st.one_of(keys_st, crowded_keys_st)
values_st = st.binary(min_size=32, max_size=32)
mapping_st = st.dictionaries(any_key_st, values_st, max_size=40)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(mapping_st, st.randoms(use_true_random=False), st.integers(min_value=1, max_value=10))
def test_root_depends_only_on_final_mapping(
    entries: dict[bytes, bytes], rng: random.Random, batch: int
) -> None:
    items = list(entries.items())
    rng.shuffle(items)
    store = MemoryStore()
    root = smt.EMPTY_ROOT
    for start in range(0, len(items), batch):
        root = store.apply(root, dict(items[start : start + batch]))
    assert root == reference_root(entries)
    assert root == MemoryStore().apply(smt.EMPTY_ROOT, entries)
    # Overwriting with temporary values first and then the final ones does not matter either.
    scratch = {k: hash32(v) for k, v in items[: len(items) // 2]}
    store2 = MemoryStore()
    root2 = store2.apply(store2.apply(smt.EMPTY_ROOT, scratch), entries)
    assert root2 == root


@PROPERTY
@given(mapping_st, st.data())
def test_insert_then_delete_equals_inserting_the_rest(
    entries: dict[bytes, bytes], data: st.DataObject
) -> None:
    doomed = data.draw(st.sets(st.sampled_from(sorted(entries))) if entries else st.just(set()))
    store = MemoryStore()
    root = store.apply(smt.EMPTY_ROOT, entries)
    split = data.draw(st.booleans())
    if split:
        for key in sorted(doomed):
            root = store.apply(root, {key: None})
    else:
        root = store.apply(root, dict.fromkeys(doomed))
    rest = {k: v for k, v in entries.items() if k not in doomed}
    assert root == MemoryStore().apply(smt.EMPTY_ROOT, rest)
    assert root == reference_root(rest)
    for key in doomed:
        assert smt.get(store, root, key) is None


@PROPERTY
@given(mapping_st, st.lists(any_key_st, max_size=8), st.data())
def test_proofs_of_random_trees(
    entries: dict[bytes, bytes], probes: list[bytes], data: st.DataObject
) -> None:
    store = MemoryStore()
    root = store.apply(smt.EMPTY_ROOT, entries)
    cases: list[tuple[bytes, bytes | None]] = list(entries.items())
    cases += [(k, None) for k in probes if k not in entries]
    for key, value in cases:
        assert smt.get(store, root, key) == value
        proof = smt.prove(store, root, key)
        assert smt.verify(root, key, value, proof)
        assert smt.Proof.from_dict(proof.to_dict()) == proof
        # Flip one byte anywhere in the proof: it must no longer verify.
        fields = [*proof.siblings, *(proof.leaf or ())]
        if not fields:
            continue
        which = data.draw(st.integers(0, len(fields) - 1))
        at = data.draw(st.integers(0, 31))
        fields[which] = flip_byte(fields[which], at)
        n = len(proof.siblings)
        leaf = None if proof.leaf is None else (fields[n], fields[n + 1])
        tampered = smt.Proof(tuple(fields[:n]), leaf)
        assert not smt.verify(root, key, value, tampered)


@settings(max_examples=20, deadline=None)
@given(mapping_st)
def test_every_byte_flip_of_a_proof_fails(entries: dict[bytes, bytes]) -> None:
    store = MemoryStore()
    root = store.apply(smt.EMPTY_ROOT, entries)
    for key, value in list(entries.items())[:3]:
        proof = smt.prove(store, root, key)
        for i in range(len(proof.siblings)):
            siblings = list(proof.siblings)
            siblings[i] = flip_byte(siblings[i], (i * 7) % 32)
            assert not smt.verify(root, key, value, smt.Proof(tuple(siblings), proof.leaf))
        assert proof.leaf is not None
        for at in range(32):
            assert not smt.verify(
                root, key, value, smt.Proof(proof.siblings, (flip_byte(key, at), value))
            )
            assert not smt.verify(
                root, key, value, smt.Proof(proof.siblings, (key, flip_byte(value, at)))
            )
