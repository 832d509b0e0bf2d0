"""What a replica is: the spec the agent hands the runtime, checked when it is made.

The key names every resource of the replica on the machine (its directory, cgroup, network
namespace, hostname), so it is a DNS label: safe in a path, a cgroup name and a hostname alike.
The spec hash is what `observe` reports, so an agent that lost its state can tell a replica
started from an old version of a workload from a current one.
"""

import hashlib
import json
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any

from node.runtime.errors import InvalidReplicaSpec

HOST_IMAGE = "host"

KEY = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
ARCHIVE_IMAGE = re.compile(r"sha256:[0-9a-f]{64}\Z")
DISK_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?\Z")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

# Paths the sandbox itself fills (system binds, generated /etc, /proc, /dev): no disk over them.
RESERVED_PATHS = ("/proc", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")

MIN_MEMORY_MB = 16
MIN_PIDS = 4  # bubblewrap's monitor and its init in the sandbox count too
MIN_DISK_MB = 8


@dataclass(frozen=True)
class DiskMount:
    """A volume of `size_mb` mebibytes, empty at start, mounted read-write at `mountpoint`."""

    name: str
    mountpoint: str
    size_mb: int


@dataclass(frozen=True)
class ReplicaSpec:
    """One replica of a workload, as this machine runs it.

    `image` is "host" (the node's read-only system: /usr and its links) or "sha256:<hex>", a
    root filesystem archive (tar, any compression) fetched from `image_url`. `ports` are where
    the replica listens on its own address: the gateway connects to ip:port.
    """

    key: str
    image: str
    entrypoint: tuple[str, ...]
    cpu_millicores: int
    memory_mb: int
    pids_max: int
    image_url: str = ""
    env: tuple[tuple[str, str], ...] = ()
    disks: tuple[DiskMount, ...] = ()
    ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check(self)

    @property
    def hash(self) -> str:
        """sha256 of the spec's canonical JSON: equal specs, equal hashes, on any machine."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def check(spec: ReplicaSpec) -> None:
    """Raise InvalidReplicaSpec naming the first field this runtime cannot run as given."""
    if not KEY.match(spec.key):
        fail(spec, "key", "must be a DNS label: 1-63 of a-z, 0-9 and '-', not at either end")
    if spec.image != HOST_IMAGE and not ARCHIVE_IMAGE.match(spec.image):
        fail(spec, "image", "must be 'host' or 'sha256:' and 64 lowercase hex digits")
    if spec.image != HOST_IMAGE and not spec.image_url:
        fail(spec, "image_url", "an archive image needs the URL to fetch it from")
    if not spec.entrypoint or not spec.entrypoint[0]:
        fail(spec, "entrypoint", "needs a program to run")
    if any("\0" in arg for arg in spec.entrypoint):
        fail(spec, "entrypoint", "must not hold a NUL character")
    for name, value in spec.env:
        if not ENV_NAME.match(name) or "\0" in value:
            fail(spec, "env", f"{name!r}: bad name, or a NUL in its value")
    if len({name for name, _ in spec.env}) != len(spec.env):
        fail(spec, "env", "a variable is set twice")
    bounds = {
        "cpu_millicores": (spec.cpu_millicores, 10, 1 << 20),
        "memory_mb": (spec.memory_mb, MIN_MEMORY_MB, 1 << 30),
        "pids_max": (spec.pids_max, MIN_PIDS, 1 << 22),
    }
    for field, (number, low, high) in bounds.items():
        if type(number) is not int or not low <= number <= high:
            fail(spec, field, f"must be an integer in [{low}, {high}]")
    for port in spec.ports:
        if type(port) is not int or not 1 <= port <= 65535:
            fail(spec, "ports", f"{port!r} is not a port")
    if len(set(spec.ports)) != len(spec.ports):
        fail(spec, "ports", "a port repeats")
    check_disks(spec)


def check_disks(spec: ReplicaSpec) -> None:
    names = [disk.name for disk in spec.disks]
    points = [disk.mountpoint for disk in spec.disks]
    if len(set(names)) != len(names) or len(set(points)) != len(points):
        fail(spec, "disks", "a disk name or mountpoint repeats")
    for disk in spec.disks:
        if not DISK_NAME.match(disk.name):
            fail(spec, "disks", f"{disk.name!r} is not a disk name (a-z, 0-9, '-', '_')")
        point = disk.mountpoint
        if (
            not point.startswith("/")
            or point == "/"
            or posixpath.normpath(point) != point
            or any(c in point for c in "\0\n\\")
        ):
            fail(spec, "disks", f"{point!r} is not a normalized absolute path")
        if any(point == p or point.startswith(p + "/") for p in RESERVED_PATHS):
            fail(spec, "disks", f"{point!r} is inside a path the sandbox provides")
        if type(disk.size_mb) is not int or not MIN_DISK_MB <= disk.size_mb <= 1 << 24:
            fail(spec, "disks", f"{disk.name}: size_mb must be in [{MIN_DISK_MB}, {1 << 24}]")


def fail(spec: ReplicaSpec, field: str, why: str) -> None:
    raise InvalidReplicaSpec(f"replica {spec.key!r}: {field} {why}")
