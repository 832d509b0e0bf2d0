"""Block headers: what a block commits to, and the one hash that names it.

A header commits to everything an auditor needs: the transactions (a Certificate Transparency
Merkle root of their hashes), the state after them (the sparse Merkle root), the audit log, the
validator set that signs it and the one that signs the next block (so a light client follows
every change of the set from header to header), the commit that finalized the parent, the
evidence of misbehaviour, the farming rewards the block carries, and the software release that
made it.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chain import merkle
from chain.encoding import encode, expect_bytes, expect_int, expect_map, expect_text
from chain.hashing import HASH_SIZE, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE
from chain.ledger.transactions import MAX_CHAIN_ID

MAX_HEIGHT = 2**63 - 1
MAX_VERSION = 64


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
    validators_hash: bytes  # the set that signs this block
    next_validators_hash: bytes  # the set that signs the next one (after this block's changes)
    last_commit_hash: bytes
    evidence_hash: bytes
    rewards_root: bytes = merkle.EMPTY_ROOT
    # The software release that made the block: the one the chain requires at its height
    # (chain/governance/upgrade.py), or anything while the genesis file pins none.
    version: str = ""

    @cached_property
    def hash(self) -> bytes:
        return tagged_hash(b"gc/header", encode(header_to_value(self)))


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
    "next_validators_hash",
    "last_commit_hash",
    "evidence_hash",
    "rewards_root",
    "version",
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
        next_validators_hash=expect_bytes(
            f["next_validators_hash"], "next_validators_hash", HASH_SIZE
        ),
        last_commit_hash=expect_bytes(f["last_commit_hash"], "last_commit_hash", HASH_SIZE),
        evidence_hash=expect_bytes(f["evidence_hash"], "evidence_hash", HASH_SIZE),
        rewards_root=expect_bytes(f["rewards_root"], "rewards_root", HASH_SIZE),
        version=expect_text(f["version"], "version", MAX_VERSION),
    )


def header_to_json(header: Header) -> dict[str, Any]:
    view: dict[str, Any] = {"hash": header.hash.hex()}
    for name in HEADER_FIELDS:
        value = getattr(header, name)
        view[name] = value.hex() if isinstance(value, bytes) else value
    return view
