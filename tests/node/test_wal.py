"""The write-ahead log: framing, recovery from torn and corrupt records, and a real SIGKILL."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from node.consensus.wal import HEADER, MAX_RECORD, WalError, WalRecordTooLarge, WriteAheadLog, frame

ROOT = Path(__file__).resolve().parents[2]
RECORDS = [
    b"first",
    b"",
    b"third record " * 5,
    bytes(range(256)),
    b"the last record, cut at every offset",
]


def write_log(path: Path, records: list[bytes]) -> None:
    wal = WriteAheadLog(path)
    assert wal.open() == []
    for record in records:
        wal.append(record)
    wal.close()


def reopen(path: Path) -> tuple[WriteAheadLog, list[bytes]]:
    wal = WriteAheadLog(path)
    return wal, wal.open()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    write_log(path, RECORDS)
    assert path.stat().st_size == sum(HEADER.size + len(r) for r in RECORDS)
    wal, records = reopen(path)
    assert records == RECORDS
    wal.append(b"more", sync=True)
    wal.close()
    assert reopen(path)[1] == [*RECORDS, b"more"]


def test_appends_are_buffered_until_synced(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = reopen(path)
    wal.append(b"small")
    assert path.stat().st_size == 0  # still in the buffer: no system call per record
    wal.sync()
    assert path.stat().st_size == HEADER.size + 5
    wal.append(b"synced", sync=True)
    assert path.stat().st_size == 2 * HEADER.size + 11
    wal.close()


def test_torn_tail_at_every_offset_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wal"
    write_log(path, RECORDS)
    full = path.read_bytes()
    last_start = len(full) - len(frame(RECORDS[-1]))
    for cut in range(last_start, len(full)):
        path.write_bytes(full[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="node.consensus.wal"):
            wal, records = reopen(path)
        assert records == RECORDS[:-1], f"cut at {cut}"
        assert path.stat().st_size == last_start
        dropped = cut - last_start
        if dropped:
            assert f"dropped {dropped} bytes" in caplog.text
        else:
            assert caplog.text == ""
        wal.append(b"after recovery", sync=True)
        wal.close()
        assert reopen(path)[1] == [*RECORDS[:-1], b"after recovery"]


def test_a_flipped_byte_drops_its_record_and_all_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wal"
    write_log(path, RECORDS)
    full = path.read_bytes()
    middle = 2
    start = sum(len(frame(r)) for r in RECORDS[:middle])
    end = start + len(frame(RECORDS[middle]))
    for offset in range(start, end):  # crc, length and payload bytes alike
        damaged = bytearray(full)
        damaged[offset] ^= 0x10
        path.write_bytes(bytes(damaged))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="node.consensus.wal"):
            wal, records = reopen(path)
        wal.close()
        assert records == RECORDS[:middle], f"flipped byte {offset}"
        assert path.stat().st_size == start
        assert f"dropped {len(full) - start} bytes" in caplog.text


def test_zeros_after_a_crash_are_not_records(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    write_log(path, RECORDS[:2])
    with open(path, "ab") as f:
        f.write(b"\x00" * 4096)
    wal, records = reopen(path)
    wal.close()
    assert records == RECORDS[:2]


def test_reset_empties_the_log(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = reopen(path)
    for record in RECORDS:
        wal.append(record)
    wal.reset()
    assert path.stat().st_size == 0
    wal.append(b"next height", sync=True)
    wal.close()
    assert reopen(path)[1] == [b"next height"]


def test_a_record_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = reopen(path)
    with pytest.raises(WalRecordTooLarge, match=f"exceeds the limit of {MAX_RECORD} bytes"):
        wal.append(bytes(MAX_RECORD + 1))
    wal.append(b"still fine")
    wal.close()
    assert reopen(path)[1] == [b"still fine"]


def test_a_length_over_the_limit_on_disk_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    write_log(path, [b"good"])
    with open(path, "ab") as f:
        f.write(HEADER.pack(0, MAX_RECORD + 1))
    wal, records = reopen(path)
    wal.close()
    assert records == [b"good"]


def test_use_outside_open_is_an_error(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    with pytest.raises(WalError, match="not open"):
        wal.append(b"x")
    wal.open()
    with pytest.raises(WalError, match="already open"):
        wal.open()
    wal.close()
    wal.close()  # closing twice is harmless
    with pytest.raises(WalError, match="not open"):
        wal.sync()


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from node.consensus.wal import WriteAheadLog

    wal = WriteAheadLog(Path(sys.argv[1]))
    wal.open()
    i = 0
    while True:
        wal.append(b"buffered %d" % i)  # not reported: may or may not survive
        wal.append(b"synced %d " % i + bytes([i % 251]) * (i * 397 % 20000), sync=True)
        print(i, flush=True)
        i += 1
    """
)


def synced_record(i: int) -> bytes:
    return b"synced %d " % i + bytes([i % 251]) * (i * 397 % 20000)


@pytest.mark.parametrize("kill_after", [50, 137])
def test_sigkill_keeps_every_synced_record(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "wal"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    reported = -1
    deadline = time.monotonic() + 10
    while reported < kill_after and time.monotonic() < deadline:
        line = child.stdout.readline()
        assert line, f"child exited early with {child.wait()}"
        reported = int(line)
    os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is appending the next records
    child.wait()
    child.stdout.close()
    assert reported >= kill_after, "child too slow"

    wal, records = reopen(path)
    wal.close()
    synced = [r for r in records if r.startswith(b"synced ")]
    buffered = [r for r in records if r.startswith(b"buffered ")]
    assert synced[: reported + 1] == [synced_record(i) for i in range(reported + 1)]
    assert synced == [synced_record(i) for i in range(len(synced))]
    assert buffered == [b"buffered %d" % i for i in range(len(buffered))]
    assert len(buffered) in (len(synced), len(synced) + 1)
