"""What the runtime keeps on disk, so that an agent which lost its memory finds its replicas.

The machine is the record of what runs (cgroups, network namespaces, mounts, processes); these
files only name those things and say what spec they were made for:

    <root>/lock                           flock: one runtime operation at a time, across processes
    <root>/images/sha256/<hex>/           unpacked, verified root filesystems (images.py)
    <root>/replicas/<key>/state.json      Record: slot, address, names, uid, pid, spec hash
    <root>/replicas/<key>/spec.json       the spec, for an operator's eyes
    <root>/replicas/<key>/status.json     bubblewrap's status documents: child pid, exit code
    <root>/replicas/<key>/log, log.1      the workload's stdout and stderr
    <root>/replicas/<key>/disks/<n>.img   disk images (disks.py)
    <root>/replicas/<key>/mnt/<n>/        their mount points, bound into the sandbox

The record is written (to a temporary file, fsynced, renamed) before any resource is made, so a
crash half-way through a start leaves a record naming everything a stop must remove.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chain.errors import CorruptRecord
from node.config import fsync_directory


@dataclass(frozen=True)
class Record:
    key: str
    spec_hash: str
    slot: int
    uid: int  # the host uid the replica's processes run as
    address: str
    gateway: str
    netns: str
    veth: str
    cgroup: str
    pid: int | None = None  # bubblewrap's monitor on the host; None until the start finished
    started_at: float | None = None


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def replicas(self) -> Path:
        return self.root / "replicas"

    def replica(self, key: str) -> Path:
        return self.replicas / key

    def state(self, key: str) -> Path:
        return self.replica(key) / "state.json"

    def status(self, key: str) -> Path:
        return self.replica(key) / "status.json"

    def log(self, key: str) -> Path:
        return self.replica(key) / "log"

    def disk_image(self, key: str, name: str) -> Path:
        return self.replica(key) / "disks" / f"{name}.img"

    def disk_mount(self, key: str, name: str) -> Path:
        return self.replica(key) / "mnt" / name


def read_record(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text())
        return Record(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise CorruptRecord(f"replica record {path} does not decode: {exc}") from exc


def write_record(path: Path, record: Record) -> None:
    write_json(path, asdict(record))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` whole: a reader (or a crash) sees the old file or the new, never half."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as f:
        json.dump(data, f, sort_keys=True, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    fsync_directory(path.parent)
