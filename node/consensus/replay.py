"""Replaying the write-ahead log after a crash: what the machine saw of this height, again.

`decode_record` reads each record back as (height, kind, payload). `replay_height` feeds the
records of the height being decided to a fresh state machine, reusing the logged signatures
instead of signing again, and returns what the machine asked for, to be carried out once the
node resumes in the round it was in. Nothing is written, sent or signed while replaying; that
is why it is apart from the reactor's handlers, which log and send as they go.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chain.blocks.block import Block, decode_block
from chain.blocks.votes import (
    NIL,
    SignedVote,
    proposal_from_value,
    vote_from_value,
)
from chain.encoding import decode, expect_int, expect_list, expect_text
from chain.errors import RuleViolation
from consensus.tendermint import Output, Proposal, Step, Timeout, Timeouts, Vote
from consensus.timeliness import is_timely
from node.consensus.events import HeightState
from node.p2p.messages import ProposalMsg, VoteMsg, encode_message

log = logging.getLogger("gridchain.consensus")

CheckBlock = Callable[[Block, bytes], Awaitable[bool]]  # (block, proposer) -> valid


def decode_record(raw: bytes) -> tuple[int, str, Any] | None:
    """A WAL record as (height, kind, payload); None for one we cannot read (logged)."""
    try:
        items = expect_list(decode(raw), "WAL record", 4)
        kind = expect_text(items[0], "WAL record kind", 16)
        if kind == "proposal":
            proposal = proposal_from_value(items[1])
            # when it came (not logged for our own proposals, timely by construction)
            received = (
                expect_int(items[3], "proposal receipt", 0, 2**63) if len(items) > 3 else None
            )
            return proposal.height, kind, (proposal, items[2], received)
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


async def replay_height(
    records: list[bytes],
    hs: HeightState,
    entered: list[Output],
    me: bytes,
    timeouts: Timeouts,
    check_block: CheckBlock,
    parent_time_ms: int,
) -> list[Output]:
    """Feed the machine of `hs` what it saw of its height before the crash (`parent_time_ms`:
    the time of the block it builds on, for judging proposals' times as when they came).

    Returns the outputs to run, in this order: `entered` (those of entering the height), those
    of the replayed timeouts, then those of the replayed proposals and votes.
    """
    height = hs.height
    inputs = [r for r in (decode_record(raw) for raw in records) if r is not None]
    inputs = [r for r in inputs if r[0] == height]
    deferred: list[Output] = list(entered)
    replayed: list[Output] = []
    for _, kind, payload in inputs:
        if kind == "proposal":
            proposal, raw, received = payload
            msg = ProposalMsg(proposal, raw)
            replayed += await _replay_proposal(hs, msg, me, check_block, parent_time_ms, received)
        elif kind == "vote":
            replayed += _replay_vote(hs, payload, me)
        else:
            step, round_ = payload
            timeout = Timeout(Step(step), height, round_, timeouts.of(Step(step), round_))
            if round_ == hs.machine.round:
                deferred += hs.machine.on_timeout(timeout)
    if inputs:
        log.info(
            "replayed %d WAL records of height %d; resuming in round %d",
            len(inputs),
            height,
            hs.machine.round,
        )
    return deferred + replayed


async def _replay_proposal(
    hs: HeightState,
    msg: ProposalMsg,
    me: bytes,
    check_block: CheckBlock,
    parent_time_ms: int,
    received_ms: int | None,
) -> list[Output]:
    p = msg.proposal
    if p.round in hs.proposals:
        return []
    block = decode_block(msg.block)
    hs.proposals[p.round] = msg
    valid = await check_block(block, p.proposer)
    timely = received_ms is None or is_timely(block.header.time_ms, parent_time_ms, received_ms)
    if p.proposer == me:
        hs.own.append(encode_message(msg))
    return hs.machine.on_proposal(
        Proposal(p.height, p.round, p.block_hash, p.valid_round, p.proposer), valid, timely
    )


def _replay_vote(hs: HeightState, vote: SignedVote, me: bytes) -> list[Output]:
    key = (vote.round, vote.vote_type, vote.validator)
    earlier = hs.votes.setdefault(key, [])
    if any(v.block_hash == vote.block_hash for v in earlier):
        return []
    earlier.append(vote)
    if vote.validator == me:
        hs.own.append(encode_message(VoteMsg(vote)))
    value = vote.block_hash if vote.block_hash != NIL else None
    return hs.machine.on_vote(Vote(vote.vote_type, vote.height, vote.round, value, vote.validator))
