"""Signature checks on every core: ed25519 verification is the per-transaction cost floor.

Transactions cross to worker processes as their canonical bytes and come back as a list of
errors (None for a good signature), so the workers hold no state and can be restarted freely.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from chain.errors import ChainError
from chain.transactions import SignedTx, check_signatures, decode_tx

CHUNK = 256


def _verify_chunk(encoded: list[bytes]) -> list[tuple[str, str] | None]:
    results: list[tuple[str, str] | None] = []
    for data in encoded:
        try:
            check_signatures(decode_tx(data))
        except ChainError as exc:
            results.append((exc.code, exc.message))
        else:
            results.append(None)
    return results


class SignatureVerifier:
    """Verifies batches across `workers` processes; 0 workers verifies in the caller."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool = ProcessPoolExecutor(self.workers) if self.workers > 0 else None

    def verify(self, txs: Sequence[SignedTx]) -> list[tuple[str, str] | None]:
        """One result per transaction, in order."""
        encoded = [tx.encoded for tx in txs]
        if self._pool is None or len(encoded) < 2 * CHUNK:
            return _verify_chunk(encoded)
        size = max(CHUNK, -(-len(encoded) // (self.workers * 4)))
        chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)]
        results: list[tuple[str, str] | None] = []
        for part in self._pool.map(_verify_chunk, chunks):
            results.extend(part)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
