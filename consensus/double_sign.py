"""The rule of a double-sign-safe signer (after cometbft's privval/file.go).

A validator signs at most one message per position (height, round, step), and positions only
move forward: steps are ordered PROPOSE < PREVOTE < PRECOMMIT within a round, rounds within a
height. The signer remembers the last position it signed, with the bytes and the signature, and
before signing anything:

- a position below the last one is refused (signing it could contradict what was sent);
- the same position with the same bytes gets the earlier signature back, so a node that crashed
  or replays its log after signing re-sends exactly what it may already have sent;
- the same position with other bytes is refused: that would be equivocation;
- a position above the last one is signed, and must be persisted before it is released.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chain.blocks.commit import VoteType
from chain.blocks.header import MAX_HEIGHT
from chain.blocks.votes import MAX_ROUND
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_map
from chain.errors import GridchainError
from chain.keys import SIGNATURE_SIZE

MAX_SIGN_BYTES = 1 << 12  # vote and proposal sign bytes are about 130 bytes


class SignStep(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


class DoubleSignRefused(GridchainError):
    """The signer refuses: signing this could equivocate (a local safety guard, not a rule)."""

    code = "double_sign_refused"


class InvalidSignRequest(GridchainError):
    """A request to the signer that makes no sense (our own bug, not the input's)."""

    code = "invalid_sign_request"


@dataclass(frozen=True)
class LastSigned:
    """The last message a signer signed, at position (height, round, step)."""

    height: int
    round: int
    step: SignStep
    sign_bytes: bytes
    signature: bytes

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))


def vote_step(vote_type: VoteType) -> SignStep:
    return SignStep.PREVOTE if vote_type == VoteType.PREVOTE else SignStep.PRECOMMIT


def describe(position: tuple[int, int, int]) -> str:
    height, round_, step = position
    return f"{height}/{round_}/{SignStep(step).name.lower()}"


def validate_request(height: int, round_: int, step: SignStep, sign_bytes: bytes) -> None:
    """Only what the state file can hold back is signed, so every signature can be remembered."""
    if not 1 <= height <= MAX_HEIGHT:
        raise InvalidSignRequest(f"height {height} is not in 1..{MAX_HEIGHT}")
    if not 0 <= round_ <= MAX_ROUND:
        raise InvalidSignRequest(f"round {round_} is not in 0..{MAX_ROUND}")
    if not isinstance(step, SignStep):
        raise InvalidSignRequest(f"step {step!r} is not a signing step")
    if len(sign_bytes) > MAX_SIGN_BYTES:
        raise InvalidSignRequest(f"sign bytes of {len(sign_bytes)} exceed {MAX_SIGN_BYTES}")


def check_sign(
    last: LastSigned | None, height: int, round_: int, step: SignStep, sign_bytes: bytes
) -> bytes | None:
    """The earlier signature to re-send, or None if the caller may sign (and must persist the
    new LastSigned before releasing the signature). Raises DoubleSignRefused otherwise."""
    validate_request(height, round_, step, sign_bytes)
    if last is None:
        return None
    wanted = (height, round_, int(step))
    if wanted < last.position:
        raise DoubleSignRefused(
            f"refusing to sign at {describe(wanted)}: already signed at {describe(last.position)}"
        )
    if wanted > last.position:
        return None
    if sign_bytes != last.sign_bytes:
        raise DoubleSignRefused(
            f"refusing to sign conflicting message at {describe(wanted)}: "
            "a different one is already signed there"
        )
    return last.signature


# Encoding: canonical CBOR, as everything this node persists or sends.

LAST_SIGNED_FIELDS = ("height", "round", "step", "sign_bytes", "signature")


def last_signed_to_value(last: LastSigned) -> dict[str, Any]:
    return {
        "height": last.height,
        "round": last.round,
        "step": int(last.step),
        "sign_bytes": last.sign_bytes,
        "signature": last.signature,
    }


def last_signed_from_value(value: Any) -> LastSigned:
    f = expect_map(value, "last signed", LAST_SIGNED_FIELDS)
    return LastSigned(
        height=expect_int(f["height"], "last signed height", 1, MAX_HEIGHT),
        round=expect_int(f["round"], "last signed round", 0, MAX_ROUND),
        step=SignStep(expect_int(f["step"], "last signed step", 1, 3)),
        sign_bytes=expect_bytes(f["sign_bytes"], "last signed sign_bytes", max_size=MAX_SIGN_BYTES),
        signature=expect_bytes(f["signature"], "last signed signature", SIGNATURE_SIZE),
    )


def encode_last_signed(last: LastSigned) -> bytes:
    return encode(last_signed_to_value(last))


def decode_last_signed(data: bytes) -> LastSigned:
    return last_signed_from_value(decode(data, max_size=2 * MAX_SIGN_BYTES))
