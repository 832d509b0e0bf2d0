"""A farmer's answers to compute challenges: all the work units, their Merkle root, and the
openings for the indices the chain samples afterwards."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chain import merkle
from chain.farming.compute import result_leaf, work_unit
from chain.farming.txs import Opening
from chain.params import ChainParams


@dataclass(frozen=True)
class ComputeAnswer:
    node: int
    epoch: int
    seed: bytes
    results: tuple[bytes, ...]

    @property
    def leaves(self) -> list[bytes]:
        return [result_leaf(i, r) for i, r in enumerate(self.results)]

    @property
    def root(self) -> bytes:
        return merkle.root(self.leaves)

    def openings(self, indices: tuple[int, ...]) -> tuple[Opening, ...]:
        leaves = self.leaves
        return tuple(
            Opening(i, self.results[i], tuple(merkle.inclusion_proof(leaves, i))) for i in indices
        )


def compute_answer(
    params: ChainParams, seed: bytes, node: int, epoch: int, count: int, workers: int
) -> ComputeAnswer:
    """Compute `count` units on `workers` threads (hashlib.scrypt releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = tuple(pool.map(lambda i: work_unit(params, seed, node, i), range(count)))
    return ComputeAnswer(node, epoch, seed, results)
