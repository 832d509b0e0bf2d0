"""Reading the write-ahead log back: each record as (height, kind, payload)."""

import logging
from typing import Any

from chain.blocks.votes import (
    proposal_from_value,
    vote_from_value,
)
from chain.encoding import decode, expect_int, expect_list, expect_text
from chain.errors import RuleViolation

log = logging.getLogger("gridchain.consensus")


def decode_record(raw: bytes) -> tuple[int, str, Any] | None:
    """A WAL record as (height, kind, payload); None for one we cannot read (logged)."""
    try:
        items = expect_list(decode(raw), "WAL record", 4)
        kind = expect_text(items[0], "WAL record kind", 16)
        if kind == "proposal":
            proposal = proposal_from_value(items[1])
            return proposal.height, kind, (proposal, items[2])
        if kind == "vote":
            vote = vote_from_value(items[1])
            return vote.height, kind, vote
        if kind == "timeout":
            step = expect_int(items[1], "timeout step", 1, 3)
            return (
                expect_int(items[2], "timeout height", 0, 2**63),
                kind,
                (step, expect_int(items[3], "timeout round", 0, 2**31)),
            )
    except (RuleViolation, IndexError) as exc:
        log.warning("skipping unreadable WAL record: %s", exc)
    return None
