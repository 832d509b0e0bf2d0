"""The mempool's journal: every transaction this node admitted, kept across a crash until a
block commits it.

The API answers "accepted" only after the transaction is in the journal, written to the
operating system (not fsynced: a kill -9 of the node loses nothing, a power cut of the machine
may lose the last moments). A node that starts again admits the journal's transactions anew:
those committed meanwhile are dropped, those no longer valid are remembered as rejected with
the reason (GET /v1/txs/{id} says it), the rest are pending again and go to the peers. So a
transaction the API accepted ends committed or rejected with a reason, whatever happens to the
node in between; the chaos harness (devnet/chaos/) holds it to that.

The records are the WAL's (node/consensus/wal.py: length, CRC, payload; a torn tail is cut
off). The journal is rewritten with the mempool's contents when it has grown well past them.
"""

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from chain.errors import LocalFault
from node.consensus.wal import WriteAheadLog

log = logging.getLogger(__name__)

T = TypeVar("T")
COMPACT_MIN = 20_000  # records appended before a rewrite is considered


class JournalError(LocalFault):
    code = "journal_error"


class TxJournal:
    def __init__(self, path: Path) -> None:
        self.wal = WriteAheadLog(path)
        self.appended = 0

    def open(self) -> list[bytes]:
        """The encoded transactions of the journal, oldest first."""
        return self._io("read", self.wal.open)

    def add(self, encoded: bytes) -> None:
        self._io("write", lambda: self.wal.append(encoded))
        self.appended += 1

    def flush(self) -> None:
        """Every added transaction in the operating system's hands (it survives kill -9)."""
        self._io("write", self.wal.flush)

    def due(self, pending: int) -> bool:
        return self.appended > max(COMPACT_MIN, 2 * pending)

    def rewrite(self, pending: Iterable[bytes]) -> None:
        """The journal replaced by `pending` (the mempool's transactions, each sender's in nonce
        order), atomically."""
        records = list(pending)
        self._io("rewrite", lambda: self.wal.rewrite(records))
        self.appended = len(records)

    def close(self) -> None:
        self._io("close", self.wal.close)

    def _io(self, what: str, act: Callable[[], T]) -> T:
        try:
            return act()
        except OSError as exc:
            raise JournalError(
                f"cannot {what} the mempool journal {self.wal.path}: {exc.strerror or exc}"
            ) from exc
