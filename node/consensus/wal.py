"""Write-ahead log of consensus inputs, replayed after a crash (after cometbft's
spec/consensus/wal.md).

A record on disk is

    crc (4 bytes, big-endian) | length (4 bytes, big-endian) | payload (length bytes)

where crc is zlib.crc32 over length and payload together, so a damaged length is caught as well
as a damaged payload. cometbft uses CRC-32C; the stdlib's CRC-32 needs no extra dependency and
detects a torn or garbled write just as well (both catch every burst error up to 32 bits and all
but about 2**-32 of the rest). Zeros left by a crash that extended the file do not pass either:
the CRC-32 of four zero length bytes is not zero. A record holds at most 64 MiB.

Appends go through a buffer, so logging many small inputs costs no system call each; only
`append(..., sync=True)` and `sync()` reach the disk (flush and fsync). The node syncs its own
signed messages before sending them, and an end-of-height record before applying a block.

Reading stops at the first record that is torn or corrupt: everything from there on is cut off
(the file is truncated to the end of the last good record and fsynced) with a warning saying how
many bytes were dropped. Records after a bad one are dropped too: the log is a sequence, and a
hole in it would replay inputs out of context.
"""

import logging
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from chain.errors import LocalFault
from node.config import fsync_directory, write_file_atomically

log = logging.getLogger(__name__)

HEADER = struct.Struct(">II")  # crc, length
MAX_RECORD = 64 * 1024 * 1024
BUFFER_SIZE = 64 * 1024


class WalError(LocalFault):
    code = "wal_error"


class WalRecordTooLarge(WalError):
    code = "wal_record_too_large"


def record_crc(length_bytes: bytes, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(length_bytes))


def frame(payload: bytes) -> bytes:
    """The bytes of one record holding `payload`."""
    if len(payload) > MAX_RECORD:
        raise WalRecordTooLarge(
            f"WAL record of {len(payload)} bytes exceeds the limit of {MAX_RECORD} bytes"
        )
    length_bytes = len(payload).to_bytes(4, "big")
    return record_crc(length_bytes, payload).to_bytes(4, "big") + length_bytes + payload


def parse(data: bytes) -> tuple[list[bytes], int]:
    """The good records at the start of `data`, and where the last of them ends."""
    view = memoryview(data)
    records: list[bytes] = []
    offset = 0
    while offset + HEADER.size <= len(view):
        crc, length = HEADER.unpack_from(view, offset)
        start = offset + HEADER.size
        if length > MAX_RECORD or start + length > len(view):
            break
        payload = view[start : start + length]
        if record_crc(view[offset + 4 : start].tobytes(), payload) != crc:
            break
        records.append(payload.tobytes())
        offset = start + length
    return records, offset


class WriteAheadLog:
    """One log file: `open` reads and repairs it, then records are appended until `reset`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def open(self) -> list[bytes]:
        """Every good record, oldest first; a torn or corrupt tail is cut off the file."""
        if self._file is not None:
            raise WalError(f"WAL {self.path} is already open")
        created = not self.path.exists()
        file = open(self.path, "ab", buffering=BUFFER_SIZE)  # noqa: SIM115 (kept open until close)
        try:
            if created:
                fsync_directory(self.path.parent)
            data = self.path.read_bytes()
            records, good_end = parse(data)
            if good_end < len(data):
                os.ftruncate(file.fileno(), good_end)
                os.fsync(file.fileno())
                log.warning(
                    "WAL %s: dropped %d bytes after record %d (torn or corrupt tail)",
                    self.path,
                    len(data) - good_end,
                    len(records),
                )
        except BaseException:
            file.close()
            raise
        self._file = file
        return records

    def append(self, payload: bytes, sync: bool = False) -> None:
        record = frame(payload)
        file = self._open_file()
        file.write(record)
        if sync:
            self._sync(file)

    def sync(self) -> None:
        """Make every appended record durable."""
        self._sync(self._open_file())

    def flush(self) -> None:
        """Hand every appended record to the operating system: it survives this process
        dying (kill -9), not the machine losing power (that takes `sync`)."""
        self._open_file().flush()

    def rewrite(self, payloads: Iterable[bytes]) -> None:
        """Replace the whole log with `payloads`, atomically: a crash leaves the old log or
        the new one, never part of each."""
        file = self._open_file()
        file.flush()
        write_file_atomically(self.path, b"".join(frame(p) for p in payloads), mode=0o600)
        file.close()
        self._file = open(self.path, "ab", buffering=BUFFER_SIZE)  # noqa: SIM115 (kept open)

    def reset(self) -> None:
        """Empty the log durably (the height it covers is committed)."""
        file = self._open_file()
        file.flush()
        os.ftruncate(file.fileno(), 0)
        os.fsync(file.fileno())

    def close(self) -> None:
        """Sync and close; closing a closed log does nothing."""
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            self._sync(file)
        finally:
            file.close()

    def _open_file(self) -> BinaryIO:
        if self._file is None:
            raise WalError(f"WAL {self.path} is not open")
        return self._file

    @staticmethod
    def _sync(file: BinaryIO) -> None:
        file.flush()
        os.fsync(file.fileno())
