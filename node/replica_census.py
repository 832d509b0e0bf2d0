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
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.address import Address
from chain.deployment.records import (
    DEPLOYED,
    ENDED,
    EXPIRED,
    REPLICA_STATES,
    DeploymentRef,
    read_deployment,
    read_node_load,
    read_queue,
)
from chain.encoding import decode
from chain.errors import EncodingError
from chain.farming.records import read_counters
from chain.ledger.audit import AuditEntry
from chain.state import StateReader


def deployment_fields(entry: AuditEntry) -> dict[str, Any] | None:
    """The fields of an entry the deployment rules wrote (a canonical map with the workload
    id); None for anything else. Contracts emit events with topics and bytes of their own, so
    an entry is never trusted to decode."""
    try:
        fields = decode(entry.data)
    except EncodingError:
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("wid"), int):
        return None
    return fields


def _deployed_replica(topic: str, fields: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """(workload, index, version) of a replica a `deployed` entry reports where it was placed
    (a heal, deployed again elsewhere, carries `left`: timed apart)."""
    if topic != DEPLOYED or "left" in fields:
        return None
    workload, index, version = fields.get("workload"), fields.get("index"), fields.get("version")
    if isinstance(workload, str) and isinstance(index, int) and isinstance(version, int):
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

    def seed(self, reader: StateReader) -> None:
        """Read every deployment the nodes' loads and the placement queue name."""
        _, next_node = read_counters(reader)
        refs = {ref for _, ref in read_queue(reader)}
        for node in range(1, next_node):
            refs.update(r.deployment for r in read_node_load(reader, node).replicas)
        self._read(reader, refs)

    def observe(self, reader: StateReader, entries: Sequence[AuditEntry]) -> list[int]:
        """Read again the deployments a committed block's entries name (`reader` holds the
        state after it). Returns the authorization height of each replica deployed for the
        first time in its version: known before this block, and not deployed then."""
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
        counts = dict.fromkeys(REPLICA_STATES, 0)
        for seen in self._seen.values():
            for state in seen.states.values():
                counts[state] += 1
        return counts

    def _read(self, reader: StateReader, refs: Iterable[DeploymentRef]) -> None:
        for ref in refs:
            d = read_deployment(reader, ref)
            if d is None or d.state in (EXPIRED, ENDED):
                self._seen.pop(ref, None)
            else:
                states = {(r.workload, r.index): r.state for r in d.replicas}
                self._seen[ref] = _Seen(d.version, d.requested, states)
