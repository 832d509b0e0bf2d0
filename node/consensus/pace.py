"""The pace of an idle chain: how long a proposer waits for work, and the others with it.

A proposer with nothing to put in a block (no transaction in its mempool, no pending evidence,
no step the chain scheduled for the block: a deployment to place, a grace period that ends)
waits up to empty_block_interval_ms after the last block before it proposes an empty one, and
the others stretch their round-0 propose timeout by as much, so an idle chain makes an empty
block every few seconds instead of spinning (docs/consensus.md, "One height", Pace). It is
apart from the reactor because it is policy, not protocol: it decides when, never what.
"""

import time

from chain.deployment.records import read_queue
from consensus.tendermint import Step, Timeout
from node.consensus.events import HeightState
from node.consensus.evidence import EvidencePool
from node.consensus.gossip import Gossip
from node.service import NodeService


class Pace:
    """When the last block came, and how long to wait for work from there."""

    def __init__(self, node: NodeService, evidence: EvidencePool, gossip: Gossip) -> None:
        self.node = node
        self.evidence = evidence
        self.gossip = gossip
        self.me = node.key.public_key
        self.last_block_at = time.monotonic()
        self.due_at: tuple[int, bool] = (-1, False)  # (height, whether a step is due at it)

    def block_applied(self) -> None:
        """A block was committed or synced: idle waits run from now."""
        self.last_block_at = time.monotonic()

    def has_work(self) -> bool:
        """Whether a block built now would hold something: transactions, evidence, or a step
        the chain scheduled for it."""
        return len(self.node.mempool) > 0 or len(self.evidence) > 0 or self.step_due()

    def step_due(self) -> bool:
        """Whether the next block has a deployment to look at (chain/deployment/journal.py's
        queue: one authorized in the last block waits for its placement there, a paused one
        for the end of its grace). Without it an authorized workload waited up to
        empty_block_interval_ms for its placement. Read once per height from committed state,
        which every validator shares, so they agree on it."""
        height = self.node.head.height + 1
        if self.due_at[0] != height:
            queue = read_queue(self.node.store)  # sorted by due height
            self.due_at = (height, bool(queue) and queue[0][0] <= height)
        return self.due_at[1]

    def idle_build_delay(self) -> float:
        """How much longer a proposer with no work waits before it builds an empty block."""
        idle = self.node.params.empty_block_interval_ms / 1000
        return max(0.0, idle - (time.monotonic() - self.last_block_at))

    def idle_proposer_wait(self, hs: HeightState, timeout: Timeout) -> float:
        """How much longer a fired round-0 propose timeout waits for an idle proposer (0: none).

        An idle proposer waits for work up to empty_block_interval_ms before proposing an
        empty block, so the others wait with it. Decided each time the timer fires, from what
        holds then: once transactions are here (the proposer has them too, by gossip) it gets
        the ordinary timeout from when they came, and a proposer we have no link to (dead,
        paused, cut off) gets no extra wait at all.
        """
        if timeout.step != Step.PROPOSE or timeout.round != 0 or hs.machine.step != Step.PROPOSE:
            return 0.0
        now = time.monotonic()
        if self.has_work():
            if hs.work_since is None:  # work we were not told of (evidence, say): from now
                hs.work_since = now
            return max(0.0, hs.work_since + timeout.duration_ms / 1000 - now)
        proposer = hs.proposer(0)
        if proposer != self.me and proposer not in self.gossip.connected():
            return 0.0
        idle_ms = timeout.duration_ms + self.node.params.empty_block_interval_ms
        return max(0.0, hs.started + idle_ms / 1000 - now)
