"""Prometheus metrics of one node, in a registry of its own (no process-global state)."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
