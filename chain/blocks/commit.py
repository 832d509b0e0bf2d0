"""Votes' sign bytes and commits: the precommits of more than 2/3 of the stake for a block.

The leaf of chain/blocks/: votes, evidence and blocks build on it, and it needs only a header.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chain.blocks.header import MAX_HEIGHT, Header
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_list, expect_map
from chain.errors import EncodingError, InvalidBlock
from chain.hashing import HASH_SIZE, ZERO_HASH, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, verify_signature
from chain.staking.validators import MAX_VALIDATORS, ValidatorSet


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


def vote_sign_bytes(
    chain_id: str, height: int, round_: int, vote_type: VoteType, block_hash: bytes
) -> bytes:
    """What a validator signs: chain id, height, round, type and block id, canonically."""
    return b"gc/vote\x00" + encode(
        {
            "chain_id": chain_id,
            "height": height,
            "round": round_,
            "type": int(vote_type),
            "block_hash": block_hash,
        }
    )


@dataclass(frozen=True)
class CommitSig:
    validator: bytes
    signature: bytes


@dataclass(frozen=True)
class Commit:
    """Precommit signatures of more than 2/3 of blockstake for one block."""

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSig, ...]


def commit_to_value(commit: Commit) -> dict[str, Any]:
    return {
        "height": commit.height,
        "round": commit.round,
        "block_hash": commit.block_hash,
        "signatures": [[s.validator, s.signature] for s in commit.signatures],
    }


def commit_from_value(value: Any) -> Commit:
    f = expect_map(value, "commit", ("height", "round", "block_hash", "signatures"))
    sigs = []
    for i, item in enumerate(expect_list(f["signatures"], "commit signatures", MAX_VALIDATORS)):
        pair = expect_list(item, f"commit signature {i}", 2)
        if len(pair) != 2:
            raise EncodingError(f"commit signature {i} must be [validator, signature]")
        sigs.append(
            CommitSig(
                expect_bytes(pair[0], f"commit signature {i} validator", PUBLIC_KEY_SIZE),
                expect_bytes(pair[1], f"commit signature {i}", SIGNATURE_SIZE),
            )
        )
    return Commit(
        height=expect_int(f["height"], "commit height", 0, MAX_HEIGHT),
        round=expect_int(f["round"], "commit round", 0, 2**31),
        block_hash=expect_bytes(f["block_hash"], "commit block_hash", HASH_SIZE),
        signatures=tuple(sigs),
    )


def commit_hash(commit: Commit | None) -> bytes:
    if commit is None:
        return ZERO_HASH
    return tagged_hash(b"gc/commit", encode(commit_to_value(commit)))


def encode_commit(commit: Commit) -> bytes:
    return encode(commit_to_value(commit))


def decode_commit(data: bytes) -> Commit:
    return commit_from_value(decode(data))


def check_commit(chain_id: str, vset: ValidatorSet, commit: Commit, header: Header) -> None:
    """A commit is valid for `header` when validators with > 2/3 of blockstake signed it."""
    if commit.height != header.height or commit.block_hash != header.hash:
        raise InvalidBlock(f"commit is for another block than height {header.height}")
    message = vote_sign_bytes(
        chain_id, commit.height, commit.round, VoteType.PRECOMMIT, commit.block_hash
    )
    signed_power = 0
    seen: set[bytes] = set()
    for sig in commit.signatures:
        power = vset.power_of(sig.validator)
        if power == 0:
            raise InvalidBlock(f"commit signer {sig.validator.hex()} is not a validator")
        if sig.validator in seen:
            raise InvalidBlock(f"validator {sig.validator.hex()} signed the commit twice")
        if not verify_signature(sig.validator, message, sig.signature):
            raise InvalidBlock(f"commit signature by {sig.validator.hex()} does not verify")
        seen.add(sig.validator)
        signed_power += power
    if 3 * signed_power <= 2 * vset.total_power:
        raise InvalidBlock(
            f"commit has {signed_power} of {vset.total_power} blockstake, more than 2/3 needed"
        )


def commit_to_json(commit: Commit) -> dict[str, Any]:
    return {
        "height": commit.height,
        "round": commit.round,
        "block_hash": commit.block_hash.hex(),
        "signatures": [
            {"validator": s.validator.hex(), "signature": s.signature.hex()}
            for s in commit.signatures
        ],
    }
