"""Prometheus metrics of one node, in a registry of its own (no process-global state)."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from chain.blocks.block import Block
from chain.deployment.healing import DOWN
from chain.deployment.records import FAILED
from chain.farming.rules import epoch_of, epoch_start
from chain.ledger.audit import AuditEntry
from chain.ledger.transactions import PAYLOAD_NAMES
from chain.params import BASIS_POINTS, ChainParams
from node.replica_census import deployment_fields

# The farming transactions that prove something: uptime, storage, compute.
FARMING_PROOFS = ("heartbeat", "storage_proofs", "compute_reveal")
# Why a replica leaves its node, as chain/deployment/healing.py records it; any other value is
# counted as "other" (each label value is a series kept for ever).
MOVE_CAUSES = (DOWN, FAILED)
OTHER_CAUSE = "other"


@dataclass
class NodeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.height = Gauge("gridchain_height", "Height of the last committed block", registry=r)
        self.txs_applied = Counter(
            "gridchain_txs_applied", "Transactions applied in committed blocks", registry=r
        )
        self.blocks = Counter("gridchain_blocks_committed", "Blocks committed", registry=r)
        self.mempool_txs = Gauge("gridchain_mempool_txs", "Pending transactions", registry=r)
        self.mempool_bytes = Gauge(
            "gridchain_mempool_bytes", "Pending transaction bytes", registry=r
        )
        self.rejected = Counter(
            "gridchain_txs_rejected", "Transactions refused at admission", ["reason"], registry=r
        )
        self.apply_seconds = Histogram(
            "gridchain_block_apply_seconds",
            "Time to build, apply and durably commit one block",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )

        self.round = Gauge(
            "gridchain_consensus_round", "Round of the height being decided", registry=r
        )
        self.peers = Gauge("gridchain_peers", "Connected peers", registry=r)
        self.votes_missed = Counter(
            "gridchain_votes_missed",
            "Committed blocks whose commit lacks this validator's precommit",
            registry=r,
        )
        self.finality_seconds = Histogram(
            "gridchain_finality_seconds",
            "From entering a height to committing its block",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30),
            registry=r,
        )
        self.synced_blocks = Counter(
            "gridchain_synced_blocks", "Blocks applied by block sync", registry=r
        )
        self.replicas_moved = Counter(
            "gridchain_replicas_moved",
            "Replicas that left their node, by cause: down (the node), failed (the replica) "
            "or other",
            ["cause"],
            registry=r,
        )
        self.replicas_given_up = Counter(
            "gridchain_replicas_given_up",
            "Replicas that failed replica_max_failures times and are no longer placed",
            registry=r,
        )
        self.heal_seconds = Histogram(
            "gridchain_heal_seconds",
            "From a replica's last height on the node it left to deployed on another",
            buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600),
            registry=r,
        )
        self.nodes_down = Gauge("gridchain_nodes_down", "Farm nodes marked down", registry=r)
        self.sync_target_height = Gauge(
            "gridchain_sync_target_height",
            "Height block sync catches up toward: the highest a connected peer has committed "
            "(this node's own height when no peer is ahead)",
            registry=r,
        )
        self.farming_proofs = Counter(
            "gridchain_farming_proofs",
            "Farming proofs committed, by kind: heartbeat (uptime), storage_proofs (space), "
            "compute_reveal (compute)",
            ["kind"],
            registry=r,
        )
        for kind in FARMING_PROOFS:
            self.farming_proofs.labels(kind)  # each kind's series from the start, at 0
        self.farming_epoch = Gauge(
            "gridchain_farming_epoch", "The last farming epoch settled (paid)", registry=r
        )
        self.farming_rewards_paid = Counter(
            "gridchain_farming_rewards_paid",
            "Credits paid to farms by epoch settlements",
            registry=r,
        )
        self.farming_epoch_rewards = Gauge(
            "gridchain_farming_epoch_rewards",
            "Credits paid for the last settled epoch",
            registry=r,
        )
        self.farming_node_uptime = Gauge(
            "gridchain_farming_node_uptime_ratio",
            "Share of the heartbeat slots a farm node sent one in, in the last settled epoch",
            ["farm", "node"],
            registry=r,
        )
        self.replicas = Gauge(
            "gridchain_replicas",
            "Replicas of the deployments this node knows, by state: assigned, deployed, "
            "moving, failed",
            ["state"],
            registry=r,
        )
        self.metrics_errors = Counter(
            "gridchain_metrics_errors",
            "Times the metrics of committed blocks (or the replica census at start) failed: "
            "logged, and the node goes on without them",
            registry=r,
        )
        self.deploy_seconds = Histogram(
            "gridchain_deploy_seconds",
            "From a workload version's authorization to a replica first reported deployed",
            buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600),
            registry=r,
        )

    def observe_deployments(
        self, entries: Sequence[AuditEntry], time_ms: int, time_ms_at: Callable[[int], int | None]
    ) -> None:
        """Moves, give-ups and heals in the audit entries a committed block's rules wrote
        (node.replica_census.rule_entries). A heal is timed from the block of the replica's
        last height on the node it left (`time_ms_at`)."""
        for entry in entries:
            fields = deployment_fields(entry)  # None: not a deployment record, or malformed
            if fields is None:
                continue
            if entry.topic == "moving" and isinstance(fields.get("cause"), str):
                cause = fields["cause"] if fields["cause"] in MOVE_CAUSES else OTHER_CAUSE
                self.replicas_moved.labels(cause).inc()
            elif entry.topic == "gave_up":
                self.replicas_given_up.inc()
            elif entry.topic == "deployed":
                left = fields.get("left")
                left_ms = time_ms_at(left) if isinstance(left, int) else None
                if left_ms is not None:
                    self.heal_seconds.observe(max(0, time_ms - left_ms) / 1000)

    def observe_deploys(self, time_ms: int, authorized_ms: Sequence[int | None]) -> None:
        """Replicas deployed for the first time in their version, in a block of time
        `time_ms`: each timed from the block that authorized its version (None: not held).
        Only blocks committed one at a time are timed (node/service.py)."""
        for start in authorized_ms:
            if start is not None:
                self.deploy_seconds.observe(max(0, time_ms - start) / 1000)

    def show_replicas(self, counts: Mapping[str, int]) -> None:
        for state, count in counts.items():
            self.replicas.labels(state).set(count)

    def observe_farming(self, block: Block, params: ChainParams) -> None:
        """A committed block's farming proofs (the rules checked each, or the block would
        not be committed) and, on an epoch's first block, the settlement of the epoch before:
        what it paid, and each paid node's uptime (the last epoch's only: a node that did
        nothing in it leaves the gauge)."""
        for tx in block.txs:
            kind = PAYLOAD_NAMES[type(tx.body.payload)]
            if kind in FARMING_PROOFS:
                self.farming_proofs.labels(kind).inc()
        height = block.header.height
        epoch = epoch_of(params, height)
        if epoch == 0 or epoch_start(params, epoch) != height:
            return
        paid = sum(r.amount for r in block.rewards)
        self.farming_epoch.set(epoch - 1)
        self.farming_rewards_paid.inc(paid)
        self.farming_epoch_rewards.set(paid)
        self.farming_node_uptime.clear()
        for r in block.rewards:
            self.farming_node_uptime.labels(str(r.farm), str(r.node)).set(
                r.uptime_bp / BASIS_POINTS
            )

    def watch_peer_counts(self, refused: Mapping[str, int], dropped: Mapping[str, int]) -> None:
        """Expose the peer manager's counts, by reason, read when scraped: handshakes and dials
        refused (bad signature, not allowed, timeout, unreachable...) and links dropped."""
        self.registry.register(
            _ReasonCounts(
                "gridchain_peer_handshakes_refused",
                "Peer handshakes and dials that failed",
                refused,
            )
        )
        self.registry.register(
            _ReasonCounts("gridchain_peer_links_dropped", "Peer links ended", dropped)
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _ReasonCounts(Collector):
    """A counter by reason kept elsewhere (a collections.Counter), read at each scrape."""

    def __init__(self, name: str, documentation: str, counts: Mapping[str, int]) -> None:
        self.name, self.documentation, self.counts = name, documentation, counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["reason"])
        for reason, count in sorted(self.counts.items()):
            family.add_metric([reason], count)
        yield family
