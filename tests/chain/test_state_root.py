"""The state root depends on the state, never on the order that produced it; account proofs."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import smt
from chain.address import Address, key_address
from chain.blockchain import build_block, genesis_block, open_chain
from chain.blocks.commit import sign_commit
from chain.blocks.header import Header
from chain.genesis_state import COUNCIL_ADDRESS, GenesisState
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import SignedTx, Transfer, TxBody, sign_tx
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.state import PARAMS_KEY, VALIDATORS_KEY, account_key
from chain.store import ChainStore
from tests.kit.support import addr

CHAIN = "gridchain-roots"
VALIDATOR = keypair_from_seed(hash32(b"roots/validator"))
SENDERS = [keypair_from_seed(hash32(b"roots/sender/%d" % i)) for i in range(10)]
RECIPIENTS = [
    key_address(keypair_from_seed(hash32(b"roots/to/%d" % i)).public_key) for i in range(10)
]
FUNDS = 1_000_000
GENESIS_TIME = 1_767_225_600_000


def make_genesis(balances: tuple[tuple[Address, int], ...]) -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_TIME,
        balances=balances,
        validators=make_validator_set([validator_with_key(VALIDATOR, 1, "v0")]),
        council=make_policy([Signer(VALIDATOR.public_key, 1)], 1),
        params=ChainParams(),
    )


GENESIS = make_genesis(tuple((addr(k), FUNDS) for k in SENDERS))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainStore, Header]]:
    """One genesis store; build_block only reads it, so every example can share it."""
    store = ChainStore(str(tmp_path_factory.mktemp("roots") / "db"))
    header = open_chain(store, GENESIS)
    yield store, header
    store.close()


def payment(i: int, amount: int, fee: int) -> SignedTx:
    body = TxBody(CHAIN, addr(SENDERS[i]), 0, fee, Transfer(RECIPIENTS[i], amount))
    return sign_tx(body, [SENDERS[i]])


payments = st.lists(
    st.tuples(st.integers(1, FUNDS // 2), st.integers(1, 1_000)), min_size=1, max_size=len(SENDERS)
).map(lambda specs: [payment(i, amount, fee) for i, (amount, fee) in enumerate(specs)])


@settings(max_examples=40, deadline=None)
@given(payments.flatmap(lambda txs: st.tuples(st.just(txs), st.permutations(txs))))
def test_unrelated_transfers_in_any_order_give_one_state_root(
    chain: tuple[ChainStore, Header], txs_and_order: tuple[list[SignedTx], list[SignedTx]]
) -> None:
    store, genesis = chain
    txs, shuffled = txs_and_order
    results = []
    for candidates in (txs, shuffled):
        result, rejected = build_block(
            store, genesis, None, VALIDATOR.public_key, GENESIS_TIME + 1, candidates
        )
        assert rejected == []
        assert result.block.txs == tuple(candidates)
        results.append(result)
    first, second = results
    assert first.block.header.state_root == second.block.header.state_root
    assert first.writes == second.writes
    assert first.block.header.state_root != genesis.state_root


balance_sets = st.lists(
    st.tuples(st.integers(0, 2**32), st.integers(1, 10**12)),
    min_size=0,
    max_size=12,
    unique_by=lambda t: t[0],
)


@settings(max_examples=60, deadline=None)
@given(balance_sets.flatmap(lambda b: st.tuples(st.just(b), st.permutations(b))))
def test_genesis_balances_in_any_order_give_one_state_root(
    balances_and_order: tuple[list[tuple[int, int]], list[tuple[int, int]]],
) -> None:
    def as_balances(items: list[tuple[int, int]]) -> tuple[tuple[Address, int], ...]:
        return tuple(
            (Address(b"\x01" + hash32(n.to_bytes(8, "big"))), amount) for n, amount in items
        )

    original, shuffled = balances_and_order
    first = genesis_block(make_genesis(as_balances(original)))
    second = genesis_block(make_genesis(as_balances(shuffled)))
    assert first.block.header.state_root == second.block.header.state_root
    assert first.writes == second.writes


def test_genesis_root_depends_on_the_balances() -> None:
    one = genesis_block(make_genesis(((addr(SENDERS[0]), 5),))).block.header.state_root
    other = genesis_block(make_genesis(((addr(SENDERS[0]), 6),))).block.header.state_root
    assert one != other


def test_stored_genesis_root_matches_the_computed_one(chain: tuple[ChainStore, Header]) -> None:
    _, header = chain
    assert header.state_root == genesis_block(GENESIS).block.header.state_root
    reordered = make_genesis(tuple(reversed(GENESIS.balances)))
    assert genesis_block(reordered).block.header.state_root == header.state_root


# --- account proofs -----------------------------------------------------------------------------


@pytest.fixture
def two_blocks(tmp_path: Path) -> Iterator[tuple[ChainStore, Header, Header]]:
    """Genesis, then a block where sender 0 pays recipient 0."""
    store = ChainStore(str(tmp_path / "db"))
    genesis = open_chain(store, GENESIS)
    result, rejected = build_block(
        store, genesis, None, VALIDATOR.public_key, GENESIS_TIME + 1, [payment(0, 1000, 5)]
    )
    assert rejected == []
    block = result.block
    commit = sign_commit(CHAIN, GENESIS.validators, [VALIDATOR], block.header)
    store.commit_block(block, commit, result.writes, result.new_nodes)
    yield store, genesis, block.header
    store.close()


def value_hash(store: ChainStore, key: bytes) -> bytes:
    raw = store.get_state(key)
    assert raw is not None
    return hash32(raw)


def test_present_accounts_are_proven(two_blocks: tuple[ChainStore, Header, Header]) -> None:
    store, _, head = two_blocks
    present = [addr(k) for k in SENDERS] + [RECIPIENTS[0], addr(VALIDATOR), COUNCIL_ADDRESS]
    for address in present:
        key = account_key(address)
        proof = smt.prove(store, head.state_root, key)
        assert smt.verify(head.state_root, key, value_hash(store, key), proof), address
        # ... and only for its value
        assert not smt.verify(head.state_root, key, hash32(b"other"), proof)
        assert not smt.verify(head.state_root, key, None, proof)
    for key in (VALIDATORS_KEY, PARAMS_KEY):
        proof = smt.prove(store, head.state_root, key)
        assert smt.verify(head.state_root, key, value_hash(store, key), proof)


def test_absent_accounts_are_proven_absent(two_blocks: tuple[ChainStore, Header, Header]) -> None:
    store, _, head = two_blocks
    for address in RECIPIENTS[1:]:
        key = account_key(address)
        assert store.get_state(key) is None
        proof = smt.prove(store, head.state_root, key)
        assert smt.verify(head.state_root, key, None, proof)
        assert not smt.verify(head.state_root, key, hash32(b"anything"), proof)


def test_proof_of_the_new_value_fails_against_the_previous_root(
    two_blocks: tuple[ChainStore, Header, Header],
) -> None:
    store, genesis, head = two_blocks
    assert genesis.state_root != head.state_root
    for address in (addr(SENDERS[0]), RECIPIENTS[0], addr(VALIDATOR)):
        key = account_key(address)
        new_hash = value_hash(store, key)
        new_proof = smt.prove(store, head.state_root, key)
        assert smt.verify(head.state_root, key, new_hash, new_proof)
        assert not smt.verify(genesis.state_root, key, new_hash, new_proof)
        # The previous root still proves what was there before (nodes are never rewritten).
        old_proof = smt.prove(store, genesis.state_root, key)
        old_leaf = smt.get(store, genesis.state_root, key)
        assert old_leaf != new_hash
        assert smt.verify(genesis.state_root, key, old_leaf, old_proof)
        assert not smt.verify(head.state_root, key, old_leaf, old_proof)


def test_recipient_absent_before_and_present_after(
    two_blocks: tuple[ChainStore, Header, Header],
) -> None:
    store, genesis, head = two_blocks
    key = account_key(RECIPIENTS[0])
    before = smt.prove(store, genesis.state_root, key)
    assert smt.verify(genesis.state_root, key, None, before)
    assert not smt.verify(head.state_root, key, None, before)
    after = smt.prove(store, head.state_root, key)
    assert not smt.verify(head.state_root, key, None, after)


def test_unchanged_account_keeps_its_value_hash(
    two_blocks: tuple[ChainStore, Header, Header],
) -> None:
    store, genesis, head = two_blocks
    key = account_key(addr(SENDERS[5]))
    assert smt.get(store, genesis.state_root, key) == smt.get(store, head.state_root, key)
    assert smt.get(store, head.state_root, key) == value_hash(store, key)
