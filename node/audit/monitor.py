"""Rounds of the audit monitor: read each node's head, check it against every head kept.

Level-triggered: a round compares the heads it observes with the state, and a head is kept only
if it passed every check, so a disagreement is found again every round for as long as it lasts,
and a restart (the state is on disk) finds it too. Nothing listens for events.

A head is checked against its own node's last head (a failure is `inconsistent`: the node
contradicts itself) and against the largest head kept (a failure is a `split_view` when another
node showed that head). Every kept head is a prefix of the largest (state.py), so these two
checks cover all of them. Two heads agree when:

- they are of one chain, and at one height they are one block;
- a node's head never goes back (height or log size);
- at equal sizes the roots are equal, and otherwise the node holding the larger log proves with a
  consistency proof (RFC 9162) that the smaller log is its prefix. The proof is checked here
  against the two roots the headers commit to, so the prover is not trusted: a node of either
  side, or any node whose head this round already passed, may give it. A refused or failing proof
  is a finding.

A node that does not answer is `unreachable`, a warning and not a split; so is a head that could
not be checked because no node that holds the larger log answered (it is checked again next
round). A head whose header does not hash to its claimed hash, or that `trust_header` refuses,
is an `invalid_head`.

Heads are processed largest log first, so a round's largest head is checked (and kept) before
the smaller ones that are proven against it, and its node, which just answered, proves them.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.errors import InvalidProof, RuleViolation
from chain.merkle import check_consistency
from node.api.client import DEFAULT_TIMEOUT, ApiError, NodeClient, NodeUnreachable, proof_hashes
from node.audit.heads import TreeHead, TrustHeader, accept_recomputed, read_head
from node.audit.state import MonitorState, load_state, save_state
from node.light.client import LightSyncError

SPLIT_VIEW = "split_view"
INCONSISTENT = "inconsistent"
INVALID_HEAD = "invalid_head"
UNREACHABLE = "unreachable"
WARNINGS = frozenset({UNREACHABLE})

CONSISTENT, WARNING, FOUND = "consistent", "warning", "inconsistent"
# Exit statuses of `gridchain audit monitor` (1 and 2 are the CLI's errors and usage errors).
EXIT_CODES = {CONSISTENT: 0, FOUND: 3, WARNING: 4}
SEVERITY = {CONSISTENT: 0, WARNING: 1, FOUND: 2}


@dataclass(frozen=True)
class Finding:
    kind: str  # SPLIT_VIEW, INCONSISTENT, INVALID_HEAD or UNREACHABLE
    node: str  # the node whose head (or silence) this is about
    message: str
    other: str | None = None  # the node that showed the head this one contradicts

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "other": self.other, "message": self.message}


@dataclass(frozen=True)
class RoundReport:
    round: int
    heads: dict[str, TreeHead | None]  # each node of the round: its head, None if it gave none
    findings: tuple[Finding, ...]
    largest: TreeHead | None

    @property
    def verdict(self) -> str:
        if any(f.kind not in WARNINGS for f in self.findings):
            return FOUND
        return WARNING if self.findings else CONSISTENT

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "verdict": self.verdict,
            "heads": [
                {"node": node, "head": None if head is None else head.to_json()}
                for node, head in self.heads.items()
            ],
            "findings": [f.to_json() for f in self.findings],
            "largest": None if self.largest is None else self.largest.to_json(),
        }


class Unchecked(Exception):
    """Two heads could not be compared this round: no node holding the larger log answered."""


class Monitor:
    """The monitor of a list of nodes over the state file at `state_path` (loaded now, saved
    after every round)."""

    def __init__(
        self,
        urls: Sequence[str],
        state_path: Path,
        trust_header: TrustHeader = accept_recomputed,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not urls:
            raise ValueError("the monitor needs at least one node")
        clients = [NodeClient(url, timeout) for url in urls]
        self.clients = {client.url: client for client in clients}  # one per node, in order
        self.state_path = state_path
        self.state: MonitorState = load_state(state_path)
        self.trust_header = trust_header
        self.timeout = timeout
        self.rounds = 0

    def round(self) -> RoundReport:
        """Observe every node's head, check each against the state, keep those that pass."""
        self.rounds += 1
        observed: dict[str, TreeHead | None] = {}
        findings: list[Finding] = []
        for url, client in self.clients.items():
            observed[url] = None
            try:
                observed[url] = read_head(client, self.trust_header)
            except NodeUnreachable as exc:
                findings.append(Finding(UNREACHABLE, url, exc.message))
            except ApiError as exc:
                findings.append(Finding(UNREACHABLE, url, f"{url} gave no head: {exc.message}"))
            except RuleViolation as exc:
                findings.append(Finding(INVALID_HEAD, url, f"{url}: {exc.message}"))
            except LightSyncError as exc:  # finality could not be checked this round
                findings.append(Finding(UNREACHABLE, url, f"{url}'s head: {exc.message}"))
        fresh = [head for head in observed.values() if head is not None]
        passed: list[TreeHead] = []
        for head in sorted(fresh, key=lambda h: (-h.audit_size, -h.height)):  # stable: by node
            finding = self._check(head, passed)
            if finding is None:
                self.state.keep(head)
                passed.append(head)
            else:
                findings.append(finding)
        save_state(self.state_path, self.state)
        return RoundReport(self.rounds, observed, tuple(findings), self.state.largest)

    def _check(self, head: TreeHead, passed: Sequence[TreeHead]) -> Finding | None:
        """The first reason `head` cannot be kept, or None."""
        node = head.node
        own = self.state.heads.get(node)
        if own is not None and (head.height < own.height or head.audit_size < own.audit_size):
            went_back = f"{node} went back: it showed {own.describe()}, now {head.describe()}"
            return Finding(INCONSISTENT, node, went_back, node)
        if own is not None:
            finding = self._against(own, head, passed)
            if finding is not None:
                return finding
        for other in self.state.heads.values():  # no proof needed: same height, other block
            problem = _same_chain_and_block(other, head)
            if other.node != node and problem is not None:
                return _split(head, other, problem)
        largest = self.state.largest
        if largest is None or largest == own:
            return None
        return self._against(largest, head, passed)

    def _against(
        self, kept: TreeHead, head: TreeHead, passed: Sequence[TreeHead]
    ) -> Finding | None:
        """A finding if `head` disagrees with `kept` (or cannot be checked against it)."""
        node = head.node
        try:
            problem = self._disagreement(kept, head, passed)
        except Unchecked as exc:
            unchecked = f"cannot check {head.describe()} against {kept.describe()} now: {exc}"
            return Finding(UNREACHABLE, node, unchecked, kept.node)
        if problem is None:
            return None
        if kept.node == node:
            return Finding(INCONSISTENT, node, f"{node} contradicts itself: {problem}", node)
        return _split(head, kept, problem)

    def _disagreement(
        self, kept: TreeHead, new: TreeHead, passed: Sequence[TreeHead]
    ) -> str | None:
        """Why `kept` and `new` cannot both be heads of one log, or None if they can. Raises
        Unchecked if no node that holds the larger log answered."""
        if kept == new:
            return None
        problem = _same_chain_and_block(kept, new)
        if problem is not None:
            return problem
        small, large = sorted((kept, new), key=lambda h: h.audit_size)
        if small.audit_size == large.audit_size or small.audit_size == 0:
            try:  # no proof to fetch: equal roots, or the empty log's root
                check_consistency(
                    small.audit_size, large.audit_size, small.audit_root, large.audit_root, []
                )
            except InvalidProof as exc:
                return f"{small.describe()} and {large.describe()}: {exc.message}"
            return None
        return self._proven_prefix(small, large, passed)

    def _proven_prefix(
        self, small: TreeHead, large: TreeHead, passed: Iterable[TreeHead]
    ) -> str | None:
        """A consistency proof that `small`'s log is a prefix of `large`'s, from the node that
        showed `large` or else from a node whose head passed this round and is as large."""
        provers = [large.node]
        provers += [h.node for h in passed if h.audit_size >= large.audit_size]
        silent: list[str] = []
        what = f"from log {small.audit_size} to log {large.audit_size}"
        for url in dict.fromkeys(provers):
            client = self.clients.get(url) or NodeClient(url, self.timeout)
            try:
                answer = client.audit_consistency(small.audit_size, large.audit_size)
                proof = proof_hashes(answer)
                check_consistency(
                    small.audit_size, large.audit_size, small.audit_root, large.audit_root, proof
                )
            except NodeUnreachable as exc:
                silent.append(exc.message)
            except ApiError as exc:
                return f"{url} refused a consistency proof {what}: {exc.message}"
            except InvalidProof as exc:
                return f"{url}'s consistency proof {what} fails: {exc.message}"
            else:
                return None
        raise Unchecked("; ".join(silent))


def _split(head: TreeHead, kept: TreeHead, problem: str) -> Finding:
    message = f"{head.node} and {kept.node} disagree: {problem}"
    return Finding(SPLIT_VIEW, head.node, message, kept.node)


def _same_chain_and_block(a: TreeHead, b: TreeHead) -> str | None:
    """Why two heads cannot be of one chain, judged without a proof: another chain id, or two
    blocks at one height."""
    if a.chain_id != b.chain_id:
        return f"{b.node} is on chain {b.chain_id!r}, {a.node} on chain {a.chain_id!r}"
    if a.height == b.height and a.block_hash != b.block_hash:
        return (
            f"two blocks at height {a.height}: {a.block_hash.hex()} from {a.node}, "
            f"{b.block_hash.hex()} from {b.node}"
        )
    return None


def run_monitor(
    monitor: Monitor,
    rounds: int | None,
    interval: float,
    on_round: Callable[[RoundReport], None],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run `rounds` rounds (forever if None), `interval` seconds apart; returns the worst
    verdict of them all (CONSISTENT, WARNING or FOUND)."""
    worst = CONSISTENT
    done = 0
    while True:
        report = monitor.round()
        on_round(report)
        if SEVERITY[report.verdict] > SEVERITY[worst]:
            worst = report.verdict
        done += 1
        if rounds is not None and done >= rounds:
            return worst
        sleep(interval)
