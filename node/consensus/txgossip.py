"""Transaction gossip, as cometbft's mempool reactor: batches out, admission in.

Transactions this node admitted are batched every TX_FLUSH_SECONDS into Txs messages for the
peers that take part in consensus; batches from peers are admitted (signatures checked on every
core) without echoing them back. Both run as their own tasks with their own queue, apart from
the consensus event loop, so a flood of transactions never delays a vote.
"""

import asyncio
from collections.abc import Callable

from chain.ledger.transactions import SignedTx
from node.consensus.gossip import Gossip
from node.p2p.messages import MAX_TXS_PER_MESSAGE, Txs
from node.service import NodeService

TX_FLUSH_SECONDS = 0.02
TX_BATCH_BYTES = 4 * 1024 * 1024
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
            batch: list[bytes] = []
            size = 0
            for raw in self.outbox:  # messages stay far below the peer message limit
                if batch and (
                    size + len(raw) > TX_BATCH_BYTES or len(batch) >= MAX_TXS_PER_MESSAGE
                ):
                    self.gossip.send(Txs(tuple(batch)))
                    batch, size = [], 0
                batch.append(raw)
                size += len(raw)
            if batch:
                self.gossip.send(Txs(tuple(batch)))
            self.outbox = []

    async def admit_loop(self) -> None:
        while True:
            message = await self.inbox.get()
            results = await self.node.submit_many(list(message.raw), relay=False)  # peers have them
            if any(r.error is None for r in results):
                self.on_work()
