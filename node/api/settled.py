"""The reward lines settling blocks carried (an epoch's first block pays the epoch before it),
read from each block's bytes without its transactions and kept by the block's hash.

A block never changes, so the lines are read once, not once a request: every farm and node
list of an epoch reads the same settling block, and the explorer's pages ask for the last 20
epochs' at every view. Reads happen in the API's worker threads, so the cache takes a lock.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

from chain.blocks.block import stored_block_rewards
from chain.errors import present
from chain.farming.rewards import NodeReward
from chain.store import ChainReads

KEPT_BLOCKS = 32  # settling blocks kept: the explorer shows the last 20 epochs


@dataclass(frozen=True)
class Settled:
    """One settling block's reward lines, as it carried them and by node and by farm."""

    lines: tuple[NodeReward, ...]
    by_node: dict[int, NodeReward]
    by_farm: dict[int, tuple[NodeReward, ...]]


def settled_from(lines: tuple[NodeReward, ...]) -> Settled:
    by_farm: dict[int, list[NodeReward]] = {}
    for line in lines:
        by_farm.setdefault(line.farm, []).append(line)
    return Settled(
        lines,
        {line.node: line for line in lines},
        {farm: tuple(farm_lines) for farm, farm_lines in by_farm.items()},
    )


class SettledLines:
    """The lines of the settling blocks read last, by block hash (least recently used out)."""

    def __init__(self, kept: int = KEPT_BLOCKS) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._blocks: OrderedDict[bytes, Settled] = OrderedDict()
        self.reads = 0  # blocks read from the store, not found here

    def at(self, reader: ChainReads, height: int, what: str) -> Settled | None:
        """The lines the block at `height` carried; None if this node does not hold it (it
        began from a snapshot after it). `what` names the block in a missing block's error."""
        if height < reader.base_height():
            return None
        block_hash = present(reader.block_hash_at(height), f"block {height}, {what}")
        with self._lock:
            found = self._blocks.get(block_hash)
            if found is not None:
                self._blocks.move_to_end(block_hash)
                return found
        raw = present(reader.block_bytes(block_hash), f"block {height}, {what}")
        settled = settled_from(stored_block_rewards(raw))
        with self._lock:
            self.reads += 1
            self._blocks[block_hash] = settled
            while len(self._blocks) > self._kept:
                self._blocks.popitem(last=False)
        return settled
