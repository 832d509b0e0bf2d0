"""Proposals as the state keeps them: one record per proposal, and two indexes.

The record of a proposal lives for ever (what `gov status ID` shows, open or closed). The open
index lists the open ones by the height they expire after, so a block finds what expires
without reading them all; the recent index lists the latest MAX_RECENT ids, for `gov list`.
"""

from dataclasses import dataclass
from typing import Any

from chain.encoding import (
    decode_stored,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
    stored_record,
)
from chain.errors import EncodingError
from chain.governance.txs import (
    MAX_TITLE,
    ProposalContent,
    content_from_value,
    content_kind,
    content_to_json,
    content_to_value,
)
from chain.hashing import HASH_SIZE, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE
from chain.ledger.policy import MAX_SIGNERS
from chain.state import Overlay, StateReader

OPEN, EXECUTED, FAILED, EXPIRED = "open", "executed", "failed", "expired"
STATUSES = (OPEN, EXECUTED, FAILED, EXPIRED)
MAX_OPEN = 64  # open proposals at once: a council that needs more is not deciding
MAX_OPEN_PER_MEMBER = 8
MAX_RECENT = 256
MAX_REASON = 512

OPEN_KEY = tagged_hash(b"gc/gov/open", b"")
RECENT_KEY = tagged_hash(b"gc/gov/recent", b"")


def proposal_key(proposal_id: bytes) -> bytes:
    return tagged_hash(b"gc/gov/proposal", proposal_id)


@dataclass(frozen=True)
class Proposal:
    """A proposal and where it stands: approvals are council members' keys, sorted; a closed
    proposal says when it closed and, if it failed, why."""

    id: bytes
    proposer: bytes
    title: str
    content: ProposalContent
    submitted_at: int
    expires_after: int  # the last height at which it may be approved
    approvals: tuple[bytes, ...]
    status: str = OPEN
    closed_at: int = 0
    reason: str = ""


def proposal_to_value(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "proposer": p.proposer,
        "title": p.title,
        "kind": content_kind(p.content),
        "content": content_to_value(p.content),
        "submitted_at": p.submitted_at,
        "expires_after": p.expires_after,
        "approvals": list(p.approvals),
        "status": p.status,
        "closed_at": p.closed_at,
        "reason": p.reason,
    }


FIELDS = (
    "id",
    "proposer",
    "title",
    "kind",
    "content",
    "submitted_at",
    "expires_after",
    "approvals",
    "status",
    "closed_at",
    "reason",
)


def proposal_from_value(value: Any) -> Proposal:
    f = expect_map(value, "proposal", FIELDS)
    status = expect_text(f["status"], "proposal status", 16)
    if status not in STATUSES:
        raise EncodingError(f"proposal status {status!r} is unknown")
    approvals = tuple(
        expect_bytes(k, "approval", PUBLIC_KEY_SIZE)
        for k in expect_list(f["approvals"], "approvals", MAX_SIGNERS)
    )
    return Proposal(
        id=expect_bytes(f["id"], "proposal id", HASH_SIZE),
        proposer=expect_bytes(f["proposer"], "proposer", PUBLIC_KEY_SIZE),
        title=expect_text(f["title"], "proposal title", MAX_TITLE),
        content=content_from_value(expect_text(f["kind"], "proposal kind", 32), f["content"]),
        submitted_at=expect_int(f["submitted_at"], "submitted_at"),
        expires_after=expect_int(f["expires_after"], "expires_after"),
        approvals=approvals,
        status=status,
        closed_at=expect_int(f["closed_at"], "closed_at"),
        reason=expect_text(f["reason"], "reason", MAX_REASON),
    )


def proposal_to_json(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id.hex(),
        "proposer": p.proposer.hex(),
        "title": p.title,
        "kind": content_kind(p.content),
        "content": content_to_json(p.content),
        "submitted_at": p.submitted_at,
        "expires_after": p.expires_after,
        "approvals": [k.hex() for k in p.approvals],
        "status": p.status,
        "closed_at": p.closed_at or None,
        "reason": p.reason or None,
    }


# State


@stored_record("proposal")
def read_proposal(reader: StateReader, proposal_id: bytes) -> Proposal | None:
    raw = reader.get_state(proposal_key(proposal_id))
    return None if raw is None else proposal_from_value(decode_stored(raw))


def write_proposal(state: Overlay, proposal: Proposal) -> None:
    state.set_state(proposal_key(proposal.id), encode(proposal_to_value(proposal)))


@stored_record("open proposals")
def open_index(reader: StateReader) -> tuple[tuple[int, bytes], ...]:
    """(expires_after, id) of every open proposal, in that order."""
    raw = reader.get_state(OPEN_KEY)
    if raw is None:
        return ()
    items = expect_list(decode_stored(raw), "open proposals", MAX_OPEN)
    return tuple(
        (expect_int(pair[0], "expiry"), expect_bytes(pair[1], "proposal id", HASH_SIZE))
        for pair in (expect_list(item, "open proposal", 2) for item in items)
    )


def write_open_index(state: Overlay, entries: tuple[tuple[int, bytes], ...]) -> None:
    if entries:
        state.set_state(OPEN_KEY, encode([[h, i] for h, i in sorted(entries)]))
    else:
        state.delete_state(OPEN_KEY)


@stored_record("recent proposals")
def recent_ids(reader: StateReader) -> tuple[bytes, ...]:
    """The latest MAX_RECENT proposals' ids, oldest first."""
    raw = reader.get_state(RECENT_KEY)
    if raw is None:
        return ()
    items = expect_list(decode_stored(raw), "recent proposals", MAX_RECENT)
    return tuple(expect_bytes(i, "proposal id", HASH_SIZE) for i in items)


def remember(state: Overlay, proposal_id: bytes) -> None:
    state.set_state(RECENT_KEY, encode([*recent_ids(state), proposal_id][-MAX_RECENT:]))
