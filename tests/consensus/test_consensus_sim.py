"""A deterministic simulator driving N Tendermint state machines through an unreliable network.

Seeded randomness gives delays, losses (retransmitted by gossip only after the global
stabilisation time, GST) and reordering before GST,
crashes with recovery, and an equivocating validator. Safety (no two different decisions at a
height) is asserted always; liveness (every honest validator reaches the target height) once the
network behaves.
"""

import heapq
import random
from dataclasses import dataclass, field, replace

import pytest

from chain.hashing import hash32
from consensus.tendermint import (
    Decision,
    Equivocation,
    NeedProposal,
    Output,
    Proposal,
    Tendermint,
    Timeout,
    Timeouts,
    Vote,
)

HEIGHTS = 150


def key(i: int) -> bytes:
    return hash32(b"validator/%d" % i)


@dataclass
class Network:
    seed: int
    n: int
    powers: list[int]
    gst_ms: int = 3_000
    drop_before_gst: float = 0.3
    max_delay_ms: int = 60
    byzantine: frozenset[int] = frozenset()
    crashes: tuple[tuple[int, int, int], ...] = ()  # (node, from ms, to ms)
    rng: random.Random = field(init=False)
    queue: list[tuple[int, int, int, object]] = field(default_factory=list)
    seq: int = 0
    now: int = 0
    decisions: dict[int, dict[int, bytes]] = field(default_factory=dict)
    evidence: list[Equivocation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.keys = [key(i) for i in range(self.n)]
        power_of = dict(zip(self.keys, self.powers, strict=True))
        order = sorted(self.keys)

        def proposer(height: int, round_: int) -> bytes:
            return order[(height + round_) % len(order)]

        fast = Timeouts(200, 100, 100, 50, 100, 50)
        self.nodes = [Tendermint(k, power_of, proposer, fast) for k in self.keys]
        self.decisions = {i: {} for i in range(self.n)}
        self.relayed: list[set[Vote]] = [set() for _ in range(self.n)]
        self.future: list[list[Proposal | Vote]] = [[] for _ in range(self.n)]
        for i, node in enumerate(self.nodes):
            self.handle(i, node.start_height(1))

    def crashed(self, i: int) -> bool:
        return any(node == i and start <= self.now < end for node, start, end in self.crashes)

    def schedule(self, at: int, target: int, item: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, target, item))

    def send(self, source: int, message: Proposal | Vote) -> None:
        for target in range(self.n):
            if target == source:
                continue
            delay = 1 + self.rng.randrange(self.max_delay_ms * (3 if self.now < self.gst_ms else 1))
            if self.now < self.gst_ms and self.rng.random() < self.drop_before_gst:
                # Lost in a partition; gossip retransmits it once the network heals (GST).
                delay += self.gst_ms - self.now
            payload: Proposal | Vote = message
            own_vote = isinstance(message, Vote) and message.sender == self.keys[source]
            if source in self.byzantine and own_vote and target % 2:
                # Equivocate: the odd-numbered half sees its vote for another block.
                assert isinstance(message, Vote)
                payload = replace(message, value=hash32(b"evil" + (message.value or b"")))
            self.schedule(self.now + delay, target, payload)

    def handle(self, i: int, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Proposal | Vote):
                self.send(i, out)
            elif isinstance(out, Timeout):
                self.schedule(self.now + out.duration_ms, i, out)
            elif isinstance(out, NeedProposal):
                value = hash32(b"block/%d/%d/%d" % (out.height, out.round, i))
                self.handle(i, self.nodes[i].propose(value))
            elif isinstance(out, Decision):
                assert len(out.precommits) > 0
                self.decisions[i][out.height] = out.value
                self.next_height(i)
            elif isinstance(out, Equivocation):
                self.evidence.append(out)

    def next_height(self, i: int) -> None:
        """Start the next height and hand over the messages that arrived early for it."""
        node = self.nodes[i]
        self.handle(i, node.start_height(node.height + 1))
        early = [m for m in self.future[i] if m.height == node.height]
        self.future[i] = [m for m in self.future[i] if m.height > node.height]
        for message in early:
            self.deliver(i, message)

    def sync(self, i: int) -> None:
        """Block sync: a node behind adopts what the others decided (checked for safety)."""
        node = self.nodes[i]
        while True:
            known = [
                d[node.height]
                for j, d in self.decisions.items()
                if j not in self.byzantine and node.height in d
            ]
            if not known:
                return
            self.decisions[i][node.height] = known[0]
            self.next_height(i)

    def deliver(self, i: int, item: object) -> None:
        node = self.nodes[i]
        if isinstance(item, Timeout):
            self.handle(i, node.on_timeout(item))
            return
        assert isinstance(item, Proposal | Vote)
        if item.height > node.height:
            self.sync(i)
        if item.height > node.height:  # nobody honest decided our height yet: keep it
            self.future[i].append(item)
            return
        if isinstance(item, Proposal):
            self.handle(i, node.on_proposal(item, valid=True))
            return
        if item not in self.relayed[i]:  # gossip: pass each vote on once
            self.relayed[i].add(item)
            self.send(i, item)
        self.handle(i, node.on_vote(item))

    def run(self, target_height: int, limit_ms: int) -> None:
        while self.queue and self.now < limit_ms:
            at, _, target, item = heapq.heappop(self.queue)
            self.now = at
            if self.crashed(target):
                if isinstance(item, Timeout):  # a restarted node re-arms its round timer
                    end = max(e for n, s, e in self.crashes if n == target and s <= at < e)
                    self.schedule(end, target, item)
                continue
            self.deliver(target, item)
            if all(self.nodes[i].height > target_height for i in self.honest):
                return

    @property
    def honest(self) -> list[int]:
        return [i for i in range(self.n) if i not in self.byzantine]

    def assert_safe(self) -> None:
        by_height: dict[int, set[bytes]] = {}
        for i in self.honest:
            for height, value in self.decisions[i].items():
                by_height.setdefault(height, set()).add(value)
        forks = {h: v for h, v in by_height.items() if len(v) > 1}
        assert not forks, f"two different decisions at heights {sorted(forks)}"

    def assert_live(self, target_height: int) -> None:
        for i in self.honest:
            assert self.nodes[i].height > target_height, (
                f"validator {i} stuck at height {self.nodes[i].height} round {self.nodes[i].round}"
            )


@pytest.mark.parametrize("seed", range(6))
def test_four_equal_validators_are_safe_and_live_despite_drops_and_delays(seed: int) -> None:
    net = Network(seed, 4, [1, 1, 1, 1])
    net.run(target_height=30, limit_ms=120_000)
    net.assert_safe()
    net.assert_live(30)


@pytest.mark.parametrize("seed", range(4))
def test_weighted_stake_with_crashes(seed: int) -> None:
    # 7 validators; the two crashing ones hold 3 of 13 blockstake (< 1/3).
    net = Network(seed, 7, [3, 2, 2, 2, 1, 2, 1], crashes=((4, 500, 4_000), (6, 2_000, 6_000)))
    net.run(target_height=25, limit_ms=120_000)
    net.assert_safe()
    net.assert_live(25)


@pytest.mark.parametrize("seed", range(4))
def test_an_equivocating_validator_is_caught_and_cannot_fork(seed: int) -> None:
    net = Network(seed, 4, [1, 1, 1, 1], byzantine=frozenset({1}))
    net.run(target_height=20, limit_ms=120_000)
    net.assert_safe()
    net.assert_live(20)
    assert net.evidence, "nobody reported the double vote"
    assert {e.first.sender for e in net.evidence} == {key(1)}
    assert all(e.first.value != e.second.value for e in net.evidence)


def test_no_progress_without_a_quorum_and_none_forks() -> None:
    # Two of four are down for the whole run: nothing may be decided, nothing may fork.
    net = Network(3, 4, [1, 1, 1, 1], crashes=((2, 0, 10**9), (3, 0, 10**9)))
    net.run(target_height=5, limit_ms=20_000)
    net.assert_safe()
    assert all(not net.decisions[i] for i in range(4))


def test_the_same_seed_gives_the_same_run() -> None:
    runs = []
    for _ in range(2):
        net = Network(11, 4, [1, 2, 1, 1])
        net.run(target_height=10, limit_ms=60_000)
        runs.append((net.now, net.decisions))
    assert runs[0] == runs[1]


def test_many_heights_with_every_fault_at_once() -> None:
    """Weighted stake, an equivocator, a crash, and losses before GST, for many heights."""
    net = Network(2026, 5, [3, 2, 2, 2, 1], byzantine=frozenset({4}), crashes=((3, 1_000, 5_000),))
    net.run(target_height=HEIGHTS, limit_ms=3_600_000)
    net.assert_safe()
    net.assert_live(HEIGHTS)
    assert {e.first.sender for e in net.evidence} == {key(4)}
