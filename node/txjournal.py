"""The mempool's journal: every transaction this node admitted, and every verdict it gave on
one it had admitted, kept across a crash.

The API answers "accepted" only after the transaction is in the journal, written to the
operating system (not fsynced: a kill -9 of the node loses nothing, a power cut of the machine
may lose the last moments). A node that starts again reads the journal (restore_mempool in
service.py): a transaction whose last record is a verdict stays rejected with that reason;
the others are admitted anew: those committed meanwhile are dropped, those no longer valid are
rejected with the reason, the rest are pending again and go to the peers as they link. So a
transaction the API accepted ends committed or rejected with a reason (GET /v1/txs/{id}),
whatever happens to the node in between; the chaos harness (devnet/chaos/) holds it to that.

Records are the WAL's (node/consensus/wal.py: length, CRC, payload; a torn tail is cut off),
each `T` + a transaction's bytes or `R` + canonical CBOR [id, code, message]. The journal is
rewritten (atomically) at start and whenever it has grown well past what it must keep: the
pending transactions and the latest verdicts.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from chain.encoding import decode, encode, expect_bytes, expect_list, expect_text
from chain.errors import LocalFault, RuleViolation
from node.consensus.wal import WriteAheadLog

log = logging.getLogger(__name__)

T = TypeVar("T")
COMPACT_MIN = 20_000  # records appended before a rewrite is considered


class JournalError(LocalFault):
    code = "journal_error"


TX, VERDICT = b"T", b"R"


@dataclass(frozen=True)
class Verdict:
    tx_id: bytes
    code: str
    message: str


Record = bytes | Verdict  # a transaction's bytes, or a verdict on one


class TxJournal:
    """The journal; after a write that failed (a full disk), `broken` says why until a whole
    rewrite succeeds, and the node accepts no transaction meanwhile (`check`)."""

    def __init__(self, path: Path) -> None:
        self.wal = WriteAheadLog(path)
        self.appended = 0
        self.broken: str | None = None

    def check(self) -> None:
        """JournalError while the journal cannot be written: nothing can be accepted."""
        if self.broken is not None:
            raise JournalError(
                f"the mempool journal cannot be written ({self.broken}): this node accepts "
                "no transaction until it can"
            )

    def open(self) -> list[Record]:
        """The journal's records, oldest first (an unreadable one is skipped, and said)."""
        records: list[Record] = []
        for raw in self._io("read", self.wal.open):
            record = _decode(raw)
            if record is None:
                log.warning("mempool journal: skipping an unreadable record")
            else:
                records.append(record)
        return records

    def add(self, encoded: bytes) -> None:
        self._append(TX + encoded)

    def reject(self, verdict: Verdict) -> None:
        self._append(VERDICT + _verdict_bytes(verdict))

    def flush(self) -> None:
        """Every record in the operating system's hands (it survives kill -9)."""
        self._io("write", self.wal.flush)

    def due(self, kept: int) -> bool:
        return self.appended > max(COMPACT_MIN, 2 * kept)

    def rewrite(self, pending: Iterable[bytes], verdicts: Iterable[Verdict]) -> None:
        """The journal replaced, atomically, by `verdicts` then `pending` (the mempool's
        transactions, each sender's in nonce order)."""
        records = [*(VERDICT + _verdict_bytes(v) for v in verdicts), *(TX + tx for tx in pending)]
        self._io("rewrite", lambda: self.wal.rewrite(records))
        self.appended = len(records)
        self.broken = None

    def close(self) -> None:
        self._io("close", self.wal.close)

    def _append(self, record: bytes) -> None:
        self._io("write", lambda: self.wal.append(record))
        self.appended += 1

    def _io(self, what: str, act: Callable[[], T]) -> T:
        try:
            return act()
        except OSError as exc:
            self.broken = str(exc.strerror or exc)
            raise JournalError(
                f"cannot {what} the mempool journal {self.wal.path}: {self.broken}"
            ) from exc


MAX_CODE, MAX_MESSAGE = 64, 1024


def _verdict_bytes(v: Verdict) -> bytes:
    """Within what the reader takes back (a longer message is cut, not lost)."""
    return encode([v.tx_id, v.code[:MAX_CODE], v.message[:MAX_MESSAGE]])


def _decode(raw: bytes) -> Record | None:
    kind, body = raw[:1], raw[1:]
    if kind == TX:
        return body
    if kind != VERDICT:
        return None
    try:
        items = expect_list(decode(body), "verdict", 3)
        return Verdict(
            expect_bytes(items[0], "verdict id", size=32),
            expect_text(items[1], "verdict code", 4 * MAX_CODE),
            expect_text(items[2], "verdict message", 4 * MAX_MESSAGE),
        )
    except (RuleViolation, IndexError):
        return None
