"""Blocks, headers, votes and commits.

A header commits to everything an auditor needs: the transactions (a Certificate Transparency
Merkle root of their hashes), the state after them (the sparse Merkle root), the audit log, the
validator set, the commit that finalized the parent, and the evidence of misbehaviour the block
carries (chain/evidence.py). Block h+1 carries the commit for h.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chain import merkle
from chain.encoding import (
    decode,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
)
from chain.errors import EncodingError, InvalidBlock
from chain.hashing import HASH_SIZE, ZERO_HASH, hash32, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, verify_signature
from chain.rewards import NodeReward, rewards_from_value, rewards_to_value
from chain.transactions import MAX_CHAIN_ID, SignedTx, decode_tx
from chain.validators import MAX_VALIDATORS, ValidatorSet

if TYPE_CHECKING:
    from chain.evidence import DuplicateVoteEvidence

MAX_BLOCK_SIZE = 64 * 1024 * 1024
MAX_HEIGHT = 2**63 - 1


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


@dataclass(frozen=True)
class Header:
    chain_id: str
    height: int
    prev_hash: bytes
    time_ms: int
    proposer: bytes
    tx_root: bytes
    tx_count: int
    state_root: bytes
    audit_root: bytes
    audit_size: int
    validators_hash: bytes
    last_commit_hash: bytes
    evidence_hash: bytes
    rewards_root: bytes = merkle.EMPTY_ROOT

    @cached_property
    def hash(self) -> bytes:
        return tagged_hash(b"gc/header", encode(header_to_value(self)))


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


@dataclass(frozen=True)
class Block:
    header: Header
    txs: tuple[SignedTx, ...]
    last_commit: Commit | None
    evidence: "tuple[DuplicateVoteEvidence, ...]" = ()
    rewards: tuple[NodeReward, ...] = ()  # on an epoch's first block: the last epoch's rewards

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height


HEADER_FIELDS = (
    "chain_id",
    "height",
    "prev_hash",
    "time_ms",
    "proposer",
    "tx_root",
    "tx_count",
    "state_root",
    "audit_root",
    "audit_size",
    "validators_hash",
    "last_commit_hash",
    "evidence_hash",
    "rewards_root",
)


def header_to_value(header: Header) -> dict[str, Any]:
    return {name: getattr(header, name) for name in HEADER_FIELDS}


def header_from_value(value: Any) -> Header:
    f = expect_map(value, "header", HEADER_FIELDS)
    return Header(
        chain_id=expect_text(f["chain_id"], "chain_id", MAX_CHAIN_ID),
        height=expect_int(f["height"], "height", 0, MAX_HEIGHT),
        prev_hash=expect_bytes(f["prev_hash"], "prev_hash", HASH_SIZE),
        time_ms=expect_int(f["time_ms"], "time_ms", 0, 2**63 - 1),
        proposer=expect_bytes(f["proposer"], "proposer", PUBLIC_KEY_SIZE),
        tx_root=expect_bytes(f["tx_root"], "tx_root", HASH_SIZE),
        tx_count=expect_int(f["tx_count"], "tx_count", 0, 2**32),
        state_root=expect_bytes(f["state_root"], "state_root", HASH_SIZE),
        audit_root=expect_bytes(f["audit_root"], "audit_root", HASH_SIZE),
        audit_size=expect_int(f["audit_size"], "audit_size", 0, 2**63 - 1),
        validators_hash=expect_bytes(f["validators_hash"], "validators_hash", HASH_SIZE),
        last_commit_hash=expect_bytes(f["last_commit_hash"], "last_commit_hash", HASH_SIZE),
        evidence_hash=expect_bytes(f["evidence_hash"], "evidence_hash", HASH_SIZE),
        rewards_root=expect_bytes(f["rewards_root"], "rewards_root", HASH_SIZE),
    )


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


def encode_block(block: Block) -> bytes:
    """Transactions are embedded as their own canonical bytes, so their hashes carry over."""
    # chain.evidence imports chain.votes, which imports this module: import it when used.
    from chain.evidence import evidence_list_to_value

    return encode(
        {
            "header": header_to_value(block.header),
            "txs": [tx.encoded for tx in block.txs],
            "last_commit": []
            if block.last_commit is None
            else [commit_to_value(block.last_commit)],
            "evidence": evidence_list_to_value(block.evidence),
            "rewards": rewards_to_value(block.rewards),
        }
    )


def decode_block(data: bytes, known: Callable[[bytes], SignedTx | None] | None = None) -> Block:
    """`known` may return an already decoded transaction for its exact bytes (a mempool's)."""
    from chain.evidence import evidence_list_from_value  # see encode_block

    f = expect_map(
        decode(data, MAX_BLOCK_SIZE),
        "block",
        ("header", "txs", "last_commit", "evidence", "rewards"),
    )
    raws = [
        expect_bytes(raw, f"tx {i}", max_size=1 << 20)
        for i, raw in enumerate(expect_list(f["txs"], "txs", 1 << 20))
    ]
    lookup = known or (lambda _: None)
    txs = tuple(lookup(raw) or decode_tx(raw) for raw in raws)
    commits = expect_list(f["last_commit"], "last_commit", 1)
    return Block(
        header=header_from_value(f["header"]),
        txs=txs,
        last_commit=commit_from_value(commits[0]) if commits else None,
        evidence=evidence_list_from_value(f["evidence"]),
        rewards=rewards_from_value(f["rewards"]),
    )


def tx_root(txs: tuple[SignedTx, ...] | list[SignedTx]) -> bytes:
    return merkle.root([merkle.leaf_hash(tx.encoded) for tx in txs])


def tx_hash(tx: SignedTx) -> bytes:
    """Hash of the full signed bytes (the id covers the body only)."""
    return hash32(tx.encoded)


# Votes


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


def verify_commit(chain_id: str, vset: ValidatorSet, commit: Commit, header: Header) -> None:
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


def header_to_json(header: Header) -> dict[str, Any]:
    view: dict[str, Any] = {"hash": header.hash.hex()}
    for name in HEADER_FIELDS:
        value = getattr(header, name)
        view[name] = value.hex() if isinstance(value, bytes) else value
    return view


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
