"""The farmer's agent: given what the chain shows, the transactions a node should send next.

It decides from the chain's own records (the node's activity this epoch) plus what it already
sent, so `gridchain farmer run` can be restarted at any time and tests can drive it straight
from a store. Transport (the HTTP API, signing, nonces) is the caller's business.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

from chain.farming.compute import challenge_height, required_units, sample_indices
from chain.farming.records import COMMITTED, NONE, Activity, EpochInfo, FarmNode
from chain.farming.rules import slot_of
from chain.farming.txs import (
    MAX_PROOFS_PER_TX,
    ComputeCommit,
    ComputeReveal,
    FarmPayload,
    Heartbeat,
    SpaceProof,
    StorageProofs,
)
from chain.params import ChainParams
from node.farmer.plots import Plot, find_proofs
from node.farmer.work import ComputeAnswer, compute_answer

PROOFS_PER_TX = MAX_PROOFS_PER_TX // 2  # keeps a transaction well under MAX_TX_SIZE at k = 32


def proof_batches(proofs: list[SpaceProof]) -> list[tuple[SpaceProof, ...]]:
    """Transactions of at most PROOFS_PER_TX proofs that never split the proofs of one plot's
    challenge: the chain takes all of a challenge's proofs in one transaction, and refuses a
    later one for a challenge already answered."""
    batches: list[tuple[SpaceProof, ...]] = []
    batch: list[SpaceProof] = []
    for _, group in groupby(proofs, key=lambda p: (p.plot_seed, p.challenge)):
        same = list(group)
        if batch and len(batch) + len(same) > PROOFS_PER_TX:
            batches.append(tuple(batch))
            batch = []
        batch.extend(same)
    if batch:
        batches.append(tuple(batch))
    return batches


@dataclass(frozen=True)
class ChainView:
    """What the agent needs to know of the chain at its head."""

    height: int
    head_hash: bytes
    epoch: EpochInfo
    activity: Activity
    block_hash: Callable[[int], bytes | None]  # hashes of recent blocks


@dataclass
class FarmerAgent:
    params: ChainParams
    node: FarmNode
    plots: list[Plot]
    workers: int = 1
    sent_slot: int = -1
    proofs_epoch: int = -1
    answer: ComputeAnswer | None = None
    committed_epoch: int = -1
    revealed_epoch: int = -1
    log: list[str] = field(default_factory=list)

    def next_payloads(self, view: ChainView) -> list[FarmPayload]:
        """Heartbeat, storage proofs, compute commitment and opening, as each falls due."""
        out: list[FarmPayload] = []
        out += self.heartbeat(view)
        out += self.storage_proofs(view)
        out += self.compute(view)
        return out

    def heartbeat(self, view: ChainView) -> list[FarmPayload]:
        slot = slot_of(self.params, view.height + 1)
        if slot <= max(self.sent_slot, view.activity.last_slot):
            return []
        self.sent_slot = slot
        return [Heartbeat(self.node.id, view.height, view.head_hash)]

    def storage_proofs(self, view: ChainView) -> list[FarmPayload]:
        epoch = view.epoch.epoch
        if not self.plots or self.proofs_epoch == epoch or view.activity.proofs:
            return []
        self.proofs_epoch = epoch
        proofs = list(find_proofs(self.plots, view.epoch.seed, self.params.storage_challenges))
        self.log.append(f"epoch {epoch}: {len(proofs)} proofs from {len(self.plots)} plots")
        return [StorageProofs(self.node.id, epoch, batch) for batch in proof_batches(proofs)]

    def answer_for(self, view: ChainView) -> ComputeAnswer | None:
        """The committed answer: kept since the commit, or (after a restart) computed again
        from the chain, which holds everything it depends on; None if it is not ours."""
        epoch, activity = view.epoch, view.activity
        answer = self.answer
        if answer is None or answer.epoch != epoch.epoch:
            asked = challenge_height(self.params, epoch.start, epoch.seed, self.node.id)
            seed = view.block_hash(asked)
            if seed is None:
                return None
            answer = compute_answer(
                self.params, seed, self.node.id, epoch.epoch, activity.count, self.workers
            )
            self.log.append(f"epoch {epoch.epoch}: recomputed the committed compute answer")
            self.answer = answer
        return answer if answer.root == activity.root else None

    def compute(self, view: ChainView) -> list[FarmPayload]:
        epoch = view.epoch
        activity = view.activity
        if activity.compute == NONE and self.committed_epoch != epoch.epoch:
            asked = challenge_height(self.params, epoch.start, epoch.seed, self.node.id)
            seed = view.block_hash(asked) if view.height >= asked else None
            if seed is None or view.height + 1 > asked + self.params.compute_deadline_blocks:
                return []
            count = required_units(self.params, self.node.resources.cores)
            self.answer = compute_answer(
                self.params, seed, self.node.id, epoch.epoch, count, self.workers
            )
            self.committed_epoch = epoch.epoch
            self.log.append(f"epoch {epoch.epoch}: {count} compute units for block {asked}")
            return [ComputeCommit(self.node.id, epoch.epoch, count, self.answer.root)]
        if (
            activity.compute == COMMITTED
            and self.revealed_epoch != epoch.epoch
            and view.block_hash(activity.commit_height) is not None
        ):
            answer = self.answer_for(view)
            sample_seed = view.block_hash(activity.commit_height)
            if answer is None or sample_seed is None:
                return []
            indices = sample_indices(
                sample_seed, self.node.id, activity.count, self.params.compute_samples
            )
            self.revealed_epoch = epoch.epoch
            return [ComputeReveal(self.node.id, epoch.epoch, answer.openings(indices))]
        return []
