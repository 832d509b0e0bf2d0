"""The double-sign-safe signer: the pure rule, and the signer that keeps it on disk."""

from pathlib import Path

import pytest

from chain.blocks.commit import VoteType
from chain.blocks.votes import NIL, check_proposal_signature, check_vote_signature
from chain.hashing import hash32
from consensus.double_sign import (
    DoubleSignRefused,
    InvalidSignRequest,
    LastSigned,
    SignStep,
    check_sign,
    decode_last_signed,
    encode_last_signed,
)
from node.consensus import privval
from node.consensus.privval import PrivValidator, PrivValidatorStateError
from tests.kit.support import dev_key

CHAIN = "gridchain-test"
BLOCK_A = hash32(b"block a")
BLOCK_B = hash32(b"block b")
PREVOTE, PRECOMMIT = VoteType.PREVOTE, VoteType.PRECOMMIT


def signer(path: Path, name: str = "val") -> PrivValidator:
    return PrivValidator(dev_key(name), path / "signer_state.cbor")


# The pure rule


LAST = LastSigned(5, 2, SignStep.PREVOTE, b"bytes", b"\x01" * 64)


@pytest.mark.parametrize(
    "position",
    [(4, 9, SignStep.PRECOMMIT), (5, 1, SignStep.PRECOMMIT), (5, 2, SignStep.PROPOSE)],
)
def test_rule_refuses_lower_positions(position: tuple[int, int, SignStep]) -> None:
    with pytest.raises(DoubleSignRefused, match="already signed at 5/2/prevote") as info:
        check_sign(LAST, *position, b"bytes")
    assert info.value.code == "double_sign_refused"


def test_rule_same_position() -> None:
    assert check_sign(LAST, 5, 2, SignStep.PREVOTE, b"bytes") == LAST.signature
    with pytest.raises(DoubleSignRefused, match="conflicting message at 5/2/prevote"):
        check_sign(LAST, 5, 2, SignStep.PREVOTE, b"other bytes")


@pytest.mark.parametrize(
    "position",
    [(5, 2, SignStep.PRECOMMIT), (5, 3, SignStep.PROPOSE), (6, 0, SignStep.PROPOSE)],
)
def test_rule_allows_higher_positions(position: tuple[int, int, SignStep]) -> None:
    assert check_sign(LAST, *position, b"anything") is None
    assert check_sign(None, *position, b"anything") is None


def test_rule_refuses_what_could_not_be_remembered() -> None:
    with pytest.raises(InvalidSignRequest, match="height 0"):
        check_sign(None, 0, 0, SignStep.PREVOTE, b"x")
    with pytest.raises(InvalidSignRequest, match="round -1"):
        check_sign(None, 1, -1, SignStep.PREVOTE, b"x")
    with pytest.raises(InvalidSignRequest, match="exceed"):
        check_sign(None, 1, 0, SignStep.PREVOTE, b"x" * 10_000)


def test_last_signed_round_trips_canonically() -> None:
    data = encode_last_signed(LAST)
    assert decode_last_signed(data) == LAST
    assert encode_last_signed(decode_last_signed(data)) == data


# The signer


def test_signatures_verify(tmp_path: Path) -> None:
    val = signer(tmp_path)
    proposal = val.sign_proposal(CHAIN, 1, 0, -1, BLOCK_A)
    check_proposal_signature(CHAIN, proposal)
    prevote = val.sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)
    check_vote_signature(CHAIN, prevote)
    precommit = val.sign_vote(CHAIN, PRECOMMIT, 1, 0, NIL)
    check_vote_signature(CHAIN, precommit)
    relocked = val.sign_proposal(CHAIN, 1, 1, 0, BLOCK_A)
    check_proposal_signature(CHAIN, relocked)
    assert relocked.valid_round == 0 and relocked.proposer == dev_key("val").public_key


def test_refuses_lower_height_round_and_step(tmp_path: Path) -> None:
    val = signer(tmp_path)
    val.sign_vote(CHAIN, PRECOMMIT, 3, 1, BLOCK_A)
    with pytest.raises(DoubleSignRefused, match="3/1/precommit"):
        val.sign_vote(CHAIN, PRECOMMIT, 2, 5, BLOCK_A)  # lower height
    with pytest.raises(DoubleSignRefused):
        val.sign_vote(CHAIN, PRECOMMIT, 3, 0, BLOCK_A)  # lower round
    with pytest.raises(DoubleSignRefused):
        val.sign_vote(CHAIN, PREVOTE, 3, 1, BLOCK_A)  # lower step
    with pytest.raises(DoubleSignRefused):
        val.sign_proposal(CHAIN, 3, 1, -1, BLOCK_A)
    val.sign_proposal(CHAIN, 3, 2, -1, BLOCK_A)  # the next round is fine


def test_refuses_conflicting_votes_and_proposals(tmp_path: Path) -> None:
    val = signer(tmp_path)
    val.sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)
    for other in (BLOCK_B, NIL):
        with pytest.raises(DoubleSignRefused, match="conflicting message at 1/0/prevote"):
            val.sign_vote(CHAIN, PREVOTE, 1, 0, other)
    with pytest.raises(DoubleSignRefused, match="conflicting"):
        val.sign_vote("another-chain", PREVOTE, 1, 0, BLOCK_A)
    val.sign_proposal(CHAIN, 2, 3, -1, BLOCK_A)
    with pytest.raises(DoubleSignRefused, match="conflicting message at 2/3/propose"):
        val.sign_proposal(CHAIN, 2, 3, 1, BLOCK_A)  # same block, other valid round


def test_identical_request_gets_the_identical_signature(tmp_path: Path) -> None:
    val = signer(tmp_path)
    first = val.sign_vote(CHAIN, PRECOMMIT, 4, 0, BLOCK_B)
    assert val.sign_vote(CHAIN, PRECOMMIT, 4, 0, BLOCK_B) == first
    proposal = val.sign_proposal(CHAIN, 5, 0, -1, BLOCK_A)
    assert val.sign_proposal(CHAIN, 5, 0, -1, BLOCK_A) == proposal


def test_state_survives_reopening(tmp_path: Path) -> None:
    val = signer(tmp_path)
    vote = val.sign_vote(CHAIN, PREVOTE, 7, 2, BLOCK_A)
    del val
    reopened = signer(tmp_path)
    assert reopened.last_signed is not None and reopened.last_signed.height == 7
    with pytest.raises(DoubleSignRefused, match="conflicting"):
        reopened.sign_vote(CHAIN, PREVOTE, 7, 2, BLOCK_B)
    with pytest.raises(DoubleSignRefused, match="already signed at 7/2/prevote"):
        reopened.sign_vote(CHAIN, PRECOMMIT, 7, 1, BLOCK_A)
    # A replay after the crash re-sends exactly what may already have left.
    assert reopened.sign_vote(CHAIN, PREVOTE, 7, 2, BLOCK_A) == vote
    reopened.sign_vote(CHAIN, PRECOMMIT, 7, 2, BLOCK_A)
    assert not (tmp_path / "signer_state.cbor.tmp").exists()


def test_missing_state_means_nothing_signed(tmp_path: Path) -> None:
    val = PrivValidator(dev_key("val"), tmp_path / "new" / "dir" / "state.cbor")
    assert val.last_signed is None
    val.sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)
    assert (tmp_path / "new" / "dir" / "state.cbor").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[:-1],
        lambda data: data + b"\x00",
        lambda data: b"not cbor at all",
        lambda data: data[:-5] + bytes([data[-5] ^ 1]) + data[-4:],  # a bit of the signature
    ],
    ids=["empty", "truncated", "trailing", "garbage", "bit-flip"],
)
def test_a_damaged_state_file_is_an_error_naming_it(tmp_path: Path, damage: object) -> None:
    val = signer(tmp_path)
    val.sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)
    path = tmp_path / "signer_state.cbor"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(PrivValidatorStateError, match=r"signer_state\.cbor") as info:
        signer(tmp_path)
    assert info.value.code == "bad_privval_state"
    assert path.exists()  # never silently reset


def test_a_state_file_of_another_key_is_refused(tmp_path: Path) -> None:
    signer(tmp_path, "alice").sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)
    with pytest.raises(PrivValidatorStateError, match="not by"):
        signer(tmp_path, "bob")


def test_nothing_is_released_when_persisting_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    val = signer(tmp_path)
    val.sign_vote(CHAIN, PREVOTE, 1, 0, BLOCK_A)

    def disk_full(path: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(privval, "write_file_atomically", disk_full)
    with pytest.raises(OSError, match="No space"):
        val.sign_vote(CHAIN, PRECOMMIT, 1, 0, BLOCK_A)
    assert val.last_signed is not None and val.last_signed.step == SignStep.PREVOTE
    monkeypatch.undo()
    assert signer(tmp_path).last_signed == val.last_signed
    check_vote_signature(CHAIN, val.sign_vote(CHAIN, PRECOMMIT, 1, 0, BLOCK_A))
