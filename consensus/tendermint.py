"""The Tendermint algorithm for one validator, as a pure state machine.

Rules are those of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic), numbered
R1..R8 as in docs/ and the reference notes. Inputs: proposals and votes whose signatures the node
already checked (with the validity of the proposed block), and timeouts that fired. Outputs:
messages to broadcast, timeouts to schedule, a request to build a block, evidence of
equivocation, and decisions. The machine keeps no clock and does no I/O, so one deterministic
simulator can drive many of them through delays, drops, crashes and equivocators.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from chain.blocks.commit import VoteType

BlockId = bytes  # what the state machine decides on; None in a vote means nil


class Step(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    DECIDED = 4


@dataclass(frozen=True)
class Proposal:
    height: int
    round: int
    value: BlockId
    valid_round: int
    sender: bytes


@dataclass(frozen=True)
class Vote:
    kind: VoteType
    height: int
    round: int
    value: BlockId | None
    sender: bytes


@dataclass(frozen=True)
class Timeout:
    step: Step
    height: int
    round: int
    duration_ms: int


@dataclass(frozen=True)
class NeedProposal:
    """We propose this round and have no valid value: the node builds a block and calls
    `propose` with its id."""

    height: int
    round: int


@dataclass(frozen=True)
class Decision:
    height: int
    round: int
    value: BlockId
    precommits: tuple[Vote, ...]


@dataclass(frozen=True)
class Equivocation:
    first: Vote
    second: Vote


Output = Proposal | Vote | Timeout | NeedProposal | Decision | Equivocation


@dataclass(frozen=True)
class Timeouts:
    """timeout(r) = base + r * delta, in milliseconds (cometbft's defaults).

    A propose timeout must cover building, sending and validating a full block on a loaded
    machine: shorter ones made 10,000-transaction blocks on the 2-core devnet fail rounds.
    """

    propose_ms: int = 3_000
    propose_delta_ms: int = 500
    prevote_ms: int = 1_000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1_000
    precommit_delta_ms: int = 500

    def of(self, step: Step, round_: int) -> int:
        if step == Step.PROPOSE:
            return self.propose_ms + round_ * self.propose_delta_ms
        if step == Step.PREVOTE:
            return self.prevote_ms + round_ * self.prevote_delta_ms
        return self.precommit_ms + round_ * self.precommit_delta_ms


# A validator's votes of one kind in one round: normally one; two if it equivocated. Both
# count, each for its own value, as cometbft's vote sets do once a peer shows a +2/3 majority:
# an equivocator can already make different nodes count different votes, so counting both adds
# nothing it could not do, while refusing the second one lets it stall honest nodes forever.
MAX_VOTES_PER_SENDER = 2
Votes = dict[bytes, list["Vote"]]


@dataclass
class _Round:
    proposal: Proposal | None = None
    timely: bool = True  # the proposal's time is believable (consensus/timeliness.py)
    prevotes: Votes = field(default_factory=dict)
    precommits: Votes = field(default_factory=dict)


def has_quorum(power: int, total: int) -> bool:
    """More than 2/3 of the voting power."""
    return 3 * power > 2 * total


def has_one_honest(power: int, total: int) -> bool:
    """More than 1/3: at least one honest validator is among them."""
    return 3 * power > total


class Tendermint:
    """One validator's consensus state at one height; `start_height` moves it on."""

    def __init__(
        self,
        me: bytes,
        powers: Mapping[bytes, int],
        proposer: Callable[[int, int], bytes],
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.me = me
        self.proposer = proposer
        self.timeouts = timeouts
        self.powers: dict[bytes, int] = dict(powers)
        self.height = 0
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_value: BlockId | None = None
        self.locked_round = -1
        self.valid_value: BlockId | None = None
        self.valid_round = -1
        self.rounds: dict[int, _Round] = {}
        self.validity: dict[BlockId, bool] = {}
        self._fired: set[tuple[str, int]] = set()  # membership only: never iterated

    # Inputs

    def start_height(self, height: int, powers: Mapping[bytes, int] | None = None) -> list[Output]:
        self.height = height
        if powers is not None:
            self.powers = dict(powers)
        self.locked_value, self.locked_round = None, -1
        self.valid_value, self.valid_round = None, -1
        self.rounds, self.validity, self._fired = {}, {}, set()
        return self._start_round(0)

    def propose(self, value: BlockId) -> list[Output]:
        """The block the node built after NeedProposal (valid by construction)."""
        if self.step != Step.PROPOSE or self.proposer(self.height, self.round) != self.me:
            return []
        self.validity[value] = True
        proposal = Proposal(self.height, self.round, value, -1, self.me)
        return [proposal, *self.on_proposal(proposal, valid=True)]

    def on_proposal(self, proposal: Proposal, valid: bool, timely: bool = True) -> list[Output]:
        """`valid`: the block passes every rule; `timely`: its time is believable as we
        received it (only a fresh proposal's first prevote asks, R1)."""
        if proposal.height != self.height or proposal.sender != self.proposer(
            proposal.height, proposal.round
        ):
            return []
        slot = self._round(proposal.round)
        if slot.proposal is not None:
            return []  # one proposal per round; a second one is the proposer's fault
        slot.proposal, slot.timely = proposal, timely
        self.validity.setdefault(proposal.value, valid)
        return self._apply_rules()

    def on_vote(self, vote: Vote) -> list[Output]:
        if vote.height != self.height or vote.sender not in self.powers:
            return []
        slot = self._round(vote.round)
        book = slot.prevotes if vote.kind == VoteType.PREVOTE else slot.precommits
        earlier = book.setdefault(vote.sender, [])
        if any(v.value == vote.value for v in earlier) or len(earlier) >= MAX_VOTES_PER_SENDER:
            return []
        earlier.append(vote)
        evidence: list[Output] = [Equivocation(earlier[0], vote)] if len(earlier) > 1 else []
        return evidence + self._apply_rules()

    def on_timeout(self, timeout: Timeout) -> list[Output]:
        if timeout.height != self.height or timeout.round != self.round:
            return []
        if timeout.step == Step.PROPOSE and self.step == Step.PROPOSE:
            return self._vote(VoteType.PREVOTE, None) + self._apply_rules()
        if timeout.step == Step.PREVOTE and self.step == Step.PREVOTE:
            return self._vote(VoteType.PRECOMMIT, None) + self._apply_rules()
        if timeout.step == Step.PRECOMMIT and self.step != Step.DECIDED:
            return self._start_round(self.round + 1)
        return []

    # Rules

    def _start_round(self, round_: int) -> list[Output]:
        self.round, self.step = round_, Step.PROPOSE
        out: list[Output] = []
        if self.proposer(self.height, round_) == self.me:
            if self.valid_value is not None:
                proposal = Proposal(
                    self.height, round_, self.valid_value, self.valid_round, self.me
                )
                self._round(round_).proposal = proposal
                out.append(proposal)
            else:
                out.append(NeedProposal(self.height, round_))
        else:
            out.append(self._timeout(Step.PROPOSE))
        return out + self._apply_rules()

    def _apply_rules(self) -> list[Output]:
        """Run every rule until none fires (each rule changes step or fires once)."""
        out: list[Output] = []
        while True:
            produced = self._one_rule()
            if produced is None:
                return out
            out += produced

    def _one_rule(self) -> list[Output] | None:
        if self.step == Step.DECIDED:
            return None
        decided = self._rule_decide()
        if decided is not None:
            return decided
        for rule in (
            self._rule_prevote_fresh,
            self._rule_prevote_relock,
            self._rule_prevote_timeout,
            self._rule_lock,
            self._rule_precommit_nil,
            self._rule_precommit_timeout,
            self._rule_skip_round,
        ):
            produced = rule()
            if produced is not None:
                return produced
        return None

    def _rule_prevote_fresh(self) -> list[Output] | None:  # R1
        slot = self._current()
        p = slot.proposal
        if self.step != Step.PROPOSE or p is None or p.valid_round != -1:
            return None
        ok = (
            self.validity.get(p.value, False)
            and slot.timely
            and (self.locked_round == -1 or self.locked_value == p.value)
        )
        return self._vote(VoteType.PREVOTE, p.value if ok else None)

    def _rule_prevote_relock(self) -> list[Output] | None:  # R2
        p = self._current().proposal
        if self.step != Step.PROPOSE or p is None or not 0 <= p.valid_round < self.round:
            return None
        if not self._quorum_for(self._round(p.valid_round).prevotes, p.value):
            return None
        ok = self.validity.get(p.value, False) and (
            self.locked_round <= p.valid_round or self.locked_value == p.value
        )
        return self._vote(VoteType.PREVOTE, p.value if ok else None)

    def _rule_prevote_timeout(self) -> list[Output] | None:  # R3
        if self.step != Step.PREVOTE or not self._quorum_any(self._current().prevotes):
            return None
        return self._once("prevote-timeout", [self._timeout(Step.PREVOTE)])

    def _rule_lock(self) -> list[Output] | None:  # R4
        p = self._current().proposal
        if self.step < Step.PREVOTE or p is None or not self.validity.get(p.value, False):
            return None
        if not self._quorum_for(self._current().prevotes, p.value):
            return None
        if ("lock", self.round) in self._fired:
            return None
        self._fired.add(("lock", self.round))
        out: list[Output] = []
        if self.step == Step.PREVOTE:
            self.locked_value, self.locked_round = p.value, self.round
            out = self._vote(VoteType.PRECOMMIT, p.value)
        self.valid_value, self.valid_round = p.value, self.round
        return out

    def _rule_precommit_nil(self) -> list[Output] | None:  # R5
        if self.step != Step.PREVOTE or not self._quorum_for(self._current().prevotes, None):
            return None
        return self._vote(VoteType.PRECOMMIT, None)

    def _rule_precommit_timeout(self) -> list[Output] | None:  # R6
        if not self._quorum_any(self._current().precommits):
            return None
        return self._once("precommit-timeout", [self._timeout(Step.PRECOMMIT)])

    def _rule_decide(self) -> list[Output] | None:  # R7, any round
        for round_ in sorted(self.rounds):
            slot = self.rounds[round_]
            p = slot.proposal
            if p is None or not self.validity.get(p.value, False):
                continue
            if self._quorum_for(slot.precommits, p.value):
                self.step = Step.DECIDED
                votes = tuple(
                    v
                    for _, sent in sorted(slot.precommits.items())
                    for v in sent
                    if v.value == p.value
                )
                return [Decision(self.height, round_, p.value, votes)]
        return None

    def _rule_skip_round(self) -> list[Output] | None:  # R8
        for round_ in sorted(r for r in self.rounds if r > self.round):
            slot = self.rounds[round_]
            senders = set(slot.prevotes) | set(slot.precommits)
            if slot.proposal is not None:
                senders.add(slot.proposal.sender)
            if has_one_honest(sum(self.powers.get(s, 0) for s in senders), self._total):
                return self._start_round(round_)
        return None

    # Helpers

    @property
    def _total(self) -> int:
        return sum(self.powers.values())

    def _round(self, round_: int) -> _Round:
        return self.rounds.setdefault(round_, _Round())

    def _current(self) -> _Round:
        return self._round(self.round)

    def _quorum_any(self, votes: Votes) -> bool:
        return has_quorum(sum(self.powers[s] for s in votes), self._total)

    def _quorum_for(self, votes: Votes, value: BlockId | None) -> bool:
        power = sum(
            self.powers[s] for s, sent in votes.items() if any(v.value == value for v in sent)
        )
        return has_quorum(power, self._total)

    def _once(self, name: str, out: list[Output]) -> list[Output] | None:
        if (name, self.round) in self._fired:
            return None
        self._fired.add((name, self.round))
        return out

    def _timeout(self, step: Step) -> Timeout:
        return Timeout(step, self.height, self.round, self.timeouts.of(step, self.round))

    def _vote(self, kind: VoteType, value: BlockId | None) -> list[Output]:
        """Cast our vote, count it, and move to the step after it."""
        self.step = Step.PREVOTE if kind == VoteType.PREVOTE else Step.PRECOMMIT
        vote = Vote(kind, self.height, self.round, value, self.me)
        out: list[Output] = [vote]
        if self.me in self.powers:
            slot = self._current()
            book = slot.prevotes if kind == VoteType.PREVOTE else slot.precommits
            book.setdefault(self.me, [vote])
        return out
