"""The audit log: frontier roots, proofs from stored subtrees (every size 1..64), and the
header's commitment to the log on a real chain."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import merkle
from chain.blockchain import validate_block
from chain.blocks.block import Block
from chain.errors import InvalidBlock
from chain.hashing import hash32
from chain.ledger.audit import (
    AuditEntry,
    AuditFrontier,
    append,
    complete_nodes,
    consistency_proof,
    decode_entry,
    decode_frontier,
    encode_entry,
    encode_frontier,
    entry_from_json,
    entry_leaf,
    entry_to_json,
    frontier_root,
    inclusion_proof,
)
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from tests.kit.chainkit import USERS, ContractChain

LEAVES = [merkle.leaf_hash(b"entry %d" % i) for i in range(70)]


def _spec(budget: int) -> bytes:
    workload = {"type": "container", "name": "web", "image": "host", "cpu": 1, "memory_mb": 64}
    return spec_bytes(load_spec({"name": "web", "workloads": [workload], "budget": budget}))


SPEC, SPEC2 = _spec(1), _spec(2)


def stored(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    nodes.update(complete_nodes(0, leaves, lambda level, index: nodes[(level, index)]))
    return nodes


@given(st.lists(st.integers(0, 9), max_size=7))
def test_frontier_root_matches_the_tree_for_any_batching(batches: list[int]) -> None:
    frontier, done = AuditFrontier(), 0
    for size in batches:
        frontier = append(frontier, LEAVES[done : done + size])
        done += size
        assert frontier.size == done
        assert frontier_root(frontier) == merkle.root(LEAVES[:done])
        assert decode_frontier(encode_frontier(frontier)) == frontier


def test_frontier_root_for_every_size_up_to_70() -> None:
    frontier = AuditFrontier()
    assert frontier_root(frontier) == merkle.EMPTY_ROOT
    for n in range(1, 71):
        frontier = append(frontier, LEAVES[n - 1 : n])
        assert frontier_root(frontier) == merkle.root(LEAVES[:n])


def test_stored_subtree_proofs_are_rfc9162_proofs_for_every_size_up_to_64() -> None:
    leaves = LEAVES[:64]
    # appended in uneven batches, as blocks would
    nodes: dict[tuple[int, int], bytes] = {}
    done = 0
    for size in [1, 2, 5, 1, 8, 13, 3, 31]:
        nodes.update(complete_nodes(done, leaves[done : done + size], lambda lv, i: nodes[(lv, i)]))
        done += size
    assert done == 64
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    for size in range(1, 65):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(get, index, size)
            assert proof == merkle.inclusion_proof(leaves[:size], index)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
        for first in range(0, size + 1):
            proof = consistency_proof(get, first, size)
            assert proof == merkle.consistency_proof(leaves[:size], first)
            first_root = merkle.root(leaves[:first])
            assert merkle.verify_consistency(first, size, first_root, root, proof)


def test_proofs_for_a_larger_log() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    nodes = stored(leaves)
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    for size, index in [(1000, 0), (1000, 999), (777, 500), (513, 512)]:
        assert inclusion_proof(get, index, size) == merkle.inclusion_proof(leaves[:size], index)
    for first, second in [(1, 1000), (512, 1000), (999, 1000), (300, 777)]:
        proof = consistency_proof(get, first, second)
        assert proof == merkle.consistency_proof(leaves[:second], first)


def test_entry_bytes_and_json_round_trip() -> None:
    entry = AuditEntry(7, 2, hash32(b"tx"), workload_address().raw, "signature", b"\x00\x01")
    assert decode_entry(encode_entry(entry)) == entry
    assert entry_from_json(entry_to_json(entry)) == entry
    assert entry_leaf(entry) == merkle.leaf_hash(encode_entry(entry))


# On a chain

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]
WORKLOAD = workload_address()


def authorize_one(chain: ContractChain) -> int:
    req = encode_requirement(
        make_requirement([RequiredSigner(k.public_key) for k in (ALICE, BOB, CAROL)], 2)
    )
    spec = SPEC
    wid = chain.ok(ALICE, WORKLOAD, "submit", spec, req, 1000)
    for signer in (ALICE, BOB):
        signature = signer.sign(signing_hash(WORKLOAD, wid, 1, spec, req))
        chain.ok(signer, WORKLOAD, "approve", wid, signer.public_key, signature)
    return int(wid)


def test_headers_commit_to_the_log_and_the_store_proves_it(chain: ContractChain) -> None:
    authorize_one(chain)
    head = chain.head
    assert head.audit_size == 5  # request, signature, signature, authorized, state
    entries = chain.store.audit_entries(0, 100)
    assert [e.topic for e in entries] == [
        "request",
        "signature",
        "signature",
        "authorized",
        "state",
    ]
    leaves = [entry_leaf(e) for e in entries]
    assert head.audit_root == merkle.root(leaves)
    for index in range(5):
        proof = chain.store.audit_inclusion_proof(index, 5)
        assert merkle.verify_inclusion(leaves[index], index, 5, proof, head.audit_root)
    # the header that first committed size 1 is the submit's block
    first = chain.store.header_with_audit_size(1)
    assert first is not None and first.header.audit_root == merkle.root(leaves[:1])
    proof = chain.store.audit_consistency_proof(1, 5)
    assert merkle.verify_consistency(1, 5, first.header.audit_root, head.audit_root, proof)
    assert chain.store.header_with_audit_size(4) is None  # sizes 3 -> 5 in one block
    assert chain.store.audit_indexes_by_contract(WORKLOAD.raw, 0, 10) == [0, 1, 2, 3, 4]
    assert chain.store.audit_indexes_by_contract(WORKLOAD.raw, 3, 10) == [3, 4]


def test_a_block_with_a_wrong_audit_root_is_invalid(chain: ContractChain) -> None:
    authorize_one(chain)
    req = chain.query(WORKLOAD, "requirement_of", 1)
    result, _ = chain.build_only(
        [chain.tx(ALICE, chain.call_payload(WORKLOAD, "submit", SPEC2, req, 1000))]
    )
    good = result.block
    for header in (
        replace(good.header, audit_root=hash32(b"forged")),
        replace(good.header, audit_size=good.header.audit_size + 1),
    ):
        forged = Block(header, good.txs, good.last_commit, good.evidence)
        with pytest.raises(InvalidBlock, match="audit_root and audit_size do not match"):
            validate_block(chain.store, chain.head, forged, runtime=chain.runtime)


def test_the_store_refuses_entries_that_do_not_make_the_headers_log(
    chain: ContractChain,
) -> None:
    from chain.errors import StoreError

    authorize_one(chain)
    chain.produce()  # the placement's first try (no node: one "unplaceable" entry)
    req = chain.query(WORKLOAD, "requirement_of", 1)
    result, _ = chain.build_only(
        [chain.tx(ALICE, chain.call_payload(WORKLOAD, "submit", SPEC2, req, 1000))]
    )
    block, entries = result.block, result.audit_entries
    assert len(entries) == 1
    changed = replace(entries[0], data=entries[0].data + b"!")
    for wrong, message in [((), "commits to 7 audit entries"), ((changed,), "do not give")]:
        with pytest.raises(StoreError, match=message):
            chain.store.commit_block(
                block, None, result.writes, result.new_nodes, audit_entries=wrong
            )
    assert chain.store.audit_size() == 6  # nothing was written (5 + unplaceable)
