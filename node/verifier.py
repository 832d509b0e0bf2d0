"""Signature checks on every core: ed25519 verification is the per-transaction cost floor.

Transactions cross to worker processes as their canonical bytes and come back as a list of
errors (None for a good signature), so the workers hold no state and can be restarted freely.
"""

import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from chain.errors import ChainError
from chain.transactions import SignedTx, check_signatures, decode_tx

CHUNK = 256


def _verify_chunk(encoded: list[bytes]) -> "Verdicts":
    results: Verdicts = []
    for data in encoded:
        try:
            check_signatures(decode_tx(data))
        except ChainError as exc:
            results.append((exc.code, exc.message))
        else:
            results.append(None)
    return results


Verdicts = list[tuple[str, str] | None]


@dataclass
class Pending:
    """Verification under way in the worker processes."""

    futures: list["Future[Verdicts]"] = field(default_factory=list)
    done: Verdicts | None = None

    def result(self) -> Verdicts:
        if self.done is None:
            self.done = [v for future in self.futures for v in future.result()]
        return self.done


class SignatureVerifier:
    """Verifies batches across `workers` processes; 0 workers verifies in the caller."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool = ProcessPoolExecutor(self.workers) if self.workers > 0 else None

    def start(self, txs: Sequence[SignedTx]) -> "Pending":
        """Begin verifying in the workers; the caller may do other work before `result()`."""
        encoded = [tx.encoded for tx in txs]
        if self._pool is None or len(encoded) < 2 * CHUNK:
            return Pending(done=_verify_chunk(encoded))
        size = max(CHUNK, -(-len(encoded) // (self.workers * 4)))
        chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)]
        return Pending(futures=[self._pool.submit(_verify_chunk, c) for c in chunks])

    def verify(self, txs: Sequence[SignedTx]) -> Verdicts:
        """One result per transaction, in order: None, or the (code, message) of its error."""
        return self.start(txs).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
