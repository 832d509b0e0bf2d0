"""The faults, and the schedule a seed makes of them.

A fault takes slots: a validator's process (kill, pause, restart, full disk, skewed clock), a
validator's link (isolate, flap; a split takes every link), a farmer. Nothing takes a slot
another fault holds, so each fault ends as it began (a kill is never undone by a pause's
resume). Several faults run at once on different slots: two validators killed, one paused
while two others are split from it, a farmer dead while its validator restarts.

The schedule is drawn from one random.Random(seed): the gaps, the kinds, their targets,
durations and details. Which slots are free when a draw comes depends on how long restarts
took, so a replay with the same seed makes the same draws in the same order, and the same
faults wherever the timing matches.

At most half the validators are under a fault at once (a split only comes with at most one
other), so the chain spends much of the run with a quorum and liveness is tested as well as
safety; two at once (of four) still stops it, often. A validator is never down (under any
fault) for more than DOWN_SHARE of the last
BUDGET_WINDOW seconds: the downtime rule would jail it otherwise, and the harness holds that no
honest validator is ever jailed.
"""

import random
from collections import deque
from dataclasses import dataclass, field

# kind: (weight, shortest, longest seconds)
KINDS: dict[str, tuple[int, float, float]] = {
    "kill": (30, 1.0, 8.0),  # kill -9, down for the duration, started again
    "kill_two": (10, 2.0, 6.0),  # two validators killed at the same moment
    "pause": (20, 1.0, 8.0),  # SIGSTOP ... SIGCONT
    "restart": (10, 0.0, 0.0),  # SIGTERM and started again at once
    "split": (15, 3.0, 10.0),  # the validators in two groups that cannot reach each other
    "isolate": (15, 3.0, 10.0),  # one validator's link down
    "flap": (10, 5.0, 10.0),  # one validator's link down and up, again and again
    "disk_full": (7, 3.0, 8.0),  # the disk node's home has no free byte
    "torn_wal": (7, 1.0, 5.0),  # kill -9, the last DETAIL bytes of its WAL cut off, started
    "clock_skew": (7, 10.0, 20.0),  # restarted with its clock off by DETAIL seconds
    "farmer_crash": (15, 5.0, 30.0),  # a farm node's machine dies, comes back later
}
PROCESS_KINDS = ("kill", "kill_two", "pause", "restart", "disk_full", "clock_skew", "torn_wal")
LINK_KINDS = ("split", "isolate", "flap")
GAP = (0.2, 1.5)  # seconds between draws
MAX_CLOCK_OFFSET = 120
BUDGET_WINDOW = 180.0
DOWN_SHARE = 0.3


@dataclass(frozen=True)
class Fault:
    number: int
    kind: str
    validators: tuple[int, ...] = ()
    farmer: str = ""
    seconds: float = 0.0
    # split: the first group (the others form the second); flap: the seed of its toggling;
    # clock_skew: the offset in seconds; torn_wal: the bytes cut
    groups: tuple[tuple[int, ...], ...] = ()
    detail: int = 0

    def describe(self) -> str:
        who = ", ".join(f"node{i}" for i in self.validators) or self.farmer
        if self.kind == "split":
            who = " | ".join(",".join(f"node{i}" for i in g) for g in self.groups)
        extra = f" {self.detail:+d} s" if self.kind == "clock_skew" else ""
        return f"#{self.number} {self.kind} {who}{extra} for {self.seconds:.1f} s"

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "kind": self.kind,
            "validators": list(self.validators),
            "farmer": self.farmer or None,
            "seconds": round(self.seconds, 3),
            "groups": [list(g) for g in self.groups],
            "detail": self.detail,
        }


@dataclass
class Slots:
    """Who is under a fault now, and for how long each validator was lately."""

    validators: int
    disk_node: int
    farmers: list[str]
    process: dict[int, int] = field(default_factory=dict)  # validator -> fault number
    link: dict[int, int] = field(default_factory=dict)
    farmer: dict[str, int] = field(default_factory=dict)
    down: dict[int, deque[tuple[float, float]]] = field(default_factory=dict)

    def take(self, fault: Fault) -> None:
        if fault.kind in PROCESS_KINDS:
            for i in fault.validators:
                self.process[i] = fault.number
        elif fault.kind in LINK_KINDS:
            for i in fault.validators:
                self.link[i] = fault.number
        elif fault.farmer:
            self.farmer[fault.farmer] = fault.number

    def give_back(self, fault: Fault, began: float, ended: float) -> None:
        for held in (self.process, self.link):
            for i in [i for i, n in held.items() if n == fault.number]:
                del held[i]
        self.farmer = {f: n for f, n in self.farmer.items() if n != fault.number}
        if fault.kind != "split":  # a split leaves each side with its own peers
            for i in fault.validators:
                self.down.setdefault(i, deque()).append((began, ended))

    def budget_left(self, i: int, now: float) -> float:
        """Seconds validator i may still be down within the window ending now."""
        spans = self.down.setdefault(i, deque())
        while spans and spans[0][1] < now - BUDGET_WINDOW:
            spans.popleft()
        used = sum(end - max(start, now - BUDGET_WINDOW) for start, end in spans)
        return DOWN_SHARE * BUDGET_WINDOW - used

    def free(self, i: int, now: float, seconds: float, link: bool = False) -> bool:
        held = self.link if link else self.process
        other = self.process if link else self.link
        # A validator is under one fault at a time, so its downtime is the faults' sum.
        return i not in held and i not in other and self.budget_left(i, now) > seconds + 15


class Schedule:
    """Draws the next fault that fits the free slots (None when none fits now)."""

    def __init__(self, seed: int, slots: Slots) -> None:
        self.rng = random.Random(seed)
        self.slots = slots
        self.count = 0

    def gap(self) -> float:
        return self.rng.uniform(*GAP)

    def draw(self, now: float) -> Fault | None:
        kinds = list(KINDS)
        kind = self.rng.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
        _, low, high = KINDS[kind]
        seconds = self.rng.uniform(low, high)
        fault = self._shape(kind, seconds, now)
        if fault is not None:
            self.count += 1
            self.slots.take(fault)
        return fault

    def _shape(self, kind: str, seconds: float, now: float) -> Fault | None:
        s = self.slots
        n = self.count + 1
        everyone = list(range(s.validators))
        if kind == "farmer_crash":
            idle = [f for f in s.farmers if f not in s.farmer]
            if not idle:
                return None
            return Fault(n, kind, farmer=self.rng.choice(idle), seconds=seconds)
        faulted = set(s.process) | set(s.link)
        if kind == "split":
            if any(i in s.link for i in everyone) or len(faulted) > 1:
                return None
            order = self.rng.sample(everyone, len(everyone))
            cut = self.rng.choice([len(order) // 2, 1]) if len(order) > 2 else 1
            groups = (tuple(sorted(order[:cut])), tuple(sorted(order[cut:])))
            return Fault(n, kind, tuple(everyone), seconds=seconds, groups=groups)
        link = kind in LINK_KINDS
        count = 2 if kind == "kill_two" else 1
        candidates = [s.disk_node] if kind == "disk_full" else everyone
        free = [i for i in candidates if s.free(i, now, seconds, link)]
        if len(free) < count or len(faulted) + count > s.validators // 2:
            return None
        chosen = tuple(sorted(self.rng.sample(free, count)))
        detail = 0
        if kind == "flap":
            detail = self.rng.randrange(1 << 30)
        elif kind == "clock_skew":
            detail = self.rng.choice([-1, 1]) * self.rng.randint(5, MAX_CLOCK_OFFSET)
        elif kind == "torn_wal":
            detail = self.rng.randint(1, 64)
        return Fault(n, kind, chosen, seconds=seconds, detail=detail)
