"""Signature checks on every core: ed25519 verification is the per-transaction cost floor.

Transactions cross to worker processes as their canonical bytes and come back as a list of
errors (None for a good signature), so the workers hold no state and can be restarted freely.

The workers must die with the node, however it dies: a worker that outlives a `kill -9` of its
node would keep whatever the node had open, its listening sockets included, and the restarted
node could not bind its ports. So they are started from a fork server (an exec'd process that
holds none of the node's sockets), and each watches the node's pid file descriptor and exits the
moment the node does; the fork server then exits too. (The kernel's parent-death signal would not
do: a worker's parent is the fork server, which lives as long as its workers do.)
"""

import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from chain.errors import RuleViolation
from chain.ledger.transactions import SignedTx, check_signatures, decode_tx

log = logging.getLogger("gridchain.verifier")
CHUNK = 256
POLL_SECONDS = 0.5


def _exit_with(node_pid: int) -> None:
    """Worker initializer: exit this worker as soon as process `node_pid` has ended."""
    try:
        pidfd = os.pidfd_open(node_pid)
    except ProcessLookupError:
        os._exit(0)
    except OSError:  # no pidfd here (an old kernel, a sandbox): look every half second
        threading.Thread(target=_poll_pid, args=(node_pid,), daemon=True).start()
        return

    def watch() -> None:
        select.select([pidfd], [], [])  # readable once the node has exited, even unreaped
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-node", daemon=True).start()


def _poll_pid(pid: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)


def _worker_pool(workers: int) -> ProcessPoolExecutor:
    """Workers that inherit none of the node's file descriptors and die with it."""
    context = multiprocessing.get_context("forkserver")
    # Workers need only this module: the fork server imports it once, not the node's __main__.
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
    )


def _verify_chunk(encoded: list[bytes]) -> "Verdicts":
    """In a worker: the transactions travel as bytes, so they are decoded here."""
    return [_verdict(data) for data in encoded]


def _verify_decoded(txs: Sequence[SignedTx]) -> "Verdicts":
    """In the caller: the transactions are decoded already (decoding again costs about as
    much as checking a signature)."""
    return [_verdict(tx) for tx in txs]


def _verdict(tx: SignedTx | bytes) -> "SignatureVerdict":
    try:
        check_signatures(decode_tx(tx) if isinstance(tx, bytes) else tx)
    except RuleViolation as exc:
        return (exc.code, exc.message)
    return None


SignatureVerdict = tuple[str, str] | None
Verdicts = list[SignatureVerdict]


@dataclass
class Pending:
    """Verification under way in the worker processes, in chunks of `size` transactions.

    `verdict(i)` waits only for the chunk that holds transaction i, so a caller that goes
    through a batch in order (block sync validating block after block) starts on the first
    blocks while the workers still check the rest. A chunk whose worker died (the OOM killer,
    say) is verified here instead, and the pool is replaced: a lost worker costs time, never a
    verdict.
    """

    chunks: list[list[bytes]] = field(default_factory=list)
    futures: list["Future[Verdicts]"] = field(default_factory=list)
    done: Verdicts | None = None
    on_broken: Callable[[], None] | None = None
    size: int = CHUNK
    _results: dict[int, Verdicts] = field(default_factory=dict)

    def _chunk(self, number: int) -> Verdicts:
        verdicts = self._results.get(number)
        if verdicts is None:
            try:
                verdicts = self.futures[number].result()
            except BrokenProcessPool:
                verdicts = _verify_chunk(self.chunks[number])
                if self.on_broken is not None:
                    self.on_broken()
            self._results[number] = verdicts
        return verdicts

    def verdict(self, index: int) -> SignatureVerdict:
        """The verdict of the `index`th transaction, waiting for its chunk alone."""
        if self.done is not None:
            return self.done[index]
        return self._chunk(index // self.size)[index % self.size]

    def result(self) -> Verdicts:
        if self.done is None:
            self.done = [v for number in range(len(self.futures)) for v in self._chunk(number)]
        return self.done


class SignatureVerifier:
    """Verifies batches across `workers` processes; 0 workers verifies in the caller."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool = _worker_pool(self.workers) if self.workers > 0 else None
        self._lock = threading.Lock()

    def start(self, txs: Sequence[SignedTx]) -> "Pending":
        """Begin verifying in the workers; the caller may do other work before `result()`."""
        pool = self._pool
        if pool is None or len(txs) < 2 * CHUNK:
            return Pending(done=_verify_decoded(txs))
        encoded = [tx.encoded for tx in txs]
        size = max(CHUNK, -(-len(encoded) // (self.workers * 4)))
        chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)]
        try:
            futures = [pool.submit(_verify_chunk, c) for c in chunks]
        except BrokenProcessPool:
            self._replace(pool)
            return Pending(done=_verify_chunk(encoded))
        return Pending(chunks, futures, on_broken=lambda: self._replace(pool), size=size)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A worker died: start a fresh pool (once, however many callers saw it break)."""
        with self._lock:
            if self._pool is not broken:
                return
            log.warning("a signature worker died; starting a new pool of %d", self.workers)
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = _worker_pool(self.workers)

    def verify(self, txs: Sequence[SignedTx]) -> Verdicts:
        """One result per transaction, in order: None, or the (code, message) of its error."""
        return self.start(txs).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
