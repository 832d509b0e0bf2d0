"""Votes' sign bytes and commits: certificates that more than 2/3 of the stake precommitted
a block, one aggregate BLS signature and a bitmap of who signed.

The leaf of chain/blocks/: votes, evidence and blocks build on it, and it needs only a header.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chain import bls
from chain.blocks.header import MAX_HEIGHT, Header
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_map
from chain.errors import EncodingError, InvalidBlock
from chain.hashing import HASH_SIZE, ZERO_HASH, tagged_hash
from chain.keys import KeyPair
from chain.staking.validators import (
    MAX_VALIDATORS,
    Validator,
    ValidatorSet,
    validator_bls_key,
)


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
class Commit:
    """A finality certificate: validators holding more than 2/3 of the blockstake precommitted
    `block_hash` at (height, round).

    `signers` is a bitmap over the validator set that voted at this height, in its order (by
    ed25519 key): bit i (byte i // 8, least significant bit first) set when the set's i-th
    validator signed. `signature` aggregates their BLS signatures of the precommit's sign
    bytes, so one FastAggregateVerify checks the whole certificate, whatever the set's size.
    """

    height: int
    round: int
    block_hash: bytes
    signers: bytes
    signature: bytes


MAX_BITMAP_SIZE = (MAX_VALIDATORS + 7) // 8
COMMIT_FIELDS = ("height", "round", "block_hash", "signers", "signature")


def commit_to_value(commit: Commit) -> dict[str, Any]:
    return {
        "height": commit.height,
        "round": commit.round,
        "block_hash": commit.block_hash,
        "signers": commit.signers,
        "signature": commit.signature,
    }


def commit_from_value(value: Any) -> Commit:
    f = expect_map(value, "commit", COMMIT_FIELDS)
    signers = expect_bytes(f["signers"], "commit signers", max_size=MAX_BITMAP_SIZE)
    if not signers or signers[-1] == 0:
        raise EncodingError("commit signers must be a bitmap whose last byte is not zero")
    return Commit(
        height=expect_int(f["height"], "commit height", 0, MAX_HEIGHT),
        round=expect_int(f["round"], "commit round", 0, 2**31),
        block_hash=expect_bytes(f["block_hash"], "commit block_hash", HASH_SIZE),
        signers=signers,
        signature=expect_bytes(f["signature"], "commit signature", bls.SIGNATURE_SIZE),
    )


# The signer bitmap


def signer_bitmap(indices: Iterable[int]) -> bytes:
    """The bitmap with the bits of `indices` set, no longer than its highest set bit needs
    (one encoding per signer set)."""
    chosen = sorted(set(indices))
    if not chosen:
        return b""
    bitmap = bytearray(chosen[-1] // 8 + 1)
    for i in chosen:
        bitmap[i // 8] |= 1 << (i % 8)
    return bytes(bitmap)


def signer_indices(commit: Commit, size: int) -> tuple[int, ...]:
    """The set positions the bitmap names, in order; raises InvalidBlock if it names a position
    past the set's `size` validators."""
    indices = tuple(
        i for i in range(len(commit.signers) * 8) if commit.signers[i // 8] >> (i % 8) & 1
    )
    if indices and indices[-1] >= size:
        raise InvalidBlock(f"commit signers name validator {indices[-1]} of a set of {size}")
    return indices


def commit_signers(commit: Commit, vset: ValidatorSet) -> tuple[Validator, ...]:
    """The validators of `vset` the certificate says signed."""
    return tuple(vset.validators[i] for i in signer_indices(commit, len(vset.validators)))


def signer_count(commit: Commit) -> int:
    return sum(bin(byte).count("1") for byte in commit.signers)


# Making and checking certificates


def make_commit(
    vset: ValidatorSet,
    height: int,
    round_: int,
    block_hash: bytes,
    signatures: Mapping[bytes, bytes],
) -> Commit:
    """The certificate aggregating `signatures` (a validator's ed25519 key to its BLS
    signature of the precommit), each already checked. Raises InvalidBlock for a signer that is
    not in `vset`, and InvalidSignature for a signature that is not a valid point."""
    position = {v.public_key: i for i, v in enumerate(vset.validators)}
    unknown = [key.hex() for key in signatures if key not in position]
    if unknown:
        raise InvalidBlock(f"precommits by validators not in the set: {', '.join(unknown)}")
    ordered = sorted(signatures, key=position.__getitem__)
    return Commit(
        height,
        round_,
        block_hash,
        signer_bitmap(position[key] for key in ordered),
        bls.aggregate([signatures[key] for key in ordered]),
    )


def sign_commit(
    chain_id: str, vset: ValidatorSet, keys: Sequence[KeyPair], header: Header, round_: int = 0
) -> Commit:
    """A certificate of `header` precommitted by every one of `keys` in `round_`: for a node
    that commits alone, and for tools that make chains without consensus (benchmarks)."""
    message = vote_sign_bytes(chain_id, header.height, round_, VoteType.PRECOMMIT, header.hash)
    signatures = {key.public_key: bls.sign(validator_bls_key(key), message) for key in keys}
    return make_commit(vset, header.height, round_, header.hash, signatures)


def commit_hash(commit: Commit | None) -> bytes:
    if commit is None:
        return ZERO_HASH
    return tagged_hash(b"gc/commit", encode(commit_to_value(commit)))


def encode_commit(commit: Commit) -> bytes:
    return encode(commit_to_value(commit))


def decode_commit(data: bytes) -> Commit:
    return commit_from_value(decode(data))


def check_commit(chain_id: str, vset: ValidatorSet, commit: Commit, header: Header) -> None:
    """A certificate is valid for `header` when the validators it names hold more than 2/3 of
    `vset`'s blockstake and its signature is the aggregate of their BLS signatures of the
    precommit for `header` (one FastAggregateVerify; every key's possession was proven when it
    joined, so the aggregate cannot be forged with a rogue key)."""
    signers = check_commit_claims(vset, commit, header)
    message = vote_sign_bytes(
        chain_id, commit.height, commit.round, VoteType.PRECOMMIT, commit.block_hash
    )
    if not aggregate_holds(tuple(v.bls_key for v in signers), message, commit.signature):
        raise InvalidBlock(
            f"commit signature for height {commit.height} is not the aggregate of its "
            f"{len(signers)} signers' precommits"
        )


def check_commit_claims(
    vset: ValidatorSet, commit: Commit, header: Header
) -> tuple[Validator, ...]:
    """What a certificate claims, checked without its signature: it is for `header`, and the
    validators it names hold more than 2/3 of `vset`'s blockstake. Returns them."""
    if commit.height != header.height or commit.block_hash != header.hash:
        raise InvalidBlock(f"commit is for another block than height {header.height}")
    signers = commit_signers(commit, vset)
    signed_power = sum(v.blockstake for v in signers)
    if 3 * signed_power <= 2 * vset.total_power:
        raise InvalidBlock(
            f"commit has {signed_power} of {vset.total_power} blockstake, more than 2/3 needed"
        )
    return signers


@functools.lru_cache(maxsize=1024)
def aggregate_holds(bls_keys: tuple[bytes, ...], message: bytes, signature: bytes) -> bool:
    """One FastAggregateVerify, its verdict kept for the recent certificates: each is checked
    when its block is decided or synced and again when the next block carries it as its
    last_commit, and the pairing check (~2.5 ms) is nearly all of a certificate's cost. A pure
    function of its arguments, so keeping it changes no verdict."""
    return bls.fast_aggregate_verify(bls_keys, message, signature)


def commit_to_json(commit: Commit, vset: ValidatorSet | None = None) -> dict[str, Any]:
    """The certificate as JSON; with the set that signed it, the signers' keys too."""
    view: dict[str, Any] = {
        "height": commit.height,
        "round": commit.round,
        "block_hash": commit.block_hash.hex(),
        "signers": commit.signers.hex(),
        "signature": commit.signature.hex(),
    }
    if vset is not None:
        view["validators"] = [v.public_key.hex() for v in commit_signers(commit, vset)]
    return view
