"""The invariants, each a small checker fed what the harness observed; what breaks one is a
Violation with the moment and what was seen.

- no_fork: one block at each height, whichever node answers;
- final_kept: a node never answers a lower height than it once did (a block it had is final:
  it must survive any crash), nor another block at a height it had;
- validators_honest: no evidence in any block, nobody jailed, nobody's blockstake cut;
- block_time: no node's head is dated further ahead of the true clock than a light client
  accepts (a proposer's fast clock must not make the chain unverifiable);
- liveness: with a quorum up and connected, the chain advances within the bound;
- txs_resolved: every transaction an API accepted is committed or rejected with a reason;
- replicas: no replica runs on two live nodes (past a grace for the teardown), none is lost;
- billing: no block of a replica is billed twice, nor to a node outside its tenure;
- processes: no node or farmer exits unless the harness stopped it (a full disk may stop a
  node: that is a clean stop, said in its log, and it must come back).
"""

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devnet.customer import Event
from node.light.client import MAX_CLOCK_DRIFT_MS

INVARIANTS = (
    "no_fork",
    "final_kept",
    "validators_honest",
    "block_time",
    "liveness",
    "txs_resolved",
    "replicas",
    "billing",
    "processes",
)


@dataclass(frozen=True)
class Violation:
    invariant: str
    at: float  # seconds into the run
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "at_s": round(self.at, 1), "message": self.message}


@dataclass
class Tally:
    """How often each invariant was checked, and what broke it (thread-safe)."""

    checks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INVARIANTS, 0))
    violations: list[Violation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, invariant: str, at: float, problems: Iterable[str]) -> list[Violation]:
        found = [Violation(invariant, at, p) for p in problems]
        with self.lock:
            self.checks[invariant] += 1
            self.violations += found
        return found

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: {
                    "checks": self.checks[name],
                    "violations": sum(v.invariant == name for v in self.violations),
                }
                for name in INVARIANTS
            }


@dataclass
class ChainView:
    """The block hash the harness first saw at each height, and the highest height each node
    answered."""

    hashes: dict[int, tuple[str, str]] = field(default_factory=dict)  # height: (hash, node)
    heights: dict[str, int] = field(default_factory=dict)

    def block(self, node: str, height: int, block_hash: str) -> list[str]:
        first = self.hashes.setdefault(height, (block_hash, node))
        if first[0] == block_hash:
            return []
        return [f"fork at height {height}: {first[1]} has {first[0]}, {node} has {block_hash}"]

    def height(self, node: str, height: int) -> list[str]:
        before = self.heights.get(node, 0)
        if height < before:
            return [f"{node} answers height {height}, having answered {before}: final blocks lost"]
        self.heights[node] = height
        return []

    @property
    def head(self) -> int:
        return max(self.heights.values(), default=0)


def validator_problems(view: dict[str, Any], stakes: dict[str, int]) -> list[str]:
    """What /v1/validators shows against the blockstake each validator began with."""
    problems = [
        f"validator {j.get('public_key', '?')[:12]} is jailed: {j.get('reason')}"
        for j in view.get("jailed", [])
    ]
    active = {v["public_key"]: int(v["blockstake"]) for v in view.get("validators", [])}
    for key, stake in stakes.items():
        if key in active and active[key] < stake:
            problems.append(f"validator {key[:12]} lost blockstake: {stake} -> {active[key]}")
    return problems


def block_time_problems(node: str, height: int, time_ms: int, now_ms: int) -> list[str]:
    ahead = time_ms - now_ms
    if ahead <= MAX_CLOCK_DRIFT_MS:
        return []
    return [f"{node}'s head {height} is dated {ahead / 1000:.1f} s ahead: light clients refuse it"]


def evidence_problems(height: int, block: dict[str, Any]) -> list[str]:
    return [f"block {height} holds evidence: {e}" for e in block.get("evidence") or []]


def has_quorum(validators: int, down: set[int], connected: Callable[[int, int], bool]) -> bool:
    """Whether some group of up validators that all reach each other holds more than 2/3 of
    the (equal) blockstake."""
    up = [i for i in range(validators) if i not in down]
    seen: set[int] = set()
    for start in up:
        if start in seen:
            continue
        group, stack = {start}, [start]
        while stack:
            a = stack.pop()
            for b in up:
                if b not in group and connected(a, b):
                    group.add(b)
                    stack.append(b)
        seen |= group
        if 3 * len(group) > 2 * validators:
            return True
    return False


@dataclass
class Liveness:
    """Progress once a quorum is up: the time from the quorum's return (or the last new
    block) to the next new block; a stall past `bound` is a violation."""

    bound: float
    head: int = 0
    advanced_at: float = 0.0
    quorum_since: float | None = None
    regained_at: float | None = None  # the quorum came back, no block since
    stalled: bool = False
    ticked: bool = False
    recoveries: list[float] = field(default_factory=list)

    def tick(self, now: float, head: int, quorum: bool) -> list[str]:
        first, self.ticked = not self.ticked, True
        if quorum and self.quorum_since is None:
            self.quorum_since = now
            self.regained_at = None if first else now  # the first look is no return
        elif not quorum:
            self.quorum_since = None
            self.regained_at = None
            self.stalled = False
        if head > self.head:
            self.head, self.advanced_at, self.stalled = head, now, False
            if self.regained_at is not None:
                self.recoveries.append(now - self.regained_at)
                self.regained_at = None
            return []
        if self.quorum_since is None or self.stalled:
            return []
        waited = now - max(self.advanced_at, self.quorum_since)
        if waited <= self.bound:
            return []
        self.stalled = True
        return [f"no new block for {waited:.0f} s after height {head} with a quorum up"]


def replica_of(key: str) -> tuple[int, str, int]:
    """(workload id, workload, index) of a sandbox key w<wid>-<workload>-<index>-<digest>."""
    head, index, _ = key.rsplit("-", 2)
    wid, workload = head.split("-", 1)
    return int(wid.removeprefix("w")), workload, int(index)


@dataclass
class Doubles:
    """Replicas running on two live farmers at once, reported once they stay so past
    `grace` (the old node's agent tears its copy down in its next round)."""

    grace: float
    since: dict[tuple[int, str, int], float] = field(default_factory=dict)
    reported: set[tuple[int, str, int]] = field(default_factory=set)

    def tick(self, now: float, running: dict[str, set[tuple[int, str, int]]]) -> list[str]:
        """`running`: the replicas each live farmer (one the chain holds up) runs."""
        where: dict[tuple[int, str, int], list[str]] = {}
        for farmer, replicas in sorted(running.items()):
            for replica in replicas:
                where.setdefault(replica, []).append(farmer)
        doubled = {r: fs for r, fs in where.items() if len(fs) > 1}
        self.since = {r: self.since.get(r, now) for r in doubled}
        problems = []
        for replica, farmers in sorted(doubled.items()):
            if now - self.since[replica] > self.grace and replica not in self.reported:
                self.reported.add(replica)
                problems.append(
                    f"replica {replica} runs on {' and '.join(farmers)} for "
                    f"{now - self.since[replica]:.0f} s"
                )
        return problems


def billing_problems(events: list[Event], deployments: dict[int, dict[str, Any]]) -> list[str]:
    """Over the deployments' audit entries (bill, placed, moving, gave_up): every
    `bill` covers blocks (until - blocks, until] of one replica on one node; no block is billed
    twice, and every billed block lies in a tenure of that node: from the block that placed
    the replica there to the one that moved it away, or, where the replica's history still
    holds the move, to the last height the node was seen up."""
    problems = []
    stretches: dict[Replica, list[tuple[int, int, int]]] = {}
    tenures: dict[Replica, list[list[int]]] = {}  # [after, up to, node]
    for event in events:
        data, height = event.data, event.height
        replica = (int(data["wid"]), str(data["workload"]), int(data["index"]))
        if event.topic == "bill":
            end = int(data["until"])
            stretches.setdefault(replica, []).append(
                (end - int(data["blocks"]), end, int(data["node"]))
            )
        elif event.topic == "placed":
            tenures.setdefault(replica, []).append([height - 1, 1 << 62, int(data["node"])])
        elif event.topic in ("moving", "gave_up"):
            for tenure in tenures.get(replica, []):
                if tenure[2] == int(data["node"]) and tenure[1] == 1 << 62:
                    tenure[1] = _left(deployments, replica, tenure, height)
    for replica, billed in sorted(stretches.items()):
        billed.sort()
        for (_, end, node), (start, other_end, other) in itertools.pairwise(billed):
            if start < end:
                problems.append(
                    f"replica {replica}: blocks {start + 1}..{min(end, other_end)} billed "
                    f"twice (nodes {node} and {other})"
                )
        held = tenures.get(replica, [])
        for start, end, node in billed:
            if not any(n == node and s <= start and end <= e for s, e, n in held):
                problems.append(
                    f"replica {replica}: node {node} billed for blocks {start + 1}..{end}, "
                    "outside its tenure"
                )
    return problems


Replica = tuple[int, str, int]


def _left(
    deployments: dict[int, dict[str, Any]], replica: Replica, tenure: list[int], moved: int
) -> int:
    """The last height of the node's tenure that ended in the block at `moved`: the `left`
    of the replica's history entry for it when the history still has it."""
    view = deployments.get(replica[0])
    for r in view["replicas"] if view else []:
        if (r["workload"], r["index"]) != replica[1:]:
            continue
        for move in r["history"]:
            if int(move["node"]) == tenure[2] and tenure[0] < int(move["left"]) <= moved:
                return int(move["left"])
    return moved
