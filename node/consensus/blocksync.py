"""Block sync (after cometbft's blocksync/): catching up with peers that are ahead.

It keeps the last status of every peer, which also answers how far ahead the peers are (for
`/v1/status` and for refusing transactions while catching up). A peer whose status shows it
ahead is asked for blocks with their commits; each commit is checked against the validator set
this node's state holds for that height before its block is validated and handed to consensus
to apply. It serves the same requests from its own store.

Block sync runs inside the consensus event loop (the reactor calls it for status, ticks and
block messages), so a synced block is never applied while consensus handles another input. It
reaches consensus through the `Deciding` protocol, not by importing the reactor.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from chain.blockchain import BlockResult
from chain.blocks.block import decode_block
from chain.blocks.commit import Commit, decode_commit, encode_commit
from chain.errors import RuleViolation
from chain.staking.validators import ValidatorSet
from node.consensus.gossip import Gossip
from node.consensus.relay import quorum_height
from node.p2p.manager import BadMessage
from node.p2p.messages import Blocks, GetBlocks, Status
from node.service import NodeService

SYNC_BATCH = 200
SYNC_BYTES = 8 * 1024 * 1024
SYNC_TIMEOUT = 5.0


class Deciding(Protocol):
    """The consensus core, as block sync needs it (the reactor)."""

    @property
    def height(self) -> int:
        """The height being decided."""
        ...

    @property
    def is_validator(self) -> bool: ...

    def stalled(self) -> bool:
        """Whether the height being decided has not moved for a while."""
        ...

    async def commit_synced(self, applied: Sequence[tuple[BlockResult, Commit]]) -> None:
        """Synced blocks were committed (their commits checked, the blocks validated)."""
        ...

    async def resume_after_sync(self, applied: int) -> None:
        """`applied` synced blocks were applied: go on deciding the height after them."""
        ...


class BlockSync:
    """Peer heights, the one request in flight, and serving and applying block batches."""

    def __init__(self, node: NodeService, gossip: Gossip, consensus: Deciding) -> None:
        self.node = node
        self.gossip = gossip
        self.consensus = consensus
        self.peer_status: dict[bytes, tuple[Status, float]] = {}
        self.syncing: tuple[bytes, float] | None = None  # the peer asked, and when

    # Peer heights

    async def on_status(self, peer: bytes, status: Status) -> None:
        self.peer_status[peer] = (status, time.monotonic())
        best = self.best_peer_height()  # the height that peer decides: it committed the one before
        head = self.node.head.height
        self.node.metrics.sync_target_height.set(head if best is None else max(head, best - 1))
        await self.maybe_sync()

    def best_peer_height(self) -> int | None:
        """The highest height a connected peer is deciding, by its last status."""
        connected = set(self.gossip.connected())
        heights = [s.height for key, (s, _) in self.peer_status.items() if key in connected]
        return max(heights, default=None)

    def quorum_peer_height(self, vset: ValidatorSet) -> int | None:
        """The height connected validators with more than 1/3 of the stake have reached."""
        connected = set(self.gossip.connected())
        reports = [
            (status.height, vset.power_of(key))
            for key, (status, _) in self.peer_status.items()
            if key in connected
        ]
        return quorum_height(reports, vset.total_power)

    # Asking

    async def maybe_sync(self) -> None:
        now = time.monotonic()
        if self.syncing is not None and now - self.syncing[1] < SYNC_TIMEOUT:
            return
        height = self.consensus.height
        connected = set(self.gossip.connected())
        ahead = sorted(
            (status.height, peer)
            for peer, (status, _) in self.peer_status.items()
            if peer in connected and status.height > height
        )
        if not ahead:
            self.syncing = None
            return
        best, peer = ahead[-1]
        if best - height < 2 and not self.consensus.stalled() and self.consensus.is_validator:
            # The peer just decided first; our own decision is likely on its way. (A follower
            # hears no votes, so it asks as soon as a peer is one block ahead.)
            return
        self.syncing = (peer, now)
        self.gossip.send(GetBlocks(self.node.head.height + 1, SYNC_BATCH), to=peer)

    # Serving

    async def serve_blocks(self, peer: bytes, request: GetBlocks) -> None:
        store = self.node.store

        def read() -> list[tuple[bytes, bytes]]:
            items: list[tuple[bytes, bytes]] = []
            size = 0
            for height in range(request.start, request.start + request.count):
                block_hash = store.block_hash_at(height)
                commit = store.commit_at(height)
                raw = store.block_bytes(block_hash) if block_hash else None
                if raw is None or commit is None:
                    break
                encoded = encode_commit(commit)
                size += len(raw) + len(encoded)
                if items and size > SYNC_BYTES:
                    break
                items.append((raw, encoded))
            return items

        items = await asyncio.to_thread(read)
        self.gossip.send(Blocks(tuple(items)), to=peer)

    # Applying

    async def apply_synced(self, peer: bytes, message: Blocks) -> None:
        if self.syncing is None or self.syncing[0] != peer:
            return
        items = []
        for raw_block, raw_commit in message.items:
            try:
                items.append((decode_block(raw_block), decode_commit(raw_commit)))
            except RuleViolation as exc:
                raise BadMessage(f"synced block: {exc.message}") from None
        outcome = await self.node.apply_synced(items)
        applied = outcome.applied
        self.syncing = None
        if applied:
            self.node.metrics.synced_blocks.inc(len(applied))
            await self.consensus.commit_synced(applied)
            await self.consensus.resume_after_sync(len(applied))
        failure = outcome.failure
        if failure is not None:
            height = self.node.head.height + 1
            if outcome.bad_commit:
                raise BadMessage(f"synced block {height}: {failure.message}")
            raise failure  # a block with a valid commit that fails here: logged, not the peer's
        if applied:
            await self.maybe_sync()
