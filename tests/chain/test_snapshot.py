"""State snapshots: chunks and their manifest make the state root, every wrong part is refused,
and a store restored from one carries the chain on exactly as the store it was cut from."""

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import smt
from chain.address import key_address
from chain.blockchain import check_body, genesis_block, validate_block
from chain.blocks.header import Header
from chain.errors import (
    EncodingError,
    InvalidBlock,
    InvalidSnapshot,
    RuleViolation,
    StoreError,
    present,
)
from chain.farming.rewards import NodeReward
from chain.hashing import ZERO_HASH, hash32
from chain.integrity import replay_store
from chain.ledger.transactions import Transfer
from chain.snapshot.chunks import (
    Record,
    check_chunk,
    chunk_subtree,
    cut_into_chunks,
    decode_chunk,
    encode_chunk,
)
from chain.snapshot.manifest import (
    Manifest,
    check_manifest,
    chunk_bits,
    decode_headers,
    decode_manifest,
    earlier_hashes,
    encode_headers,
    encode_manifest,
)
from chain.store import ChainReads, ChainStore
from tests.chain.test_audit import SPEC2, WORKLOAD, authorize_one
from tests.kit.chainkit import USERS, ContractChain, make_genesis


def tree_of(records: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """The whole tree of `records`, as a chain of blocks would have made it."""
    return smt.update(NoNodes(), smt.EMPTY_ROOT, {k: hash32(v) for k, v in records.items()})


class NoNodes:
    def get_node(self, node_hash: bytes) -> bytes | None:
        return None


def cut(
    records: dict[bytes, bytes], bits: int
) -> tuple[list[tuple[Record, ...]], list[smt.Subtree]]:
    chunks = list(cut_into_chunks(sorted(records.items()), bits))
    return chunks, [chunk_subtree(i, bits, c) for i, c in enumerate(chunks)]


keys = st.binary(min_size=32, max_size=32)
# Keys that share long prefixes too: the shapes where leaves rise and chains form.
clustered = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"\x00", b"\x80\x01"]),
    st.binary(min_size=30, max_size=31),
).map(lambda k: (k + bytes(32))[:32])
states = st.dictionaries(st.one_of(keys, clustered), st.binary(max_size=40), max_size=60)


@settings(max_examples=150, deadline=None)
@given(states, st.integers(0, 6))
def test_chunks_join_into_the_state_root_with_the_trees_own_nodes(
    records: dict[bytes, bytes], bits: int
) -> None:
    root, nodes = tree_of(records)
    chunks, parts = cut(records, bits)
    assert len(chunks) == 1 << bits
    assert sum(len(c) for c in chunks) == len(records)
    manifest = Manifest(7, root, bits, tuple(parts))
    joined, upper = smt.join(manifest.chunks)
    assert joined == root
    restored = dict(upper)
    for index, chunk in enumerate(chunks):
        restored.update(check_chunk(manifest, index, chunk))
    # node for node the tree the blocks made: what is stored proves what the chain proves
    assert restored == nodes
    assert decode_manifest(encode_manifest(manifest)) == manifest
    for chunk in chunks:
        assert decode_chunk(encode_chunk(chunk)) == chunk


def header_of(height: int, root: bytes) -> Header:
    return replace(genesis_block(make_genesis()).block.header, height=height, state_root=root)


RECORDS = {hash32(b"k%d" % i): b"value %d" % i for i in range(300)}


def test_a_manifest_that_does_not_make_the_verified_root_is_refused() -> None:
    root, _ = tree_of(RECORDS)
    _, parts = cut(RECORDS, 3)
    good = Manifest(9, root, 3, tuple(parts))
    check_manifest(good, header_of(9, root))
    other_root = tree_of({**RECORDS, hash32(b"extra"): b"x"})[0]
    wrong = [
        (good, header_of(10, root), "of height 9, not 10"),
        (good, header_of(9, other_root), "names state root"),
        (replace(good, state_root=other_root), header_of(9, other_root), "chunks make"),
        (replace(good, chunks=(parts[1], parts[0], *parts[2:])), header_of(9, root), "make"),
    ]
    for manifest, header, message in wrong:
        with pytest.raises(InvalidSnapshot, match=message):
            check_manifest(manifest, header)
    # A count matters to the root where a chunk holds one record (its leaf rises): a lie
    # there is refused with the manifest; elsewhere, by the chunk, which cannot match it.
    chunks, parts = cut(RECORDS, 8)
    fine = Manifest(9, root, 8, tuple(parts))
    single = next(i for i, c in enumerate(chunks) if len(c) == 1)
    lifted = list(parts)
    lifted[single] = replace(parts[single], count=2)
    with pytest.raises(InvalidSnapshot, match="chunks make"):
        check_manifest(replace(fine, chunks=tuple(lifted)), header_of(9, root))
    several = next(i for i, c in enumerate(chunks) if len(c) > 2)
    lying = list(parts)
    lying[several] = replace(parts[several], count=1)
    check_manifest(replace(fine, chunks=tuple(lying)), header_of(9, root))
    with pytest.raises(InvalidSnapshot, match="the manifest says 1"):
        check_chunk(replace(fine, chunks=tuple(lying)), several, chunks[several])


def test_every_wrong_chunk_is_refused_with_why() -> None:
    root, _ = tree_of(RECORDS)
    chunks, parts = cut(RECORDS, 3)
    manifest = Manifest(9, root, 3, tuple(parts))
    chunk = list(chunks[2])
    (k0, v0), (k1, v1) = chunk[0], chunk[1]
    stranger = (chunks[3][0][0], b"x")
    wrong = [
        ([(k0, v0 + b"!"), *chunk[1:]], "make subtree"),
        (chunk[1:], "holds"),
        ([(k1, v1), (k0, v0), *chunk[2:]], "out of order"),
        ([(k0, v0), (k0, v0), *chunk[2:]], "out of order"),
        ([stranger, *chunk[1:]], "another chunk"),
    ]
    for records, message in wrong:
        with pytest.raises(InvalidSnapshot, match=message):
            check_chunk(manifest, 2, records)
    with pytest.raises(InvalidSnapshot, match="no chunk 8"):
        check_chunk(manifest, 8, [])
    for garbage in (b"", b"\xa0", encode_chunk([(b"short", b"v")])):
        with pytest.raises(EncodingError):
            decode_chunk(garbage)


def test_malformed_manifests_are_refused() -> None:
    root, _ = tree_of(RECORDS)
    _, parts = cut(RECORDS, 2)
    manifest = Manifest(9, root, 2, tuple(parts))
    value_of = encode_manifest
    with pytest.raises(InvalidSnapshot, match="lists 3 chunks"):
        decode_manifest(value_of(replace(manifest, chunks=manifest.chunks[:3])))
    with pytest.raises(InvalidSnapshot, match="records under its root"):
        decode_manifest(value_of(replace(manifest, chunks=(smt.Subtree(ZERO_HASH, 3), *parts[1:]))))
    with pytest.raises(EncodingError):
        decode_manifest(value_of(replace(manifest, bits=17)))
    with pytest.raises(RuleViolation):
        decode_manifest(b"\x00")


def test_chunk_bits_aim_at_a_thousand_records_a_chunk() -> None:
    assert chunk_bits(0) == 0 and chunk_bits(1023) == 0
    assert chunk_bits(100_000) == 7  # 128 chunks of ~780
    assert chunk_bits(10**12) == 16


def restore(source: ChainReads, path: Path, genesis_hash: bytes) -> ChainStore:
    """What a joining node does with what peers served, minus the network."""
    head = source.head()
    assert head is not None
    block = source.block(head.block_hash)
    commit = source.commit_at(head.height)
    assert block is not None and commit is not None
    records = list(source.state_items())
    bits = chunk_bits(len(records))
    chunks = list(cut_into_chunks(records, bits))
    manifest = Manifest(
        head.height,
        head.state_root,
        bits,
        tuple(chunk_subtree(i, bits, c) for i, c in enumerate(chunks)),
    )
    check_manifest(decode_manifest(encode_manifest(manifest)), block.header)
    target = ChainStore(str(path))
    for index, chunk in enumerate(chunks):
        target.put_restored_chunk(
            chunk, check_chunk(manifest, index, decode_chunk(encode_chunk(chunk)))
        )
    target.put_restored_chunk((), smt.join(manifest.chunks)[1])
    signers = source.validator_set(block.header.validators_hash)
    assert signers is not None
    earlier = {h: present(source.block_hash_at(h), "hash") for h in range(head.height)}
    target.finish_restore(block, commit, signers, genesis_hash, earlier)
    return target


def test_a_restored_store_carries_the_chain_on_like_the_original(
    chain: ContractChain, tmp_path: Path
) -> None:
    authorize_one(chain)  # 5 audit entries: peaks of 4 and 1
    pay = chain.tx(USERS["bob"], Transfer(key_address(USERS["carol"].public_key), 5))
    chain.produce([pay])  # the placement's first try: an "unplaceable" entry (6)
    genesis_hash = chain.store.genesis_hash()
    assert genesis_hash is not None
    restored = restore(chain.store, tmp_path / "restored", genesis_hash)
    try:
        assert restored.tx_location(pay.id) == (chain.head.height, 0)  # the base block's
        assert restored.head() == chain.store.head()
        assert restored.base_height() == chain.head.height and chain.store.base_height() == 0
        assert restored.block_at(chain.head.height - 1) is None
        before = chain.head.height - 1
        assert restored.block_hash_at(before) == chain.store.block_hash_at(before)
        assert list(restored.state_items()) == list(chain.store.state_items())
        assert smt.count_leaves(restored, chain.head.state_root) == restored.state_count()
        # the next block, with a new audit entry, validated and committed on both
        req = chain.query(WORKLOAD, "requirement_of", 1)
        tx = chain.tx(USERS["alice"], chain.call_payload(WORKLOAD, "submit", SPEC2, req, 1000))
        parent = chain.head
        result = chain.produce([tx])
        assert result.audit_entries
        again = validate_block(restored, parent, result.block, runtime=chain.runtime)
        assert again.writes == result.writes and again.new_nodes == result.new_nodes
        restored.commit_block(
            result.block,
            chain.last_commit,
            again.writes,
            again.new_nodes,
            receipts=again.receipts,
            audit_entries=again.audit_entries,
        )
        size = chain.head.audit_size
        assert restored.audit_size() == size
        last = size - 1
        assert restored.audit_inclusion_proof(last, size) == chain.store.audit_inclusion_proof(
            last, size
        )
        assert restored.audit_entry(0) is None  # before the snapshot: not held
        with pytest.raises(StoreError, match="began from a snapshot of height"):
            replay_store(restored, chain.genesis, str(tmp_path / "replay"))
    finally:
        restored.close()


def test_a_snapshot_is_restored_only_into_an_empty_store(chain: ContractChain) -> None:
    with pytest.raises(StoreError, match="only into an empty database"):
        chain.store.put_restored_chunk((), {})


def test_the_headers_before_a_snapshot_are_checked_as_a_chain_ending_at_it(
    chain: ContractChain,
) -> None:
    chain.advance(5)
    headers = [present(chain.store.block_at(h), "block").header for h in range(chain.head.height)]
    decoded = decode_headers(encode_headers(headers))
    hashes = earlier_hashes(decoded, chain.head)
    assert hashes == {h.height: h.hash for h in headers}
    forged = replace(headers[2], time_ms=headers[2].time_ms + 1)
    wrong = [
        ([*headers[:2], forged, *headers[3:]], "header 2 is not the parent of block 3"),
        (headers[:-1], "header 3 is not the parent of block 5"),
        (headers[1:], "4 headers before block 5, not 5"),
    ]
    for given_headers, message in wrong:
        with pytest.raises(InvalidSnapshot, match=message):
            earlier_hashes(given_headers, chain.head)


def test_a_block_body_must_be_the_one_its_header_commits_to(chain: ContractChain) -> None:
    chain.advance(1)  # so the block carries a last commit
    pay = chain.tx(USERS["bob"], Transfer(key_address(USERS["carol"].public_key), 5))
    block = chain.produce([pay]).block
    check_body(block)
    other = chain.tx(USERS["bob"], Transfer(key_address(USERS["dave"].public_key), 5))
    wrong = [
        (replace(block, txs=(other,)), "tx_root"),
        (replace(block, txs=()), "tx_count"),
        (replace(block, last_commit=None), "last_commit_hash"),
        (replace(block, rewards=(NodeReward(0, 1, 1, 1, 1, 1, 1),)), "rewards_root"),
    ]
    for forged, message in wrong:
        with pytest.raises(InvalidBlock, match=message):
            check_body(forged)
