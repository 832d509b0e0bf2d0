"""Blocks: a header, its transactions, the commit for its parent, evidence and rewards.

Block h+1 carries the commit for h (chain/blocks/commit.py) and any evidence of equivocation
(chain/blocks/evidence.py).
"""

from collections.abc import Callable
from dataclasses import dataclass

from chain import merkle
from chain.blocks.commit import Commit, commit_from_value, commit_to_value
from chain.blocks.evidence import (
    DuplicateVoteEvidence,
    evidence_list_from_value,
    evidence_list_to_value,
)
from chain.blocks.header import Header, header_from_value, header_to_value
from chain.encoding import (
    decode,
    decode_stored_fields,
    encode,
    expect_bytes,
    expect_list,
    expect_map,
    stored_record,
)
from chain.farming.rewards import NodeReward, rewards_from_value, rewards_to_value
from chain.hashing import hash32
from chain.ledger.transactions import SignedTx, decode_tx

MAX_BLOCK_SIZE = 64 * 1024 * 1024
BLOCK_FIELDS = ("header", "txs", "last_commit", "evidence", "rewards")


@dataclass(frozen=True)
class Block:
    header: Header
    txs: tuple[SignedTx, ...]
    last_commit: Commit | None
    evidence: tuple[DuplicateVoteEvidence, ...] = ()
    rewards: tuple[NodeReward, ...] = ()  # on an epoch's first block: the last epoch's rewards

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height


def encode_block(block: Block) -> bytes:
    """Transactions are embedded as their own canonical bytes, so their hashes carry over."""
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
    f = expect_map(decode(data, MAX_BLOCK_SIZE), "block", BLOCK_FIELDS)
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


@stored_record("block header")
def stored_block_header(data: bytes) -> Header:
    """The header of a block this node stored, its transactions stepped over, not decoded (a
    full block of transfers takes seconds to decode; its header, microseconds)."""
    fields = decode_stored_fields(data, "block", BLOCK_FIELDS, ("header",))
    return header_from_value(fields["header"])


@stored_record("block rewards")
def stored_block_rewards(data: bytes) -> tuple[NodeReward, ...]:
    """The reward lines a block this node stored carries (an epoch's first block: the last
    epoch's), read as stored_block_header reads the header."""
    fields = decode_stored_fields(data, "block", BLOCK_FIELDS, ("rewards",))
    return rewards_from_value(fields["rewards"])


def tx_root(txs: tuple[SignedTx, ...] | list[SignedTx]) -> bytes:
    return merkle.root([merkle.leaf_hash(tx.encoded) for tx in txs])


def tx_hash(tx: SignedTx) -> bytes:
    """Hash of the full signed bytes (the id covers the body only)."""
    return hash32(tx.encoded)
