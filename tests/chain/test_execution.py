"""Blocks as state transitions, on real LevelDB stores: build, validate, commit, reopen."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chain import bls
from chain.address import Address, multisig_address
from chain.blockchain import BlockResult, Rejected, build_block, open_chain, validate_block
from chain.blocks.block import Block, decode_block, encode_block, tx_root
from chain.blocks.commit import Commit, VoteType, signer_bitmap, vote_sign_bytes
from chain.blocks.header import Header
from chain.env import BlockEnv
from chain.errors import (
    BalanceOverflow,
    FeeTooLow,
    FutureNonce,
    InsufficientBalance,
    InvalidBlock,
    InvalidSignature,
    InvalidTransaction,
    PolicyNotSatisfied,
    RuleViolation,
    StaleNonce,
    StoreError,
    UnknownAccount,
    WrongChain,
)
from chain.farming.records import EPOCH_KEY, RECENT_HASHES_KEY, read_recent_hashes
from chain.genesis_state import COUNCIL_ADDRESS, GenesisState
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.audit import AuditEntry
from chain.ledger.execution import process_transaction
from chain.ledger.policy import Policy, Signer, make_policy
from chain.ledger.transactions import (
    CreateMultisig,
    SignedTx,
    Transfer,
    TxBody,
    TxSignature,
    UpdateMultisig,
    sign_tx,
)
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_bls_key, validator_with_key
from chain.state import (
    MAX_BALANCE,
    Account,
    Overlay,
    bump_nonce,
    decrease_balance,
    increase_balance,
    read_account,
)
from chain.store import ChainStore
from tests.kit.support import addr


def key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"exec/" + name.encode()))


CHAIN = "gridchain-exec"
VALIDATOR = key("validator")
OUTSIDER_VALIDATOR = key("not-a-validator")
ALICE, BOB, CAROL, DAVE, ERIN, NOBODY = (
    key(n) for n in ("alice", "bob", "carol", "dave", "erin", "nobody")
)
PROPOSER_ADDR = addr(VALIDATOR)
MIN_FEE = 2
GENESIS_TIME = 1_767_225_600_000
BALANCES = ((addr(ALICE), 1_000_000), (addr(BOB), 50), (addr(CAROL), 10_000))
TOTAL_SUPPLY = sum(amount for _, amount in BALANCES)


def make_genesis(
    chain_id: str = CHAIN, balances: tuple[tuple[Address, int], ...] = BALANCES
) -> GenesisState:
    return GenesisState(
        chain_id=chain_id,
        genesis_time_ms=GENESIS_TIME,
        balances=balances,
        validators=make_validator_set([validator_with_key(VALIDATOR, 100, "v0")]),
        council=make_policy([Signer(ALICE.public_key, 1)], 1),
        params=ChainParams(min_fee=MIN_FEE),
    )


GENESIS = make_genesis()


def transfer(sender: KeyPair, to: Address, amount: int, nonce: int, fee: int = MIN_FEE) -> SignedTx:
    return sign_tx(TxBody(CHAIN, addr(sender), nonce, fee, Transfer(to, amount)), [sender])


def make_commit(
    header: Header,
    signer: KeyPair = VALIDATOR,
    round_: int = 0,
    vote_type: VoteType = VoteType.PRECOMMIT,
) -> Commit:
    """A certificate naming the genesis set's only validator, its signature made by `signer`'s
    BLS key over a vote of `vote_type`."""
    message = vote_sign_bytes(CHAIN, header.height, round_, vote_type, header.hash)
    signature = bls.sign(validator_bls_key(signer), message)
    return Commit(header.height, round_, header.hash, signer_bitmap([0]), signature)


class StoreHead:
    """A store with its head: enough to build, commit and validate blocks."""

    def __init__(self, path: Path, genesis: GenesisState = GENESIS) -> None:
        self.store = ChainStore(str(path))
        self.head = open_chain(self.store, genesis)
        self.last_commit: Commit | None = None

    def build(
        self, txs: list[SignedTx], proposer: bytes = VALIDATOR.public_key
    ) -> tuple[BlockResult, list[Rejected]]:
        return build_block(
            self.store, self.head, self.last_commit, proposer, self.head.time_ms + 1000, txs
        )

    def commit(self, result: BlockResult) -> Commit:
        commit = make_commit(result.block.header)
        self.store.commit_block(result.block, commit, result.writes, result.new_nodes)
        self.head, self.last_commit = result.block.header, commit
        return commit

    def produce(self, txs: list[SignedTx]) -> tuple[BlockResult, list[Rejected]]:
        result, rejected = self.build(txs)
        self.commit(result)
        return result, rejected

    def account(self, address: Address) -> Account | None:
        return read_account(self.store, address)

    def balance(self, address: Address) -> int:
        account = self.account(address)
        return 0 if account is None else account.balance

    def validate(self, block: Block) -> BlockResult:
        return validate_block(self.store, self.head, block)

    def accept(self, block: Block) -> BlockResult:
        """Validate a peer's block and commit it, as a follower would."""
        result = validate_block(self.store, self.head, block)
        commit = make_commit(block.header)
        self.store.commit_block(block, commit, result.writes, result.new_nodes)
        self.head, self.last_commit = block.header, commit
        return result


@pytest.fixture
def node(tmp_path: Path) -> Iterator[StoreHead]:
    n = StoreHead(tmp_path / "a")
    yield n
    n.store.close()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[StoreHead]:
    """A second, independent store of the same chain."""
    n = StoreHead(tmp_path / "b")
    yield n
    n.store.close()


def supply(node: StoreHead, extra: list[Address]) -> int:
    addresses = {a for a, _ in BALANCES} | {PROPOSER_ADDR, COUNCIL_ADDRESS, *extra}
    return sum(node.balance(a) for a in addresses)


# --- genesis ------------------------------------------------------------------------------------


def test_genesis_state(node: StoreHead) -> None:
    assert node.head.height == 0
    assert node.head.chain_id == CHAIN
    for address, amount in BALANCES:
        assert node.account(address) == Account(amount, 0)
    council = node.account(COUNCIL_ADDRESS)
    assert council is not None and council.policy == GENESIS.council
    assert node.account(addr(DAVE)) is None
    assert supply(node, []) == TOTAL_SUPPLY


def test_open_chain_is_idempotent(node: StoreHead) -> None:
    assert open_chain(node.store, GENESIS) == node.head


def test_two_stores_agree_on_genesis(node: StoreHead, peer: StoreHead) -> None:
    assert node.head.hash == peer.head.hash


# --- transfers ----------------------------------------------------------------------------------


def test_transfers_move_balances_and_pay_the_proposer(node: StoreHead) -> None:
    txs = [
        transfer(ALICE, addr(BOB), 1000, 0, fee=7),
        transfer(ALICE, addr(DAVE), 500, 1, fee=3),
        transfer(CAROL, addr(ERIN), 9_000, 0),
        transfer(BOB, addr(CAROL), 1, 0),
    ]
    result, rejected = node.produce(txs)
    assert rejected == []
    assert result.block.txs == tuple(txs)
    assert [r.index for r in result.receipts] == [0, 1, 2, 3]
    assert [r.tx_id for r in result.receipts] == [tx.id for tx in txs]
    assert node.account(addr(ALICE)) == Account(1_000_000 - 1007 - 503, 2)
    assert node.account(addr(BOB)) == Account(50 + 1000 - 3, 1)
    assert node.account(addr(CAROL)) == Account(10_000 - 9_002 + 1, 1)
    assert node.account(addr(DAVE)) == Account(500, 0)
    assert node.account(addr(ERIN)) == Account(9_000, 0)
    assert node.balance(PROPOSER_ADDR) == 7 + 3 + MIN_FEE + MIN_FEE
    assert supply(node, [addr(DAVE), addr(ERIN)]) == TOTAL_SUPPLY


def test_fees_accumulate_over_blocks(node: StoreHead) -> None:
    node.produce([transfer(ALICE, addr(DAVE), 10, 0, fee=5)])
    node.produce([transfer(ALICE, addr(DAVE), 10, 1, fee=6)])
    assert node.head.height == 2
    assert node.balance(PROPOSER_ADDR) == 11
    assert node.balance(addr(DAVE)) == 20
    assert supply(node, [addr(DAVE)]) == TOTAL_SUPPLY


def test_the_proposer_can_spend_its_fees(node: StoreHead) -> None:
    node.produce([transfer(ALICE, addr(DAVE), 10, 0, fee=100)])
    _, rejected = node.produce([transfer(VALIDATOR, addr(ERIN), 90, 0, fee=10)])
    assert rejected == []
    # It paid 100 and got its own fee of 10 back.
    assert node.balance(PROPOSER_ADDR) == 10
    assert node.balance(addr(ERIN)) == 90
    assert supply(node, [addr(DAVE), addr(ERIN)]) == TOTAL_SUPPLY


def test_spending_the_whole_balance_is_allowed(node: StoreHead) -> None:
    _, rejected = node.produce([transfer(BOB, addr(DAVE), 50 - MIN_FEE, 0)])
    assert rejected == []
    assert node.account(addr(BOB)) == Account(0, 1)


def test_empty_block(node: StoreHead) -> None:
    """An empty block changes only the farming bookkeeping: the recent block hashes and (the
    first block of an epoch) the epoch record."""
    genesis = node.head
    result, rejected = node.produce([])
    assert rejected == [] and result.block.txs == ()
    assert result.block.header.state_root != genesis.state_root
    assert set(result.writes) == {RECENT_HASHES_KEY, EPOCH_KEY}
    assert read_recent_hashes(node.store) == ((0, genesis.hash),)
    assert result.block.header.tx_count == 0
    second, _ = node.produce([])
    assert set(second.writes) == {RECENT_HASHES_KEY}


# --- transactions left out ----------------------------------------------------------------------

BAD_CASES = [
    (
        "stale nonce",
        [transfer(ALICE, addr(DAVE), 1, 0)],
        transfer(ALICE, addr(DAVE), 2, 0),
        StaleNonce,
    ),
    ("future nonce", [], transfer(ALICE, addr(DAVE), 1, 1), FutureNonce),
    ("far future nonce", [], transfer(ALICE, addr(DAVE), 1, 2**40), FutureNonce),
    ("amount+fee one above balance", [], transfer(BOB, addr(DAVE), 49, 0), InsufficientBalance),
    ("amount above balance", [], transfer(BOB, addr(DAVE), 51, 0), InsufficientBalance),
    ("fee below min_fee", [], transfer(ALICE, addr(DAVE), 1, 0, fee=MIN_FEE - 1), FeeTooLow),
    ("zero fee", [], transfer(ALICE, addr(DAVE), 1, 0, fee=0), FeeTooLow),
    ("unknown sender", [], transfer(NOBODY, addr(DAVE), 1, 0), UnknownAccount),
    (
        "other chain",
        [],
        sign_tx(
            TxBody("gridchain-other", addr(ALICE), 0, MIN_FEE, Transfer(addr(DAVE), 1)), [ALICE]
        ),
        WrongChain,
    ),
]


@pytest.mark.parametrize(
    ("before", "bad", "error"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_invalid_transactions_are_left_out_and_change_nothing(
    node: StoreHead, before: list[SignedTx], bad: SignedTx, error: type[RuleViolation]
) -> None:
    if before:
        _, rejected = node.produce(before)
        assert rejected == []
    accounts = {a: node.account(a) for a in (addr(ALICE), addr(BOB), addr(DAVE), PROPOSER_ADDR)}

    empty, _ = node.build([])
    result, rejected = node.build([bad])
    assert [r.tx for r in rejected] == [bad]
    assert type(rejected[0].error) is error
    assert result.block.txs == ()
    assert result.receipts == ()
    assert result.block.header.state_root == empty.block.header.state_root
    # Whatever the overlay wrote back is the committed value, byte for byte.
    for k, v in result.writes.items():
        assert k in (RECENT_HASHES_KEY, EPOCH_KEY) or node.store.get_state(k) == v
    node.commit(result)
    assert {a: node.account(a) for a in accounts} == accounts


def test_bad_transactions_do_not_disturb_good_ones(node: StoreHead) -> None:
    good1 = transfer(ALICE, addr(DAVE), 10, 0)
    stale = transfer(ALICE, addr(DAVE), 11, 0)
    good2 = transfer(ALICE, addr(DAVE), 12, 1)
    broke = transfer(BOB, addr(DAVE), 100, 0)
    result, rejected = node.produce([good1, stale, broke, good2])
    assert result.block.txs == (good1, good2)
    assert [(r.tx, type(r.error)) for r in rejected] == [
        (stale, StaleNonce),
        (broke, InsufficientBalance),
    ]
    assert [r.index for r in result.receipts] == [0, 1]
    assert node.balance(addr(DAVE)) == 22
    assert node.account(addr(BOB)) == Account(50, 0)


def test_a_spend_uses_the_balance_left_by_earlier_transactions_in_the_block(
    node: StoreHead,
) -> None:
    first = transfer(BOB, addr(DAVE), 30, 0)
    second = transfer(BOB, addr(DAVE), 30, 1)
    result, rejected = node.produce([first, second])
    assert result.block.txs == (first,)
    assert [type(r.error) for r in rejected] == [InsufficientBalance]
    assert node.account(addr(BOB)) == Account(50 - 30 - MIN_FEE, 1)


def test_received_credit_can_be_spent_in_the_same_block(node: StoreHead) -> None:
    fund = transfer(ALICE, addr(DAVE), 100, 0)
    spend = transfer(DAVE, addr(ERIN), 98, 0)
    result, rejected = node.produce([spend, fund, spend])
    assert [type(r.error) for r in rejected] == [UnknownAccount]
    assert result.block.txs == (fund, spend)
    assert node.account(addr(DAVE)) == Account(0, 1)


# --- multisig -----------------------------------------------------------------------------------

TWO_OF_THREE = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 2)


def create_multisig(node: StoreHead, policy: Policy = TWO_OF_THREE, amount: int = 5_000) -> Address:
    nonce = node.account(addr(ALICE)).nonce  # type: ignore[union-attr]
    tx = sign_tx(
        TxBody(CHAIN, addr(ALICE), nonce, MIN_FEE, CreateMultisig(policy, amount)), [ALICE]
    )
    result, rejected = node.produce([tx])
    assert rejected == []
    created = multisig_address(addr(ALICE), nonce)
    assert result.receipts[0].created == created
    return created


def multisig_tx(
    sender: Address, nonce: int, payload: Transfer | UpdateMultisig, signers: list[KeyPair]
) -> SignedTx:
    return sign_tx(TxBody(CHAIN, sender, nonce, MIN_FEE, payload), signers)


def test_create_multisig_funds_the_new_account(node: StoreHead) -> None:
    created = create_multisig(node)
    assert node.account(created) == Account(5_000, 0, TWO_OF_THREE)
    assert node.account(addr(ALICE)) == Account(1_000_000 - 5_000 - MIN_FEE, 1)
    assert supply(node, [created]) == TOTAL_SUPPLY


def test_create_multisig_twice_gives_two_accounts(node: StoreHead) -> None:
    first = create_multisig(node, amount=1)
    second = create_multisig(node, amount=2)
    assert first != second
    assert node.balance(first) == 1 and node.balance(second) == 2


def test_multisig_spend_needs_the_threshold(node: StoreHead) -> None:
    ms = create_multisig(node)
    one = multisig_tx(ms, 0, Transfer(addr(DAVE), 100), [BOB])
    two = multisig_tx(ms, 0, Transfer(addr(DAVE), 100), [BOB, CAROL])
    result, rejected = node.produce([one, two])
    assert [type(r.error) for r in rejected] == [PolicyNotSatisfied]
    assert rejected[0].tx is one
    assert result.block.txs == (two,)
    assert node.account(ms) == Account(5_000 - 100 - MIN_FEE, 1, TWO_OF_THREE)
    assert node.balance(addr(DAVE)) == 100


def test_multisig_spend_signed_by_an_outsider_is_refused(node: StoreHead) -> None:
    ms = create_multisig(node)
    tx = multisig_tx(ms, 0, Transfer(addr(ERIN), 100), [BOB, CAROL, DAVE])
    _, rejected = node.produce([tx])
    assert [type(r.error) for r in rejected] == [PolicyNotSatisfied]
    assert "not a signer" in rejected[0].error.message


def test_transfer_to_an_existing_multisig_account(node: StoreHead) -> None:
    ms = create_multisig(node)
    _, rejected = node.produce([transfer(CAROL, ms, 250, 0)])
    assert rejected == []
    assert node.account(ms) == Account(5_000 + 250, 0, TWO_OF_THREE)


def test_transfer_to_a_multisig_address_without_account_is_refused(node: StoreHead) -> None:
    """Credits there would be stuck (no policy), and would squat a future account's address."""
    upcoming = multisig_address(addr(ALICE), 0)  # what Alice's next create would make
    squat = transfer(CAROL, upcoming, 1, 0)
    empty, _ = node.build([])
    result, rejected = node.produce([squat])
    assert [(r.tx, type(r.error)) for r in rejected] == [(squat, InvalidTransaction)]
    assert result.block.header.state_root == empty.block.header.state_root
    assert node.account(upcoming) is None
    assert create_multisig(node) == upcoming


def test_update_multisig_signed_by_old_signers_only_is_refused(node: StoreHead) -> None:
    ms = create_multisig(node)
    # New policy: Alice and Bob must both sign. Alice and Carol satisfy the old policy only.
    new = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB)], 2)
    tx = multisig_tx(ms, 0, UpdateMultisig(new), [ALICE, CAROL])
    _, rejected = node.produce([tx])
    assert [type(r.error) for r in rejected] == [PolicyNotSatisfied]
    assert node.account(ms) == Account(5_000, 0, TWO_OF_THREE)


def test_update_multisig_signed_by_new_signers_only_is_refused(node: StoreHead) -> None:
    ms = create_multisig(node)
    new = make_policy([Signer(BOB.public_key, 1)], 1)
    # Bob alone satisfies the new policy but not the old 2-of-3.
    _, rejected = node.produce([multisig_tx(ms, 0, UpdateMultisig(new), [BOB])])
    assert [type(r.error) for r in rejected] == [PolicyNotSatisfied]
    assert node.account(ms) == Account(5_000, 0, TWO_OF_THREE)


def test_update_multisig_satisfying_both_policies(node: StoreHead) -> None:
    ms = create_multisig(node)
    new = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB)], 2)
    _, rejected = node.produce([multisig_tx(ms, 0, UpdateMultisig(new), [ALICE, BOB])])
    assert rejected == []
    assert node.account(ms) == Account(5_000 - MIN_FEE, 1, new)
    # From now on the new policy rules: Alice + Carol was enough before, not any more.
    old_way = multisig_tx(ms, 1, Transfer(addr(DAVE), 1), [ALICE, CAROL])
    new_way = multisig_tx(ms, 1, Transfer(addr(DAVE), 1), [ALICE, BOB])
    result, rejected = node.produce([old_way, new_way])
    assert [type(r.error) for r in rejected] == [PolicyNotSatisfied]
    assert result.block.txs == (new_way,)


def test_update_multisig_signed_by_old_and_incoming_signers(node: StoreHead) -> None:
    ms = create_multisig(node)
    # Rotate Carol out and Dave in; Dave must consent (required), as must two old signers.
    new = make_policy(
        [Signer(ALICE.public_key, 1), Signer(BOB.public_key, 1), Signer(DAVE.public_key, 1, True)],
        2,
    )
    tx = multisig_tx(ms, 0, UpdateMultisig(new), [ALICE, BOB, DAVE])
    _, rejected = node.produce([tx])
    assert rejected == []
    assert node.account(ms) == Account(5_000 - MIN_FEE, 1, new)


# --- validation of a peer's block ---------------------------------------------------------------


def test_validate_accepts_a_built_block(node: StoreHead, peer: StoreHead) -> None:
    ms = create_multisig(node)
    peer.accept(node.store.block_at(1))  # type: ignore[arg-type]
    txs = [
        transfer(ALICE, addr(DAVE), 10, 1),
        multisig_tx(ms, 0, Transfer(addr(ERIN), 7), [ALICE, CAROL]),
        transfer(BOB, addr(ERIN), 3, 0),
    ]
    built, rejected = node.build(txs)
    assert rejected == []
    checked = peer.validate(built.block)
    assert checked.writes == built.writes
    assert checked.new_nodes == built.new_nodes
    assert checked.receipts == built.receipts
    node.commit(built)
    peer.accept(built.block)
    assert peer.head == node.head
    for a in (addr(ALICE), addr(BOB), addr(DAVE), addr(ERIN), ms, PROPOSER_ADDR):
        assert peer.account(a) == node.account(a)


def test_validate_accepts_a_block_after_a_round_trip_through_bytes(
    node: StoreHead, peer: StoreHead
) -> None:
    built, _ = node.build([transfer(ALICE, addr(DAVE), 10, 0)])
    received = decode_block(encode_block(built.block))
    assert received == built.block
    assert received.hash == built.block.hash
    assert peer.validate(received).writes == built.writes


def _rebuild(block: Block, **changes: object) -> Block:
    return Block(replace(block.header, **changes), block.txs, block.last_commit)


TAMPERED_HEADERS = [
    ("state_root", {"state_root": hash32(b"wrong")}, "state_root"),
    ("tx_root", {"tx_root": hash32(b"wrong")}, "tx_root"),
    ("prev_hash", {"prev_hash": hash32(b"wrong")}, "prev_hash"),
    ("height", {"height": 2}, "height"),
    ("chain_id", {"chain_id": "gridchain-other"}, "chain"),
    ("time not after parent", {"time_ms": GENESIS_TIME}, "time"),
    ("tx_count", {"tx_count": 2}, "tx_count"),
    ("validators_hash", {"validators_hash": hash32(b"wrong")}, "validators_hash"),
    ("proposer", {"proposer": OUTSIDER_VALIDATOR.public_key}, "not a validator"),
    ("last_commit_hash", {"last_commit_hash": hash32(b"wrong")}, "last_commit_hash"),
    ("audit_root", {"audit_root": hash32(b"wrong")}, "audit"),
]


@pytest.mark.parametrize(
    ("changes", "pattern"), [t[1:] for t in TAMPERED_HEADERS], ids=[t[0] for t in TAMPERED_HEADERS]
)
def test_validate_rejects_tampered_header(
    node: StoreHead, peer: StoreHead, changes: dict[str, object], pattern: str
) -> None:
    built, _ = node.build([transfer(ALICE, addr(DAVE), 10, 0)])
    peer.validate(built.block)  # the untouched block is fine
    with pytest.raises(InvalidBlock, match=pattern):
        peer.validate(_rebuild(built.block, **changes))


def test_validate_rejects_a_block_built_by_a_non_validator(
    node: StoreHead, peer: StoreHead
) -> None:
    built, _ = node.build(
        [transfer(ALICE, addr(DAVE), 10, 0)], proposer=OUTSIDER_VALIDATOR.public_key
    )
    with pytest.raises(InvalidBlock, match="not a validator"):
        peer.validate(built.block)


def test_validate_rejects_a_transaction_with_a_bad_signature(
    node: StoreHead, peer: StoreHead
) -> None:
    good = transfer(ALICE, addr(DAVE), 10, 0)
    sig = bytearray(good.signatures[0].signature)
    sig[5] ^= 1
    bad = SignedTx(good.body, (TxSignature(ALICE.public_key, bytes(sig)),))
    # build_block trusts its candidates to be signature-checked: it includes the bad one.
    built, rejected = node.build([bad])
    assert rejected == [] and built.block.txs == (bad,)
    with pytest.raises((InvalidBlock, InvalidSignature), match="does not verify"):
        peer.validate(built.block)


def test_validate_rejects_a_transaction_swapped_in(node: StoreHead, peer: StoreHead) -> None:
    built, _ = node.build([transfer(ALICE, addr(DAVE), 10, 0)])
    other = transfer(ALICE, addr(DAVE), 11, 0)
    swapped = Block(replace(built.block.header, tx_root=tx_root([other])), (other,), None)
    with pytest.raises(InvalidBlock, match="state_root"):
        peer.validate(swapped)


def test_validate_rejects_an_invalid_transaction(node: StoreHead, peer: StoreHead) -> None:
    bad = transfer(BOB, addr(DAVE), 1_000, 0)
    block = node.build([])[0].block
    forged = Block(replace(block.header, tx_root=tx_root([bad]), tx_count=1), (bad,), None)
    with pytest.raises(InvalidBlock, match=r"transaction 0 .*balance"):
        peer.validate(forged)


def test_validate_rejects_a_commit_on_block_1(node: StoreHead, peer: StoreHead) -> None:
    fake_commit = make_commit(node.head)
    built = build_block(
        node.store, node.head, fake_commit, VALIDATOR.public_key, GENESIS_TIME + 1, []
    )[0]
    with pytest.raises(InvalidBlock, match="genesis block has no commit"):
        peer.validate(built.block)


# --- the last commit on block 2 -----------------------------------------------------------------


@pytest.fixture
def at_height_1(node: StoreHead, peer: StoreHead) -> tuple[StoreHead, StoreHead]:
    result, _ = node.produce([transfer(ALICE, addr(DAVE), 10, 0)])
    peer.accept(result.block)
    return node, peer


def _block_2(node: StoreHead, last_commit: Commit | None) -> Block:
    return build_block(
        node.store, node.head, last_commit, VALIDATOR.public_key, node.head.time_ms + 1, []
    )[0].block


def test_block_2_with_a_valid_commit(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    peer.validate(_block_2(node, make_commit(node.head)))
    # a commit from another round is as good
    peer.validate(_block_2(node, make_commit(node.head, round_=3)))


def test_block_2_without_commit(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    with pytest.raises(InvalidBlock, match="lacks the commit"):
        peer.validate(_block_2(node, None))


def test_block_2_with_a_commit_by_a_non_validator(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        peer.validate(_block_2(node, make_commit(node.head, signer=OUTSIDER_VALIDATOR)))


def test_block_2_with_a_forged_commit_signature(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    good = make_commit(node.head)
    for forged in (
        bls.sign(validator_bls_key(VALIDATOR), b"something else"),
        bytes([good.signature[0]]) + bytes(95),  # not a point of the curve
        b"\xc0" + bytes(95),  # the identity
    ):
        with pytest.raises(InvalidBlock, match="not the aggregate"):
            peer.validate(_block_2(node, replace(good, signature=forged)))


def test_block_2_with_a_prevote_instead_of_a_precommit(
    at_height_1: tuple[StoreHead, StoreHead],
) -> None:
    node, peer = at_height_1
    prevote = make_commit(node.head, vote_type=VoteType.PREVOTE)
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        peer.validate(_block_2(node, prevote))


def test_block_2_with_a_commit_for_another_block(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    other = replace(node.head, time_ms=node.head.time_ms + 1)
    with pytest.raises(InvalidBlock, match="another block"):
        peer.validate(_block_2(node, make_commit(other)))


def test_block_2_with_an_empty_commit(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    empty = replace(make_commit(node.head), signers=b"")
    with pytest.raises(InvalidBlock, match="2/3"):
        peer.validate(_block_2(node, empty))


def test_block_2_with_a_bitmap_naming_more_than_the_set(
    at_height_1: tuple[StoreHead, StoreHead],
) -> None:
    node, peer = at_height_1
    good = make_commit(node.head)
    for signers in (b"\x03", b"\x02", b"\x01\x01"):  # the set has one validator, at bit 0
        with pytest.raises(InvalidBlock, match="of a set of 1"):
            peer.validate(_block_2(node, replace(good, signers=signers)))


def test_block_2_whose_header_hides_its_commit(at_height_1: tuple[StoreHead, StoreHead]) -> None:
    node, peer = at_height_1
    block = _block_2(node, make_commit(node.head))
    with pytest.raises(InvalidBlock, match="last_commit_hash"):
        peer.validate(Block(block.header, block.txs, make_commit(node.head, round_=1)))


# --- the store ----------------------------------------------------------------------------------


def test_everything_survives_reopening_the_store(tmp_path: Path) -> None:
    node = StoreHead(tmp_path / "db")
    ms = create_multisig(node)
    tx1 = transfer(ALICE, addr(DAVE), 10, 1)
    tx2 = multisig_tx(ms, 0, Transfer(addr(ERIN), 5), [BOB, CAROL])
    result, _ = node.produce([tx1, tx2])
    commit2 = node.last_commit
    blocks = {h: node.store.block_at(h) for h in range(3)}
    commits = {h: node.store.commit_at(h) for h in range(3)}
    head = node.store.head()
    watched = [addr(ALICE), addr(DAVE), addr(ERIN), ms, PROPOSER_ADDR, COUNCIL_ADDRESS]
    accounts = {a: node.account(a) for a in watched}
    node.store.close()
    assert node.store.closed

    store = ChainStore(str(tmp_path / "db"))
    try:
        assert store.head() == head
        assert head is not None and head.height == 2 and head.block_hash == result.block.hash
        assert head.state_root == result.block.header.state_root
        for h in range(3):
            assert store.block_at(h) == blocks[h]
            assert store.block_hash_at(h) == blocks[h].hash  # type: ignore[union-attr]
        assert store.block(result.block.hash) == result.block
        assert store.block_bytes(result.block.hash) == encode_block(result.block)
        assert store.block_at(3) is None
        assert store.commit_at(0) is None
        assert store.commit_at(2) == commit2 == commits[2]
        assert store.commit_at(1) == commits[1] is not None
        assert store.tx_location(tx1.id) == (2, 0)
        assert store.tx_location(tx2.id) == (2, 1)
        assert store.tx_location(blocks[1].txs[0].id) == (1, 0)  # type: ignore[union-attr]
        assert store.tx_location(hash32(b"nothing")) is None
        assert {a: read_account(store, a) for a in watched} == accounts
        assert open_chain(store, GENESIS) == result.block.header
        # and the chain goes on from there
        follower = build_block(
            store,
            result.block.header,
            commit2,
            VALIDATOR.public_key,
            result.block.header.time_ms + 1000,
            [],
        )
        assert follower[0].block.height == 3
    finally:
        store.close()


def test_snapshot_is_a_consistent_view(node: StoreHead) -> None:
    before = node.balance(addr(DAVE))
    with node.store.snapshot() as snap:
        node.produce([transfer(ALICE, addr(DAVE), 10, 0)])
        assert read_account(snap, addr(DAVE)) is None
        assert snap.head().height == 0  # type: ignore[union-attr]
    assert node.balance(addr(DAVE)) == before + 10


def test_commit_block_refuses_a_block_that_does_not_follow_the_head(node: StoreHead) -> None:
    result, _ = node.produce([transfer(ALICE, addr(DAVE), 10, 0)])
    head = node.store.head()
    with pytest.raises(StoreError, match="does not follow"):
        node.store.commit_block(result.block, None, result.writes, result.new_nodes)
    skipped = _rebuild(result.block, height=3)
    with pytest.raises(StoreError, match="does not follow"):
        node.store.commit_block(skipped, None, {}, {})
    genesis_again = node.store.block_at(0)
    with pytest.raises(StoreError, match="does not follow"):
        node.store.commit_block(genesis_again, None, {}, {})  # type: ignore[arg-type]
    assert node.store.head() == head


def test_commit_block_refuses_a_block_on_another_parent(node: StoreHead) -> None:
    result, _ = node.build([transfer(ALICE, addr(DAVE), 10, 0)])
    stranger = _rebuild(result.block, prev_hash=hash32(b"another parent"))
    with pytest.raises(StoreError):
        node.store.commit_block(stranger, None, result.writes, result.new_nodes)


def test_open_chain_refuses_a_store_of_another_genesis(tmp_path: Path) -> None:
    node = StoreHead(tmp_path / "db")
    node.store.close()
    store = ChainStore(str(tmp_path / "db"))
    try:
        for other in (
            make_genesis(chain_id="gridchain-other"),
            make_genesis(balances=BALANCES[:2]),
        ):
            with pytest.raises(StoreError, match="belongs to genesis"):
                open_chain(store, other)
        assert open_chain(store, GENESIS).height == 0
    finally:
        store.close()


def test_a_store_can_be_open_only_once(node: StoreHead) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        ChainStore(node.store.path)


# --- the mutators and the overflow rule -----------------------------------------------------


def env_at(node: StoreHead) -> BlockEnv:
    params = Overlay(node.store).params()
    return BlockEnv(CHAIN, 1, node.head.time_ms + 1, PROPOSER_ADDR, params, node.head.hash)


def test_increase_balance_refuses_to_pass_max_balance_and_never_clamps(node: StoreHead) -> None:
    state = Overlay(node.store)
    state.set_account(addr(BOB), Account(balance=MAX_BALANCE - 5, nonce=3))
    increase_balance(state, addr(BOB), 5)
    assert state.account(addr(BOB)) == Account(balance=MAX_BALANCE, nonce=3)
    with pytest.raises(BalanceOverflow, match="would exceed"):
        increase_balance(state, addr(BOB), 1)
    assert state.account(addr(BOB)) == Account(balance=MAX_BALANCE, nonce=3)


def test_decrease_balance_refuses_to_go_below_zero(node: StoreHead) -> None:
    state = Overlay(node.store)
    decrease_balance(state, addr(BOB), 50)
    assert state.account(addr(BOB)) == Account(balance=0)
    with pytest.raises(InsufficientBalance, match="does not cover 1"):
        decrease_balance(state, addr(BOB), 1)
    bump_nonce(state, addr(BOB))
    assert state.account(addr(BOB)) == Account(balance=0, nonce=1)


def test_a_transfer_that_would_overflow_is_refused_and_changes_nothing(node: StoreHead) -> None:
    """The sender is debited before the recipient is credited; the refusal drops both."""
    state = Overlay(node.store)
    state.set_account(addr(BOB), Account(balance=MAX_BALANCE - 5))
    before = state.writes()
    with pytest.raises(BalanceOverflow):
        process_transaction(env_at(node), state, transfer(ALICE, addr(BOB), 10, 0), 0)
    for k, v in state.writes().items():  # what was only read is written back unchanged
        assert before.get(k, node.store.get_state(k)) == v
    assert state.account(addr(ALICE)) == Account(balance=1_000_000)
    assert state.account(PROPOSER_ADDR) is None
    receipt = process_transaction(env_at(node), state, transfer(ALICE, addr(BOB), 5, 0), 0)
    assert receipt.fee == MIN_FEE
    assert state.account(addr(BOB)) == Account(balance=MAX_BALANCE)
    assert state.account(addr(ALICE)) == Account(balance=1_000_000 - 5 - MIN_FEE, nonce=1)


def test_a_child_overlay_merges_records_accounts_and_audit_entries(node: StoreHead) -> None:
    state = Overlay(node.store)
    work = state.child()
    entry = AuditEntry(1, 0, b"t" * 32, b"c" * 33, "topic", b"data")
    work.audit.append(entry)
    work.set_state(b"k" * 32, b"v")
    increase_balance(work, addr(DAVE), 7)
    assert state.account(addr(DAVE)) is None and state.audit == []
    work.merge_into_parent()
    assert state.audit == [entry]
    assert state.get_state(b"k" * 32) == b"v"
    assert state.account(addr(DAVE)) == Account(balance=7)
