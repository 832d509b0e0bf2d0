"""The snapshots a node keeps and serves, on disk: HOME/data/snapshots/HEIGHT/.

Each holds `manifest` and `chunk-INDEX` files in the canonical bytes peers are served
(chain/snapshot/). A snapshot is written into HEIGHT.tmp and renamed once every file is synced,
so a crash leaves a whole snapshot or a .tmp folder, which the next start removes; the newest
`keep` snapshots are kept.
"""

import os
import shutil
from pathlib import Path

from chain.errors import LocalFault
from node.config import fsync_directory

MANIFEST_FILE = "manifest"


class SnapshotDirError(LocalFault):
    code = "snapshot_store"


def _chunk_file(index: int) -> str:
    return f"chunk-{index}"


class SnapshotWriter:
    """One snapshot being written: chunks as they are cut, then the manifest."""

    def __init__(self, root: Path, height: int, keep: int) -> None:
        self.root = root
        self.height = height
        self.keep = keep
        self.path = root / f"{height}.tmp"
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)

    def _write(self, name: str, data: bytes) -> None:
        with open(self.path / name, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    def add_chunk(self, index: int, data: bytes) -> None:
        self._write(_chunk_file(index), data)

    def finish(self, manifest: bytes) -> None:
        self._write(MANIFEST_FILE, manifest)
        fsync_directory(self.path)
        final = self.root / str(self.height)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self.path, final)
        fsync_directory(self.root)
        for old in SnapshotDir(self.root).heights()[self.keep :]:
            # Out of the listing first: a crash while deleting must not leave a snapshot
            # listed with chunks missing (a .tmp folder is removed at the next start).
            doomed = self.root / f"{old}.tmp"
            shutil.rmtree(doomed, ignore_errors=True)
            os.replace(self.root / str(old), doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def abandon(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SnapshotDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def clear_unfinished(self) -> None:
        """Remove what a crash left half-written (at start, before any writer runs)."""
        if self.root.is_dir():
            for path in self.root.glob("*.tmp"):
                shutil.rmtree(path, ignore_errors=True)

    def writer(self, height: int, keep: int) -> SnapshotWriter:
        try:
            return SnapshotWriter(self.root, height, keep)
        except OSError as exc:
            raise SnapshotDirError(f"cannot write a snapshot under {self.root}: {exc}") from None

    def heights(self) -> list[int]:
        """The complete snapshots, newest first."""
        if not self.root.is_dir():
            return []
        found = [
            int(path.name)
            for path in self.root.iterdir()
            if path.name.isdigit() and (path / MANIFEST_FILE).is_file()
        ]
        return sorted(found, reverse=True)

    def _read(self, height: int, name: str) -> bytes | None:
        try:
            return (self.root / str(height) / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SnapshotDirError(f"cannot read snapshot {height}'s {name}: {exc}") from None

    def manifest(self, height: int) -> bytes | None:
        return self._read(height, MANIFEST_FILE)

    def chunk(self, height: int, index: int) -> bytes | None:
        if (self.root / str(height) / MANIFEST_FILE).is_file():
            return self._read(height, _chunk_file(index))
        return None
