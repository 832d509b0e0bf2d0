"""What validators say to each other over peer links, and its checked decoding.

Every message is one canonical CBOR list whose first item names its kind. Anything a peer
sends is decoded strictly here; a message that does not decode costs the peer its link.
"""

from dataclasses import dataclass
from typing import Any

from chain.blocks.header import MAX_HEIGHT
from chain.blocks.votes import (
    MAX_ROUND,
    SignedProposal,
    SignedVote,
    proposal_from_value,
    proposal_to_value,
    vote_from_value,
    vote_to_value,
)
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_list, expect_text
from chain.errors import RuleViolation
from chain.ledger.transactions import MAX_TX_SIZE

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_BLOCK_BYTES = 16 * 1024 * 1024
MAX_TXS_PER_MESSAGE = 20_000
MAX_BLOCKS_PER_MESSAGE = 1_000


class BadPeerMessage(RuleViolation):
    code = "bad_peer_message"


@dataclass(frozen=True)
class Status:
    """Where the sender is: the height it works on (its head + 1), its round and step."""

    height: int
    round: int
    step: int


@dataclass(frozen=True)
class Txs:
    raw: tuple[bytes, ...]


@dataclass(frozen=True)
class ProposalMsg:
    proposal: SignedProposal
    block: bytes


@dataclass(frozen=True)
class VoteMsg:
    vote: SignedVote


@dataclass(frozen=True)
class EvidenceMsg:
    evidence: bytes  # encoded DuplicateVoteEvidence, checked against state by the receiver


@dataclass(frozen=True)
class GetBlocks:
    start: int
    count: int


@dataclass(frozen=True)
class Blocks:
    """Blocks from `start` on, each with the commit that finalized it."""

    items: tuple[tuple[bytes, bytes], ...]


Message = Status | Txs | ProposalMsg | VoteMsg | EvidenceMsg | GetBlocks | Blocks


def encode_message(message: Message) -> bytes:
    return encode(_to_value(message))


def _to_value(message: Message) -> list[Any]:
    match message:
        case Status(height, round_, step):
            return ["status", height, round_, step]
        case Txs(raw):
            return ["txs", list(raw)]
        case ProposalMsg(proposal, block):
            return ["proposal", proposal_to_value(proposal), block]
        case VoteMsg(vote):
            return ["vote", vote_to_value(vote)]
        case EvidenceMsg(evidence):
            return ["evidence", evidence]
        case GetBlocks(start, count):
            return ["get_blocks", start, count]
        case Blocks(items):
            return ["blocks", [[block, commit] for block, commit in items]]
    raise TypeError(f"not a peer message: {message!r}")


def decode_message(data: bytes) -> Message:
    """Decode a peer's message, or raise BadPeerMessage saying what is wrong."""
    try:
        return _from_value(decode(data, MAX_MESSAGE_BYTES))
    except BadPeerMessage:
        raise
    except RuleViolation as exc:
        raise BadPeerMessage(exc.message) from None


def _from_value(value: Any) -> Message:
    items = expect_list(value, "message", 4)
    if not items:
        raise BadPeerMessage("empty message")
    kind = expect_text(items[0], "message kind", 16)
    body = items[1:]
    shape = {"status": 3, "txs": 1, "proposal": 2, "vote": 1, "evidence": 1}
    shape |= {"get_blocks": 2, "blocks": 1}
    if kind not in shape:
        raise BadPeerMessage(f"unknown message kind {kind!r}")
    if len(body) != shape[kind]:
        raise BadPeerMessage(f"{kind} message has {len(body)} fields, not {shape[kind]}")
    if kind == "status":
        return Status(
            expect_int(body[0], "status height", 0, MAX_HEIGHT),
            expect_int(body[1], "status round", 0, MAX_ROUND),
            expect_int(body[2], "status step", 0, 8),
        )
    if kind == "txs":
        raw = expect_list(body[0], "txs", MAX_TXS_PER_MESSAGE)
        return Txs(
            tuple(expect_bytes(tx, f"tx {i}", max_size=MAX_TX_SIZE) for i, tx in enumerate(raw))
        )
    if kind == "proposal":
        block = expect_bytes(body[1], "proposal block", max_size=MAX_BLOCK_BYTES)
        return ProposalMsg(proposal_from_value(body[0]), block)
    if kind == "vote":
        return VoteMsg(vote_from_value(body[0]))
    if kind == "evidence":
        return EvidenceMsg(expect_bytes(body[0], "evidence", max_size=4096))
    if kind == "get_blocks":
        return GetBlocks(
            expect_int(body[0], "get_blocks start", 1, MAX_HEIGHT),
            expect_int(body[1], "get_blocks count", 1, MAX_BLOCKS_PER_MESSAGE),
        )
    pairs = []
    for i, item in enumerate(expect_list(body[0], "blocks", MAX_BLOCKS_PER_MESSAGE)):
        pair = expect_list(item, f"blocks item {i}", 2)
        if len(pair) != 2:
            raise BadPeerMessage(f"blocks item {i} must be [block, commit]")
        pairs.append(
            (
                expect_bytes(pair[0], f"block {i}", max_size=MAX_BLOCK_BYTES),
                expect_bytes(pair[1], f"commit {i}", max_size=1 << 20),
            )
        )
    return Blocks(tuple(pairs))
