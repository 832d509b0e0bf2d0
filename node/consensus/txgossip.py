"""Transaction gossip, as cometbft's mempool reactor: batches out, admission in.

Transactions this node admitted are batched every TX_FLUSH_SECONDS into Txs messages for the
peers that take part in consensus; batches from peers are admitted (signatures checked on every
core) without echoing them back. Both run as their own tasks with their own queue, apart from
the consensus event loop, so a flood of transactions never delays a vote.
"""

import asyncio
import logging
from collections.abc import Callable, Iterator

from chain.errors import LocalFault
from chain.ledger.transactions import SignedTx
from node.consensus.gossip import Gossip
from node.p2p.messages import MAX_TXS_PER_MESSAGE, Txs
from node.service import NodeService

log = logging.getLogger("gridchain.consensus")

TX_FLUSH_SECONDS = 0.02
TX_BATCH_BYTES = 4 * 1024 * 1024
WELCOME_TXS = 10_000  # pending transactions sent to a peer when it links,
WELCOME_BYTES = 8 * 1024 * 1024  # and at most this many bytes (a peer's queue holds 64 MiB)
MAX_TX_BATCHES_WAITING = 500  # beyond this, gossiped batches are dropped (origins keep them)


class TxGossip:
    """The outbox of admitted transactions and the inbox of gossiped batches."""

    def __init__(self, node: NodeService, gossip: Gossip, on_work: Callable[[], None]) -> None:
        self.node = node
        self.gossip = gossip
        self.on_work = on_work  # transactions reached the mempool: consensus may build
        self.outbox: list[bytes] = []
        self.inbox: asyncio.Queue[Txs] = asyncio.Queue()

    def queue(self, tx: SignedTx) -> None:
        """A transaction admitted through the API: gossip it with the next batch."""
        self.outbox.append(tx.encoded)
        self.on_work()

    def receive(self, message: Txs) -> None:
        """A batch from a peer, admitted by `admit_loop` (dropped if too many wait)."""
        if self.inbox.qsize() < MAX_TX_BATCHES_WAITING:
            self.inbox.put_nowait(message)

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(TX_FLUSH_SECONDS)
            for batch in batches(self.outbox):
                self.gossip.send(Txs(batch))
            self.outbox = []

    def welcome(self, peer: bytes) -> None:
        """A peer that just linked gets what the mempool holds (up to WELCOME_TXS): it may have
        been cut off when they were gossiped, or this node may have restored them from its
        journal after a restart, with nobody to tell then."""
        if not self.gossip.participates(peer):
            return
        pending, size = [], 0
        for tx in self.node.mempool.select(WELCOME_TXS):
            if size + len(tx.encoded) > WELCOME_BYTES:
                break
            pending.append(tx.encoded)
            size += len(tx.encoded)
        for batch in batches(pending):
            self.gossip.send(Txs(batch), to=peer)

    async def admit_loop(self) -> None:
        while True:
            message = await self.inbox.get()
            try:
                results = await self.node.submit_many(list(message.raw), relay=False)
            except LocalFault as exc:  # this machine's fault (the journal's disk): not the peer's
                log.error("gossiped transactions not admitted: %s", exc.message)
                continue
            if any(r.error is None for r in results):
                self.on_work()


def batches(raws: list[bytes]) -> Iterator[tuple[bytes, ...]]:
    """`raws` in Txs-sized batches (messages stay far below the peer message limit)."""
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        if batch and (size + len(raw) > TX_BATCH_BYTES or len(batch) >= MAX_TXS_PER_MESSAGE):
            yield tuple(batch)
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield tuple(batch)
