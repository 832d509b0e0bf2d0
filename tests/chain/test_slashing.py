"""Punishing validators: double-vote evidence, downtime, jail and unjail, on real LevelDB stores
with real ed25519 signatures; and the encodings of the new records."""

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cbor2
import pytest

from chain.address import key_address
from chain.blockchain import build_block
from chain.blocks.block import Block, decode_block, encode_block, tx_root
from chain.blocks.commit import (
    Commit,
    VoteType,
    check_commit,
    commit_signers,
    sign_commit,
)
from chain.blocks.evidence import (
    EMPTY_EVIDENCE_HASH,
    MAX_EVIDENCE_PER_BLOCK,
    DuplicateVoteEvidence,
    decode_evidence,
    encode_evidence,
    evidence_hash,
    evidence_to_json,
    make_evidence,
)
from chain.blocks.header import Header, header_to_json
from chain.blocks.votes import NIL, SignedVote, sign_vote
from chain.encoding import decode, encode
from chain.env import BlockEnv
from chain.errors import (
    EncodingError,
    InvalidBlock,
    InvalidParams,
    InvalidTransaction,
    NotJailed,
    StillJailed,
    Tombstoned,
    UnknownAccount,
)
from chain.genesis_state import GenesisState
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import (
    SignedTx,
    TxBody,
    Unjail,
    check_shape,
    decode_tx,
    sign_tx,
    tx_to_json,
)
from chain.params import ChainParams, params_from_value, params_to_value, validate_params
from chain.staking.slashing import (
    DOUBLE_SIGN,
    DOWNTIME,
    end_block,
    is_down,
    punish,
    record_vote,
    slash_amount,
)
from chain.staking.validators import (
    ValidatorSet,
    bls_registration,
    encode_validator_set,
    make_validator_set,
    validator_bls_key,
    validator_set_hash,
    validator_with_key,
)
from chain.state import (
    JAILED_FOREVER,
    LAST_VALIDATORS_KEY,
    VALIDATORS_KEY,
    JailedValidator,
    Overlay,
    SigningInfo,
    jailed_from_value,
    jailed_record,
    jailed_to_json,
    jailed_validators,
    signing_info,
    signing_info_from_value,
    signing_info_key,
    signing_info_record,
    signing_info_to_json,
)
from tests.kit.stakingkit import StakingChain


def key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"slash/" + name.encode()))


CHAIN = "gridchain-slash"
GENESIS_TIME = 1_767_225_600_000
A, B, C, D = (key(n) for n in ("a", "b", "c", "d"))
OUTSIDER = key("outsider")
KEYS = {k.public_key: k for k in (A, B, C, D, OUTSIDER)}
NAMES = {A.public_key: "a", B.public_key: "b", C.public_key: "c", D.public_key: "d"}
BLS = {k.public_key: validator_bls_key(k).public_key for k in (A, B, C, D)}
POP = {k.public_key: bls_registration(k).proof for k in (A, B, C, D)}
STAKE = 10_000
FUNDS = 1_000_000


def make_genesis(validators: Sequence[KeyPair] = (A, B, C, D), /, **params: int) -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_TIME,
        balances=tuple((key_address(k.public_key), FUNDS) for k in (A, B, C, D)),
        validators=make_validator_set(
            [validator_with_key(k, STAKE, NAMES[k.public_key]) for k in validators]
        ),
        council=make_policy([Signer(A.public_key, 1)], 1),
        params=ChainParams(**params),
    )


def make_commit(
    header: Header, signers: Sequence[KeyPair], vset: ValidatorSet, round_: int = 0
) -> Commit:
    """The certificate of `header` by `signers`, named by their places in `vset` (the set
    that voted on it)."""
    return sign_commit(CHAIN, vset, signers, header, round_)


def vote(
    k: KeyPair,
    height: int,
    block: bytes,
    round_: int = 0,
    vote_type: VoteType = VoteType.PRECOMMIT,
) -> SignedVote:
    return sign_vote(k, CHAIN, vote_type, height, round_, block)


BLOCK_X, BLOCK_Y = hash32(b"block x"), hash32(b"block y")


def double_vote(k: KeyPair, height: int = 1, round_: int = 0) -> DuplicateVoteEvidence:
    return make_evidence(vote(k, height, BLOCK_X, round_), vote(k, height, BLOCK_Y, round_))


def unjail_tx(k: KeyPair, nonce: int, fee: int = 1) -> SignedTx:
    body = TxBody(CHAIN, key_address(k.public_key), nonce, fee, Unjail(k.public_key))
    return sign_tx(body, [k])


class Chain(StakingChain):
    def __init__(self, path: Path, genesis: GenesisState) -> None:
        super().__init__(path, genesis, KEYS.values())


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = Chain(tmp_path / "chain", make_genesis())
    yield c
    c.store.close()


def stakes(vset: ValidatorSet) -> dict[bytes, int]:
    return {v.public_key: v.blockstake for v in vset.validators}


def with_evidence(block: Block, evidence: Sequence[DuplicateVoteEvidence]) -> Block:
    """The block carrying `evidence`, its header committing to it (nothing else adjusted)."""
    header = replace(block.header, evidence_hash=evidence_hash(evidence))
    return Block(header, block.txs, block.last_commit, tuple(evidence))


# --- double votes -------------------------------------------------------------------------------


def test_double_vote_slashes_5_percent_and_jails_for_ever(chain: Chain, tmp_path: Path) -> None:
    peer = Chain(tmp_path / "peer", make_genesis())
    try:
        first = chain.produce()
        peer.validate(first.block)
        peer.commit(first)
        evidence = double_vote(D, height=1)

        built, rejected = chain.build(evidence=[evidence])
        assert rejected == []
        block2 = built.block
        assert block2.evidence == (evidence,)
        assert block2.header.evidence_hash == evidence_hash([evidence])
        # Block 2 was voted on by all four: its header still names them.
        assert block2.header.validators_hash == validator_set_hash(make_genesis().validators)
        [punishment] = built.punishments
        assert punishment.validator == D.public_key and punishment.reason == DOUBLE_SIGN
        assert (punishment.slashed, punishment.blockstake) == (500, 9_500)
        assert punishment.tombstoned and punishment.jailed_until == JAILED_FOREVER

        checked = peer.validate(decode_block(encode_block(block2)))
        assert checked.writes == built.writes and checked.punishments == built.punishments
        commit2 = chain.commit(built)  # signed by all four, D included
        peer.store.commit_block(block2, commit2, checked.writes, checked.new_nodes)
        peer.head, peer.last_commit = block2.header, commit2

        assert stakes(chain.active()) == {
            A.public_key: STAKE,
            B.public_key: STAKE,
            C.public_key: STAKE,
        }
        assert chain.jailed() == {
            D.public_key: JailedValidator(
                D.public_key, BLS[D.public_key], POP[D.public_key], 9_500, "d", JAILED_FOREVER, True
            )
        }
        # The LAST set still holds D: it voted on block 2 and signed its commit.
        last = chain.state.last_validator_set()
        assert stakes(last)[D.public_key] == STAKE
        check_commit(CHAIN, last, commit2, block2.header)
        # against the active set its bitmap names a fourth validator of three, or (were D not
        # last in key order) validators whose keys did not make its aggregate
        with pytest.raises(InvalidBlock, match=r"of a set of 3|not the aggregate"):
            check_commit(CHAIN, chain.active(), commit2, block2.header)

        # Block 3 names the set without D, carries a commit D signed, and is valid.
        block3 = chain.build()[0].block
        assert block3.header.validators_hash == validator_set_hash(chain.active())
        assert block3.last_commit == commit2
        peer.validate(block3)
        # D can no longer propose.
        by_d = chain.build(proposer=D.public_key)[0].block
        with pytest.raises(InvalidBlock, match="not a validator"):
            peer.validate(by_d)
        chain.produce()
        chain.produce()
        chain.verify_replay(tmp_path / "replay")
    finally:
        peer.store.close()


def test_block_3_commit_checked_against_the_last_set_not_the_active_one(chain: Chain) -> None:
    chain.produce()
    chain.produce(evidence=[double_vote(D)])
    # A commit by A, B and C alone: 3/4 of the LAST set's blockstake, enough.
    commit = make_commit(chain.head, [A, B, C], chain.state.last_validator_set())
    block = build_block(chain.store, chain.head, commit, A.public_key, chain.head.time_ms + 1, [])
    chain.validate(block[0].block)
    # A, B alone: half of the LAST set (though 2/3 of the active one), not enough.
    commit = make_commit(chain.head, [A, B], chain.state.last_validator_set())
    block = build_block(chain.store, chain.head, commit, A.public_key, chain.head.time_ms + 1, [])
    with pytest.raises(InvalidBlock, match="more than 2/3"):
        chain.validate(block[0].block)


def test_prevote_and_nil_double_votes_are_evidence(chain: Chain) -> None:
    chain.produce()
    chain.produce()
    prevotes = make_evidence(
        vote(C, 2, BLOCK_X, 3, VoteType.PREVOTE), vote(C, 2, NIL, 3, VoteType.PREVOTE)
    )
    assert prevotes.first.block_hash == NIL  # nil sorts first
    result = chain.produce(evidence=[prevotes])
    assert result.block.evidence == (prevotes,)
    assert C.public_key not in stakes(chain.active())


def test_two_evidences_in_one_block(chain: Chain) -> None:
    chain.produce()
    result = chain.produce(evidence=[double_vote(C), double_vote(D)])
    assert [p.validator for p in result.punishments] == [C.public_key, D.public_key]
    assert set(stakes(chain.active())) == {A.public_key, B.public_key}


def test_evidence_against_a_jailed_validator_is_refused(chain: Chain) -> None:
    chain.produce()
    chain.produce(evidence=[double_vote(D)])
    again = double_vote(D, height=2)
    built, _ = chain.build(evidence=[again])
    assert built.block.evidence == ()  # left out by the builder
    with pytest.raises(InvalidBlock, match=r"not an active validator \(already jailed\?\)"):
        chain.validate(with_evidence(built.block, [again]))


# --- invalid evidence ---------------------------------------------------------------------------


def forged(first: SignedVote, second: SignedVote) -> DuplicateVoteEvidence:
    """Evidence as given, not reordered."""
    return DuplicateVoteEvidence(first, second)


def ordered(a: SignedVote, b: SignedVote) -> DuplicateVoteEvidence:
    return forged(*sorted((a, b), key=lambda v: v.block_hash))


def flipped_signature(v: SignedVote) -> SignedVote:
    sig = bytearray(v.signature)
    sig[7] ^= 1
    return replace(v, signature=bytes(sig))


GOOD = double_vote(D, height=2)
INVALID_EVIDENCE: list[tuple[str, list[DuplicateVoteEvidence], str]] = [
    (
        "same block hash",
        [forged(vote(D, 2, BLOCK_X), vote(D, 2, BLOCK_X))],
        "same block: that is not a double vote",
    ),
    (
        "different heights",
        [ordered(vote(D, 1, BLOCK_X), vote(D, 2, BLOCK_Y))],
        "two heights",
    ),
    (
        "different rounds",
        [ordered(vote(D, 2, BLOCK_X, 0), vote(D, 2, BLOCK_Y, 1))],
        "two rounds",
    ),
    (
        "different types",
        [ordered(vote(D, 2, BLOCK_X), vote(D, 2, BLOCK_Y, vote_type=VoteType.PREVOTE))],
        "two types",
    ),
    (
        "different validators",
        [ordered(vote(C, 2, BLOCK_X), vote(D, 2, BLOCK_Y))],
        "two different validators",
    ),
    (
        "bad signature",
        [forged(GOOD.first, flipped_signature(GOOD.second))],
        "signature is invalid: .*does not verify",
    ),
    (
        "signed for another chain",
        [
            make_evidence(
                sign_vote(D, "gridchain-other", VoteType.PRECOMMIT, 2, 0, BLOCK_X),
                sign_vote(D, "gridchain-other", VoteType.PRECOMMIT, 2, 0, BLOCK_Y),
            )
        ],
        "does not verify",
    ),
    (
        "not a validator",
        [double_vote(OUTSIDER, height=2)],
        r"not an active validator \(already jailed\?\)",
    ),
    ("future height", [double_vote(D, height=9)], "height 9 is not below the block height 4"),
    (
        "height of the block itself",
        [double_vote(D, height=4)],
        "height 4 is not below the block height 4",
    ),
    ("wrong order", [forged(GOOD.second, GOOD.first)], "ordered by block hash"),
    ("twice against one validator", [GOOD, double_vote(D, height=1)], "already has evidence"),
    ("the same evidence twice", [GOOD, GOOD], "already has evidence"),
]


@pytest.fixture
def at_height_3(chain: Chain) -> Chain:
    chain.produce_until(3)
    return chain


@pytest.mark.parametrize(
    ("evidence", "pattern"),
    [case[1:] for case in INVALID_EVIDENCE],
    ids=[case[0] for case in INVALID_EVIDENCE],
)
def test_invalid_evidence_is_rejected_and_left_out(
    at_height_3: Chain, evidence: list[DuplicateVoteEvidence], pattern: str
) -> None:
    chain = at_height_3
    built, _ = chain.build(evidence=evidence)
    # The builder skips what does not check out (keeping the first of a duplicate pair).
    assert all(e in evidence for e in built.block.evidence)
    assert len(built.block.evidence) <= 1
    plain = chain.build()[0].block
    with pytest.raises(InvalidBlock, match="invalid evidence: evidence [01]: .*" + pattern):
        chain.validate(with_evidence(plain, evidence))


def test_too_old_evidence(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db", make_genesis(evidence_max_age=3))
    try:
        chain.produce_until(4)
        # Block 5 accepts heights 2..4.
        old, oldest_ok = double_vote(D, height=1), double_vote(D, height=2)
        plain = chain.build()[0].block
        with pytest.raises(InvalidBlock, match="height 1 is too old: older than 3 blocks"):
            chain.validate(with_evidence(plain, [old]))
        built, _ = chain.build(evidence=[old, oldest_ok])
        assert built.block.evidence == (oldest_ok,)
        chain.validate(built.block)
    finally:
        chain.store.close()


def test_build_block_skips_bad_evidence_and_keeps_good(at_height_3: Chain) -> None:
    chain = at_height_3
    bad_sig = forged(GOOD.first, flipped_signature(GOOD.second))
    outsider = double_vote(OUTSIDER, height=1)
    c_evidence = double_vote(C, height=1)
    candidates = [bad_sig, outsider, GOOD, double_vote(D, height=1), c_evidence]
    built, _ = chain.build(evidence=candidates)
    assert built.block.evidence == (GOOD, c_evidence)
    assert chain.validate(built.block).writes == built.writes


def test_build_block_takes_at_most_the_limit(at_height_3: Chain) -> None:
    chain = at_height_3
    # Distinct validators are not available in this number: the same evidence repeated is
    # enough to check the count limit on validation, and the builder never exceeds it.
    many = [GOOD] * (MAX_EVIDENCE_PER_BLOCK + 1)
    built, _ = chain.build(evidence=many)
    assert built.block.evidence == (GOOD,)
    plain = chain.build()[0].block
    with pytest.raises(InvalidBlock, match=f"more than {MAX_EVIDENCE_PER_BLOCK} evidences"):
        chain.validate(with_evidence(plain, many))


def test_evidence_hash_must_match(at_height_3: Chain) -> None:
    chain = at_height_3
    built, _ = chain.build(evidence=[GOOD])
    hidden = Block(built.block.header, built.block.txs, built.block.last_commit, ())
    with pytest.raises(InvalidBlock, match="evidence_hash"):
        chain.validate(hidden)
    swapped = Block(
        built.block.header, built.block.txs, built.block.last_commit, (double_vote(C, 1),)
    )
    with pytest.raises(InvalidBlock, match="evidence_hash"):
        chain.validate(swapped)


# --- downtime -----------------------------------------------------------------------------------

DOWNTIME_PARAMS = {
    "downtime_window": 10,
    "downtime_min_signed_bp": 5_000,
    "downtime_slash_bp": 100,
    "downtime_jail_blocks": 5,
}


@pytest.fixture
def downtime_chain(tmp_path: Path) -> Iterator[Chain]:
    """D misses heights 1..6 (6 of 10), C misses 7..10 (4 of 10); block 11 judges them."""
    c = Chain(tmp_path / "down", make_genesis(**DOWNTIME_PARAMS))
    for height in range(1, 11):
        c.produce(absent=[D] if height <= 6 else [C])
    yield c
    c.store.close()


def test_downtime_slashes_1_percent_and_jails(downtime_chain: Chain, tmp_path: Path) -> None:
    chain = downtime_chain
    info_d = signing_info(chain.store, D.public_key)
    assert info_d == SigningInfo(1, (1, 2, 3, 4, 5, 6))  # heights 1..9 recorded so far
    result = chain.produce()  # block 11 records height 10 and judges heights 1..10
    [punishment] = result.punishments
    assert punishment.validator == D.public_key and punishment.reason == DOWNTIME
    assert (punishment.slashed, punishment.blockstake) == (100, 9_900)
    assert punishment.jailed_until == 16 and not punishment.tombstoned
    assert chain.jailed() == {
        D.public_key: JailedValidator(
            D.public_key, BLS[D.public_key], POP[D.public_key], 9_900, "d", 16, False
        )
    }
    # C missed 4 of 10: it stays, untouched.
    assert stakes(chain.active()) == {k.public_key: STAKE for k in (A, B, C)}
    assert signing_info(chain.store, C.public_key) == SigningInfo(1, (7, 8, 9, 10))
    # D's signing info starts afresh.
    assert signing_info(chain.store, D.public_key) == SigningInfo(11)
    # The next block no longer names D, and its commit (which D signed) checks against LAST.
    voted_on_11 = chain.state.last_validator_set()
    assert D.public_key in stakes(voted_on_11)
    block12 = chain.produce().block
    assert block12.header.validators_hash == validator_set_hash(chain.active())
    assert block12.last_commit is not None
    signers = commit_signers(block12.last_commit, voted_on_11)
    assert D.public_key in {v.public_key for v in signers}
    chain.produce_until(14)
    chain.verify_replay(tmp_path / "replay")


def test_downtime_window_slides(tmp_path: Path) -> None:
    """Missed heights older than the window are forgotten: misses spread out never add up."""
    chain = Chain(tmp_path / "db", make_genesis(**DOWNTIME_PARAMS))
    try:
        for height in range(1, 31):
            chain.produce(absent=[D] if height % 3 == 0 else [])
        info = signing_info(chain.store, D.public_key)
        assert info is not None and info.missed == (21, 24, 27)
        assert D.public_key in stakes(chain.active())
    finally:
        chain.store.close()


def test_signing_info_is_not_rewritten_while_a_validator_signs(chain: Chain) -> None:
    chain.produce()
    result = chain.produce()  # records height 1, signed by all
    assert all(signing_info_key(k.public_key) not in result.writes for k in (A, B, C, D))
    result = chain.produce(absent=[C])  # records height 2, still all signed
    assert all(signing_info_key(k.public_key) not in result.writes for k in (A, B, C, D))
    result = chain.produce()  # records height 3, which C missed
    assert signing_info(Overlay(_Writes(result.writes)), C.public_key) == SigningInfo(1, (3,))
    assert [k for k in (A, B, C, D) if signing_info_key(k.public_key) in result.writes] == [C]


class _Writes:
    def __init__(self, writes: dict[bytes, bytes]) -> None:
        self.writes = writes

    def get_state(self, key: bytes) -> bytes | None:
        return self.writes.get(key)


def test_is_down_at_the_threshold() -> None:
    params = ChainParams(**DOWNTIME_PARAMS)
    half = SigningInfo(1, (1, 3, 5, 7, 9))
    assert not is_down(half, 10, params)  # signed exactly 5 of 10: enough
    six = SigningInfo(1, (1, 2, 3, 5, 7, 9))
    assert is_down(six, 10, params)
    assert not is_down(six, 9, params)  # only 9 heights tracked yet
    assert not is_down(SigningInfo(1, (1, 2, 3, 4, 5, 6)), 16, params)  # 1..6 left the window
    assert not is_down(SigningInfo(11, tuple(range(11, 20))), 19, params)
    never = replace(params, downtime_min_signed_bp=0)
    assert not is_down(SigningInfo(1, tuple(range(1, 11))), 10, never)


def test_record_vote() -> None:
    info = SigningInfo(5)
    info = record_vote(info, 5, False, 3)
    info = record_vote(info, 6, True, 3)
    info = record_vote(info, 7, False, 3)
    assert info == SigningInfo(5, (5, 7))
    assert record_vote(info, 8, True, 3) == SigningInfo(5, (7,))


def test_slash_amount_rounds_down_and_leaves_one() -> None:
    assert slash_amount(10_000, 500) == 500
    assert slash_amount(199, 100) == 1
    assert slash_amount(99, 100) == 0
    assert slash_amount(10, 10_000) == 9
    assert slash_amount(1, 10_000) == 0


# --- unjail -------------------------------------------------------------------------------------


def test_unjail_before_jailed_until_is_refused_after_accepted(
    downtime_chain: Chain, tmp_path: Path
) -> None:
    chain = downtime_chain
    chain.produce()  # block 11 jails D until 16
    d_address = key_address(D.public_key)
    for height in (12, 15):
        chain.produce_until(height - 1)
        built, rejected = chain.build([unjail_tx(D, 0)])
        assert built.block.height == height and built.block.txs == ()
        assert [type(r.error) for r in rejected] == [StillJailed]
        assert "jailed until height 16; this is height " + str(height) in rejected[0].error.message
    chain.produce_until(15)
    proposer_before = chain.state.account(key_address(chain.active().validators[0].public_key))
    result = chain.produce([unjail_tx(D, 0, fee=3)])  # height 16
    assert result.block.height == 16 and len(result.receipts) == 1
    assert stakes(chain.active())[D.public_key] == 9_900
    assert chain.jailed() == {}
    assert signing_info(chain.store, D.public_key) == SigningInfo(17)
    account = chain.state.account(d_address)
    assert account is not None and account.nonce == 1 and account.balance == FUNDS - 3
    proposer_after = chain.state.account(key_address(chain.active().validators[0].public_key))
    assert proposer_before is not None and proposer_after is not None
    assert proposer_after.balance == proposer_before.balance + 3
    # Block 16 was voted on without D; block 17 names D, and D votes on it.
    assert D.public_key not in stakes(chain.state.last_validator_set())
    block17 = chain.produce().block
    assert block17.header.validators_hash == validator_set_hash(chain.active())
    assert D.public_key in stakes(chain.state.last_validator_set())
    chain.produce()
    assert signing_info(chain.store, D.public_key) == SigningInfo(17)
    chain.produce(absent=[D])
    chain.produce()
    assert signing_info(chain.store, D.public_key) == SigningInfo(17, (19,))
    chain.verify_replay(tmp_path / "replay")


def test_unjail_by_a_validator_that_is_not_jailed(chain: Chain) -> None:
    _, rejected = chain.build([unjail_tx(C, 0)])
    assert [type(r.error) for r in rejected] == [NotJailed]
    assert "is not jailed" in rejected[0].error.message


def test_tombstoned_validator_cannot_unjail(chain: Chain) -> None:
    chain.produce()
    chain.produce(evidence=[double_vote(D)])
    chain.produce_until(10)
    _, rejected = chain.build([unjail_tx(D, 0)])
    assert [type(r.error) for r in rejected] == [Tombstoned]
    assert "tombstoned" in rejected[0].error.message


def test_unjail_of_another_validator_is_refused_statelessly() -> None:
    body = TxBody(CHAIN, key_address(C.public_key), 0, 1, Unjail(D.public_key))
    with pytest.raises(InvalidTransaction, match="validator's own key address"):
        check_shape(sign_tx(body, [C]))


def test_unjail_from_a_validator_without_account(tmp_path: Path) -> None:
    genesis = replace(make_genesis(), balances=())
    chain = Chain(tmp_path / "db", genesis)
    try:
        _, rejected = chain.build([unjail_tx(D, 0)])
        assert [type(r.error) for r in rejected] == [UnknownAccount]
    finally:
        chain.store.close()


def test_a_forged_unjail_block_is_rejected(downtime_chain: Chain) -> None:
    chain = downtime_chain
    chain.produce()  # jails D until 16
    good, _ = chain.build()
    tx = unjail_tx(D, 0)
    header = replace(good.block.header, tx_root=tx_root([tx]), tx_count=1)
    with pytest.raises(InvalidBlock, match=r"transaction 0 .*jailed until height 16"):
        chain.validate(Block(header, (tx,), good.block.last_commit))


# --- the last validator -------------------------------------------------------------------------


def test_the_last_validator_is_slashed_but_never_removed(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db", make_genesis([A, B]))
    try:
        chain.produce()
        result = chain.produce(evidence=[double_vote(A), double_vote(B)])
        first, second = result.punishments
        assert first.validator == A.public_key and first.jailed_until == JAILED_FOREVER
        assert second.validator == B.public_key and second.jailed_until is None
        assert second.tombstoned and second.blockstake == 9_500
        # B stays, slashed, and is marked tombstoned so it is never slashed for it again.
        assert stakes(chain.active()) == {B.public_key: 9_500}
        assert chain.jailed()[B.public_key].tombstoned
        chain.produce()
        built, _ = chain.build(evidence=[double_vote(B, height=2)])
        assert built.block.evidence == ()
        with pytest.raises(InvalidBlock, match="already tombstoned"):
            chain.validate(with_evidence(built.block, [double_vote(B, height=2)]))
        # Its unjail is refused (it is tombstoned), and it keeps producing blocks.
        _, rejected = chain.build([unjail_tx(B, 0)])
        assert [type(r.error) for r in rejected] == [Tombstoned]
        chain.produce_until(6)
        chain.verify_replay(tmp_path / "replay")
    finally:
        chain.store.close()


def test_the_last_validator_is_not_jailed_for_downtime(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db", make_genesis([A], **DOWNTIME_PARAMS))
    try:
        chain.produce_until(11)
        state = Overlay(chain.store)
        state.set_state(
            signing_info_key(A.public_key), signing_info_record(SigningInfo(1, tuple(range(1, 11))))
        )
        env = BlockEnv(
            CHAIN,
            12,
            chain.head.time_ms + 1,
            key_address(A.public_key),
            state.params(),
            chain.head.hash,
        )
        [punishment] = end_block(env, state)
        assert punishment.jailed_until is None and punishment.slashed == 100
        assert stakes(state.validator_set()) == {A.public_key: 9_900}
        assert jailed_validators(state) == ()
        assert signing_info(state, A.public_key) == SigningInfo(12)
    finally:
        chain.store.close()


def test_punish_a_validator_that_is_not_active_is_an_error(chain: Chain) -> None:
    with pytest.raises(LookupError):
        punish(chain.state, OUTSIDER.public_key, DOWNTIME, 100, 10)


# --- state records at genesis -------------------------------------------------------------------


def test_genesis_records(chain: Chain) -> None:
    state = chain.state
    assert state.last_validator_set() == state.validator_set() == chain.genesis.validators
    assert chain.store.get_state(LAST_VALIDATORS_KEY) == chain.store.get_state(VALIDATORS_KEY)
    assert jailed_validators(chain.store) == ()
    for k in (A, B, C, D):
        assert signing_info(chain.store, k.public_key) == SigningInfo(1)
    assert signing_info(chain.store, OUTSIDER.public_key) is None
    assert chain.head.evidence_hash == EMPTY_EVIDENCE_HASH


def test_last_set_written_only_when_it_changes(chain: Chain) -> None:
    assert LAST_VALIDATORS_KEY not in chain.produce().writes
    assert LAST_VALIDATORS_KEY not in chain.produce(evidence=[double_vote(D)]).writes
    changed = chain.produce()  # the set without D voted on this block
    assert changed.writes[LAST_VALIDATORS_KEY] == encode_validator_set(chain.active())
    assert LAST_VALIDATORS_KEY not in chain.produce().writes


# --- encodings ----------------------------------------------------------------------------------


def test_evidence_round_trip_and_canonical_bytes() -> None:
    evidence = double_vote(D, height=7, round_=2)
    data = encode_evidence(evidence)
    assert decode_evidence(data) == evidence
    assert encode_evidence(decode_evidence(data)) == data
    assert make_evidence(evidence.second, evidence.first) == evidence  # one order, one encoding
    non_canonical = cbor2.dumps(decode(data), canonical=False)
    if non_canonical != data:
        with pytest.raises(EncodingError):
            decode_evidence(non_canonical)
    value = decode(data)
    value["extra"] = 1
    with pytest.raises(EncodingError, match="fields"):
        decode_evidence(encode(value))
    view = evidence_to_json(evidence)
    assert view["validator"] == D.public_key.hex() and view["height"] == 7
    assert view["round"] == 2 and view["vote_type"] == "precommit"
    assert {view["first"]["block_hash"], view["second"]["block_hash"]} == {
        BLOCK_X.hex(),
        BLOCK_Y.hex(),
    }


def test_block_with_evidence_round_trips(chain: Chain) -> None:
    chain.produce()
    built, _ = chain.build(evidence=[double_vote(D), double_vote(C)])
    block = built.block
    data = encode_block(block)
    assert decode_block(data) == block
    assert encode_block(decode_block(data)) == data
    assert header_to_json(block.header)["evidence_hash"] == evidence_hash(block.evidence).hex()
    # An older-style block value without the evidence field is refused.
    value = decode(data, 1 << 26)
    del value["evidence"]
    with pytest.raises(EncodingError, match="fields"):
        decode_block(encode(value))
    value = decode(data, 1 << 26)
    value["evidence"] = value["evidence"] * 40
    with pytest.raises(EncodingError, match="at most 64"):
        decode_block(encode(value))


def test_empty_evidence_hash_is_fixed() -> None:
    """tagged_hash(b"gc/evidence", encode([])), i.e. of the single byte 0x80."""
    assert EMPTY_EVIDENCE_HASH == evidence_hash([]) == evidence_hash(())
    assert EMPTY_EVIDENCE_HASH.hex() == (
        "4de3c5eeae7b01a0acd13b9afb4d1f6011d4aa5acb2a65887baef005f81f0dbe"
    )


def test_block_without_evidence_keeps_its_old_constructor(chain: Chain) -> None:
    built, _ = chain.build()
    block = built.block
    assert Block(block.header, block.txs, block.last_commit) == block


def test_jailed_record_is_sorted_and_canonical() -> None:
    entries = (
        JailedValidator(
            D.public_key, BLS[D.public_key], POP[D.public_key], 9_500, "d", JAILED_FOREVER, True
        ),
        JailedValidator(C.public_key, BLS[C.public_key], POP[C.public_key], 99, "c", 16, False),
    )
    data = jailed_record(entries)
    assert data == jailed_record(tuple(reversed(entries)))
    decoded = jailed_from_value(decode(data))
    assert [j.public_key for j in decoded] == sorted(k.public_key for k in (C, D))
    assert set(decoded) == set(entries)
    unsorted = [list(x) for x in reversed(decode(data))]
    with pytest.raises(EncodingError, match="sorted"):
        jailed_from_value(unsorted)
    with pytest.raises(EncodingError, match="sorted"):
        jailed_from_value(decode(data) * 2)
    with pytest.raises(EncodingError, match="blockstake"):
        jailed_from_value([[C.public_key, BLS[C.public_key], POP[C.public_key], 0, "c", 16, False]])
    with pytest.raises(EncodingError, match="tombstoned"):
        jailed_from_value([[C.public_key, BLS[C.public_key], POP[C.public_key], 1, "c", 16, 1]])
    with pytest.raises(EncodingError, match="BLS key"):
        jailed_from_value([[C.public_key, b"", POP[C.public_key], 1, "c", 16, False]])
    assert jailed_to_json(entries[0])["jailed_until"] is None
    assert jailed_to_json(entries[1]) == {
        "public_key": C.public_key.hex(),
        "bls_key": BLS[C.public_key].hex(),
        "bls_pop": POP[C.public_key].hex(),
        "blockstake": 99,
        "name": "c",
        "jailed_until": 16,
        "tombstoned": False,
    }


def test_signing_info_round_trip_and_canonical() -> None:
    info = SigningInfo(3, (4, 9))
    assert signing_info_from_value(decode(signing_info_record(info))) == info
    assert signing_info_to_json(info) == {"start_height": 3, "missed": [4, 9]}
    for bad, pattern in (
        ({"start_height": 3, "missed": [9, 4]}, "increasing"),
        ({"start_height": 3, "missed": [4, 4]}, "increasing"),
        ({"start_height": 3, "missed": [2]}, "outside"),
        ({"start_height": 0, "missed": []}, "outside"),
        ({"start_height": 3}, "fields"),
    ):
        with pytest.raises(EncodingError, match=pattern):
            signing_info_from_value(bad)


def test_unjail_transaction_round_trip_and_json() -> None:
    tx = unjail_tx(D, 4, fee=2)
    decoded = decode_tx(tx.encoded)
    assert decoded == tx and decoded.id == tx.id
    assert decoded.spend == 2
    view = tx_to_json(tx)
    assert view["type"] == "unjail"
    assert view["payload"] == {"validator": D.public_key.hex()}
    value: Any = decode(tx.encoded)
    value["body"]["payload"]["validator"] = b"\x01" * 31
    with pytest.raises(EncodingError, match="validator"):
        decode_tx(encode(value))


def test_params_round_trip_and_bounds() -> None:
    params = ChainParams(**DOWNTIME_PARAMS)
    assert params_from_value(decode(encode(params_to_value(params)))) == params
    validate_params(params)
    for name, bad in (
        ("double_sign_slash_bp", 10_001),
        ("downtime_slash_bp", 20_000),
        ("downtime_min_signed_bp", 10_001),
        ("downtime_window", 0),
        ("evidence_max_age", 0),
    ):
        wrong = replace(params, **{name: bad})
        with pytest.raises(InvalidParams, match=name):
            validate_params(wrong)
        with pytest.raises(EncodingError, match=name):
            params_from_value(params_to_value(wrong))
