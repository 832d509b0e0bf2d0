"""Proposer-based timeliness (consensus/timeliness.py): a fresh proposal dated too far ahead of
its receipt gets nil prevotes, yet a block more than 2/3 precommitted is decided whatever a
validator's clock says, and a re-proposal (valid_round >= 0) is not judged by the clock."""

from chain.blocks.commit import VoteType
from chain.hashing import hash32
from consensus.tendermint import Decision, Proposal, Step, Tendermint, Timeout, Vote
from consensus.timeliness import MAX_FUTURE_MS, is_timely

KEYS = [hash32(b"v%d" % i) for i in range(4)]
BLOCK = hash32(b"block")


def test_a_time_ahead_of_receipt_is_timely_only_within_the_bound_or_at_its_least() -> None:
    assert is_timely(10_000 + MAX_FUTURE_MS, parent_time_ms=5_000, received_ms=10_000)
    assert not is_timely(10_001 + MAX_FUTURE_MS, parent_time_ms=5_000, received_ms=10_000)
    assert is_timely(1_000, parent_time_ms=5_000, received_ms=10_000)  # a slow clock is no harm
    # a parent already far ahead (decided before): its child may only be a millisecond later
    assert is_timely(100_001, parent_time_ms=100_000, received_ms=10_000)
    assert not is_timely(100_002, parent_time_ms=100_000, received_ms=10_000)


def machine() -> Tendermint:
    m = Tendermint(KEYS[3], dict.fromkeys(KEYS, 1), lambda height, round_: KEYS[round_ % 4])
    m.start_height(1)
    return m


def prevotes(outputs: list[object]) -> list[bytes | None]:
    return [o.value for o in outputs if isinstance(o, Vote) and o.kind == VoteType.PREVOTE]


def test_an_untimely_fresh_proposal_gets_a_nil_prevote_and_is_still_decided() -> None:
    m = machine()
    out = m.on_proposal(Proposal(1, 0, BLOCK, -1, KEYS[0]), valid=True, timely=False)
    assert prevotes(out) == [None]
    decided: list[object] = []
    for sender in KEYS[:3]:  # the others' clocks found it timely: they precommit it
        decided += m.on_vote(Vote(VoteType.PRECOMMIT, 1, 0, BLOCK, sender))
    decisions = [(d.height, d.round, d.value) for d in decided if isinstance(d, Decision)]
    assert decisions == [(1, 0, BLOCK)]


def test_a_timely_fresh_proposal_and_an_untimely_re_proposal_get_the_block_prevote() -> None:
    m = machine()
    assert prevotes(m.on_proposal(Proposal(1, 0, BLOCK, -1, KEYS[0]), valid=True)) == [BLOCK]
    m = machine()
    for sender in KEYS[:3]:  # round 0 saw a polka for BLOCK; round 1 re-proposes it
        m.on_vote(Vote(VoteType.PREVOTE, 1, 0, BLOCK, sender))
    for sender in KEYS[:3]:
        m.on_vote(Vote(VoteType.PRECOMMIT, 1, 0, None, sender))
    m.on_timeout(Timeout(Step.PRECOMMIT, 1, 0, 1_000))
    assert m.round == 1
    out = m.on_proposal(Proposal(1, 1, BLOCK, 0, KEYS[1]), valid=True, timely=False)
    assert prevotes(out) == [BLOCK]
