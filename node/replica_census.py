"""Replicas by state over every deployment, kept for the node's metrics.

The state has no list of deployments (their records are keyed by hash), and scanning it at each
scrape would cost the event loop a read per farm node. So the census is kept from what blocks
do: at start it reads the deployments named by the nodes' loads and by the placement queue
(every deployment with a replica on a node or a step due), then after each committed block it
reads again the deployments that block's audit entries name. A deployment whose every replica
failed for good before the node started, with nothing due, is counted once a block names it.

It also tells which `deployed` entries are a replica's first deployment in its version (not a
heal, not a repeated report), with the height that version was authorized: the start of the
time to deploy.

Only entries the chain's own rules wrote are read (rule_entries): any funded account can deploy
a contract, and a contract can emit any topic with any bytes under its own address, so its
events are told apart by the receipts of the block, never trusted. What the rules wrote is
still checked field by field (deployment_fields) before anything is done with it.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.address import Address
from chain.deployment.records import (
    DEPLOYED,
    ENDED,
    EXPIRED,
    MAX_WID,
    REPLICA_STATES,
    DeploymentRef,
    read_deployment,
    read_node_load,
    read_queue,
)
from chain.encoding import decode
from chain.errors import EncodingError, InvalidAddress
from chain.farming.records import read_counters
from chain.ledger.audit import AuditEntry
from chain.ledger.execution import Receipt
from chain.state import StateReader


def rule_entries(entries: Sequence[AuditEntry], receipts: Sequence[Receipt]) -> list[AuditEntry]:
    """The entries of a block the chain's rules wrote, in order: its block steps, what plain
    transactions' rules did, and the chain steps a contract call asked for; never a contract's
    own event. A contract's events carry its transaction's index, like the chain steps of that
    transaction, and may copy their topics and bytes: they are the events of the transaction's
    receipt, each taken out once (an event identical to a chain step leaves one copy, the same
    either way)."""
    events = Counter(
        (receipt.index, e.contract.raw, e.topic, e.data)
        for receipt in receipts
        for e in receipt.events
    )
    kept = []
    for entry in entries:
        key = (entry.tx_index, entry.contract, entry.topic, entry.data)
        if events[key] > 0:
            events[key] -= 1
        else:
            kept.append(entry)
    return kept


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def deployment_fields(entry: AuditEntry) -> dict[str, Any] | None:
    """The fields of an entry the deployment rules wrote (a canonical map with the workload
    id); None for anything else, or for a field out of what the rules ever write: the workload
    id of a deployment record (0..MAX_WID), the height a replica left its node (at most the
    entry's own), a replica's workload, index and version, a move's cause. Entries are never
    trusted to decode, nor to hold what they should (callers pass rule_entries, and check
    again)."""
    try:
        fields = decode(entry.data)
        Address(entry.contract)
    except (EncodingError, InvalidAddress):
        return None
    if not isinstance(fields, dict) or not _is_int(fields.get("wid"), 0, MAX_WID):
        return None
    checks = {
        "left": lambda v: _is_int(v, 0, entry.height),
        "index": lambda v: _is_int(v, 0, MAX_WID),
        "version": lambda v: _is_int(v, 0, MAX_WID),
        "workload": lambda v: isinstance(v, str),
        "cause": lambda v: isinstance(v, str),
    }
    if any(name in fields and not ok(fields[name]) for name, ok in checks.items()):
        return None
    return fields


def _deployed_replica(topic: str, fields: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """(workload, index, version) of a replica a `deployed` entry reports where it was placed
    (a heal, deployed again elsewhere, carries `left`: timed apart)."""
    if topic != DEPLOYED or "left" in fields:
        return None
    workload, index, version = fields.get("workload"), fields.get("index"), fields.get("version")
    if isinstance(workload, str) and type(index) is int and type(version) is int:
        return workload, index, version
    return None


@dataclass(frozen=True)
class _Seen:
    """What the census keeps of one deployment."""

    version: int
    requested: int  # height its version was authorized
    states: Mapping[tuple[str, int], str]  # (workload, index) -> replica state


class ReplicaCensus:
    """The replicas of the deployments this node knows, by state."""

    def __init__(self) -> None:
        self._seen: dict[DeploymentRef, _Seen] = {}
        self._counts = dict.fromkeys(REPLICA_STATES, 0)  # kept as deployments are read

    def seed(self, reader: StateReader) -> None:
        """Read every deployment the nodes' loads and the placement queue name."""
        _, next_node = read_counters(reader)
        refs = {ref for _, ref in read_queue(reader)}
        for node in range(1, next_node):
            refs.update(r.deployment for r in read_node_load(reader, node).replicas)
        self._read(reader, refs)

    def observe(self, reader: StateReader, entries: Sequence[AuditEntry]) -> list[int]:
        """Read again the deployments a committed block's entries name (`reader` holds the
        state after it; pass rule_entries). Returns the authorization height of each replica
        deployed for the first time in its version: known before this block, and not deployed
        then. Entries of several blocks with the state after the last update the census, but
        what this returns then is not to be timed (a replica deployed in one of them and moved
        in a later one looks never deployed, one deployed in the first looks deployed before
        the second)."""
        named: dict[DeploymentRef, list[tuple[str, int, int]]] = {}
        for entry in entries:
            fields = deployment_fields(entry)
            if fields is None:
                continue
            ref = DeploymentRef(Address(entry.contract), fields["wid"])
            deployed = named.setdefault(ref, [])
            replica = _deployed_replica(entry.topic, fields)
            if replica is not None:
                deployed.append(replica)
        before = {ref: self._seen.get(ref) for ref in named}
        self._read(reader, named)
        authorized = []
        for ref, deployed in named.items():
            old, new = before[ref], self._seen.get(ref)
            for workload, index, version in deployed:
                if old is None or new is None or new.version != version:
                    continue
                if old.version == version and old.states.get((workload, index)) == DEPLOYED:
                    continue  # reported again (a new endpoint), not a first deployment
                authorized.append(new.requested)
        return authorized

    def counts(self) -> dict[str, int]:
        """Replicas by state, every state present."""
        return dict(self._counts)

    def _read(self, reader: StateReader, refs: Iterable[DeploymentRef]) -> None:
        for ref in refs:
            d = read_deployment(reader, ref)
            old = self._seen.pop(ref, None)
            if old is not None:
                self._count(old, -1)
            if d is not None and d.state not in (EXPIRED, ENDED):
                states = {(r.workload, r.index): r.state for r in d.replicas}
                self._seen[ref] = new = _Seen(d.version, d.requested, states)
                self._count(new, 1)

    def _count(self, seen: _Seen, sign: int) -> None:
        for state in seen.states.values():
            self._counts[state] += sign
