"""Making snapshots: the state every `interval` blocks, cut into chunks, in a thread of its own.

The state of a height exists only until the next block is committed (the store keeps current
records), so the maker takes a LevelDB snapshot right after the block is committed, before the
next one can be, and reads it in the background: consensus never waits for a snapshot. One is
made at a time; a height that comes while the last is still being written is skipped.
"""

import logging
import threading
import time

import plyvel

from chain.blocks.header import Header
from chain.errors import GridchainError, StoreError
from chain.smt import join
from chain.snapshot.chunks import chunk_subtree, cut_into_chunks, encode_chunk
from chain.snapshot.manifest import Manifest, chunk_bits, encode_manifest
from chain.store import ChainReads, ChainStore, Snapshot
from node.statesync.snapshots import SnapshotDir

log = logging.getLogger("gridchain.snapshots")


class Stopped(Exception):
    """The node is closing: the snapshot being made is abandoned."""


def make_snapshot(
    reads: ChainReads, header: Header, directory: SnapshotDir, keep: int, stop: threading.Event
) -> Manifest:
    """Write the snapshot of the state `reads` holds, which must be `header`'s."""
    bits = chunk_bits(reads.state_count())
    writer = directory.writer(header.height, keep)
    try:
        parts = []
        for index, records in enumerate(cut_into_chunks(reads.state_items(), bits)):
            if stop.is_set():
                raise Stopped
            parts.append(chunk_subtree(index, bits, records))
            writer.add_chunk(index, encode_chunk(records))
        root, _ = join(parts)
        if root != header.state_root:
            raise StoreError(
                f"the stored state does not make block {header.height}'s state root: "
                "no snapshot made"
            )
        manifest = Manifest(header.height, header.state_root, bits, tuple(parts))
        writer.finish(encode_manifest(manifest))
    except BaseException:
        writer.abandon()
        raise
    return manifest


class SnapshotMaker:
    def __init__(self, directory: SnapshotDir, interval: int, keep: int) -> None:
        self.directory = directory
        self.interval = interval
        self.keep = keep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        directory.clear_unfinished()

    def due(self, height: int) -> bool:
        """Whether the state of `height` is to be kept (block sync writes it on its own)."""
        return height % self.interval == 0

    def block_committed(self, store: ChainStore, header: Header) -> None:
        """Called right after `header`'s block is committed, before the next can be."""
        if not self.due(header.height):
            return
        if self._thread is not None and self._thread.is_alive():
            log.warning(
                "snapshot of height %d skipped: the last is still being made", header.height
            )
            return
        view = store.snapshot()
        self._thread = threading.Thread(
            target=self._make, args=(view, header), name="snapshot", daemon=True
        )
        self._thread.start()

    def _make(self, view: Snapshot, header: Header) -> None:
        started = time.monotonic()
        try:
            manifest = make_snapshot(view, header, self.directory, self.keep, self._stop)
        except Stopped:
            return
        except (GridchainError, OSError, plyvel.Error) as exc:
            log.error("snapshot of height %d failed: %s", header.height, exc)
            return
        finally:
            view.close()
        log.info(
            "snapshot of height %d: %d records in %d chunks, %.1f s",
            header.height,
            manifest.records,
            len(manifest.chunks),
            time.monotonic() - started,
        )

    def wait(self) -> None:
        """Until the snapshot being made, if any, is written."""
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Stop a snapshot being made (before the store closes under it)."""
        self._stop.set()
        self.wait()
