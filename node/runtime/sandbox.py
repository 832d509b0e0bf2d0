"""The runtime: start, stop, pause, resume and observe the replicas of one farm node.

Every call is idempotent, so a level-triggered agent can repeat what it wants until the machine
shows it: a stop of a key that is not there does nothing; a start of a key that is there with
the same spec returns it as it is (whatever its state: to restart an exited replica, stop it
first), with another spec it is ReplicaConflict. Calls block, briefly (a start makes file
systems and a network; an archive image is fetched outside the runtime's lock), so the agent
runs them in a thread; one flock on the root serializes them across threads and processes.

Nothing of the runtime's own memory is needed to find a replica: `observe` reads the machine
(cgroups, the status bubblewrap writes, the records under the root), so an agent that restarts
with a new Runtime over the same root sees, pauses and stops what its predecessor started.
"""

import enum
import fcntl
import hashlib
import ipaddress
import logging
import os
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import node.runtime.disks as disks
import node.runtime.network as network
from node.runtime.cgroups import Cgroup, detect
from node.runtime.commands import require_commands
from node.runtime.errors import (
    InvalidReplicaSpec,
    ReplicaConflict,
    ReplicaNotFound,
    SandboxError,
    SandboxUnavailable,
    StartFailed,
)
from node.runtime.images import ImageCache, SystemEntry
from node.runtime.launch import Sandbox, cap_log, read_status, spawn
from node.runtime.records import Layout, Record, read_record, write_json, write_record
from node.runtime.spec import HOST_IMAGE, KEY, ReplicaSpec

log = logging.getLogger(__name__)

DEFAULT_SUBNET = "10.213.0.0/16"
DEFAULT_UID_BASE = 0x7A000000  # above the ranges systemd and subuid hand out


class ReplicaState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # frozen: the agent paused it (out of funds, say)
    EXITED = "exited"  # the workload ended, or never finished starting (exit_code None)
    OOM_KILLED = "oom_killed"  # ended, and the kernel killed a process of it for memory


@dataclass(frozen=True)
class ReplicaInfo:
    key: str
    ip: str
    pid: int | None
    spec_hash: str


@dataclass(frozen=True)
class Observed:
    key: str
    state: ReplicaState
    exit_code: int | None
    ip: str
    spec_hash: str
    pid: int | None
    oom_kills: int


class Runtime:
    """The replicas under `root` (see records.py for what lives there)."""

    def __init__(
        self,
        root: Path,
        *,
        subnet: str = DEFAULT_SUBNET,
        uid_base: int = DEFAULT_UID_BASE,
        image_schemes: Sequence[str] = ("http", "https"),
        nameservers: Sequence[str] = (),
        log_max_bytes: int = 16 << 20,
    ) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable("the sandbox runtime runs as root")
        if not hasattr(tarfile, "data_filter"):
            raise SandboxUnavailable("Python's tarfile lacks extraction filters (3.11.4+)")
        require_commands()
        self.hierarchy = detect()
        self.root = root.resolve()
        self.layout = Layout(self.root)
        self.subnet = ipaddress.IPv4Network(subnet)
        self.uid_base = uid_base
        self.nameservers = tuple(nameservers)
        self.log_max_bytes = log_max_bytes
        self.tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:8]
        self.root.mkdir(parents=True, exist_ok=True)
        for d in (self.root, self.layout.replicas):
            make_dir(d)
        check_traversable(self.root)
        self.images = ImageCache(self.layout.images, schemes=image_schemes)
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    # The interface

    def start(self, spec: ReplicaSpec) -> ReplicaInfo:
        with self.locked():
            existing = self.existing(spec)
        if existing is not None:
            return existing
        system = self.images.system(spec.image, spec.image_url)  # may download: not locked
        with self.locked():
            existing = self.existing(spec)
            if existing is not None:
                return existing
            record = self.allocate(spec)
            try:
                record = self.create(record, spec, system)
            except BaseException as exc:
                try:
                    self.teardown(record)
                except Exception:  # the start's own error is the one to report
                    log.exception("replica %s: cleaning up after a failed start failed", spec.key)
                if isinstance(exc, OSError):
                    raise StartFailed(f"replica {spec.key} did not start: {exc}") from exc
                raise
            return info(record)

    def stop(self, key: str) -> None:
        """Kill the replica's whole process tree and remove all it had: nothing is left."""
        check_key(key)
        with self.locked():
            directory = self.layout.replica(key)
            if not directory.exists():
                return
            record = read_record(self.layout.state(key))
            if record is None:  # a start that crashed before making anything
                shutil.rmtree(directory)
                return
            self.teardown(record)

    def kill(self, key: str) -> None:
        """SIGKILL every process of the replica and keep its record, as a power cut leaves a
        machine's disk: what a restarted agent then finds exited (devnet stop --crash)."""
        with self.locked():
            cgroup = self.cgroup(self.required(key))
            if cgroup.exists():
                cgroup.thaw()  # a frozen process cannot die
                cgroup.kill()

    def pause(self, key: str) -> None:
        """Freeze every process of the replica where it stands (its memory stays)."""
        with self.locked():
            cgroup = self.cgroup(self.required(key))
            if cgroup.exists() and not cgroup.freeze():
                raise SandboxError(f"replica {key}: not every process froze")

    def resume(self, key: str) -> None:
        with self.locked():
            cgroup = self.cgroup(self.required(key))
            if cgroup.exists():
                cgroup.thaw()

    def observe(self) -> dict[str, Observed]:
        """Every replica under the root, as the machine shows it now."""
        with self.locked():
            self.reap()
            found = {}
            for record in self.records():
                found[record.key] = self.observed(record)
                cap_log(self.layout.log(record.key), self.log_max_bytes)
            return found

    def log_path(self, key: str) -> Path:
        """The replica's stdout and stderr (and log.1 beside it once it grew past the cap)."""
        check_key(key)
        return self.layout.log(key)

    # The steps

    def existing(self, spec: ReplicaSpec) -> ReplicaInfo | None:
        record = read_record(self.layout.state(spec.key))
        if record is None:
            if self.layout.replica(spec.key).exists():  # a start that crashed at once
                shutil.rmtree(self.layout.replica(spec.key))
            return None
        if record.spec_hash != spec.hash:
            raise ReplicaConflict(
                f"replica {spec.key} runs spec {record.spec_hash[:16]}, not "
                f"{spec.hash[:16]}: stop it first"
            )
        return info(record)

    def allocate(self, spec: ReplicaSpec) -> Record:
        """Choose the replica's slot and names and write them down before making anything."""
        taken = {r.slot for r in self.records()}
        slot = network.free_slot(self.subnet, taken)
        held = network.lease(self.subnet, slot)
        name = hashlib.sha256(f"{self.tag}/{spec.key}".encode()).hexdigest()
        record = Record(
            key=spec.key,
            spec_hash=spec.hash,
            slot=slot,
            uid=self.uid_base + slot,
            address=str(held.address),
            gateway=str(held.gateway),
            netns=f"gc-{self.tag}-{spec.key}",
            veth=f"gc{name[:12]}",
            cgroup=f"gridchain/{self.tag}/{spec.key}",
        )
        directory = self.layout.replica(spec.key)
        make_dir(directory)
        write_json(directory / "spec.json", spec.to_json())
        write_record(self.layout.state(spec.key), record)
        return record

    def create(self, record: Record, spec: ReplicaSpec, system: list[SystemEntry]) -> Record:
        key = spec.key
        cgroup = self.cgroup(record)
        cgroup.create(spec.cpu_millicores, spec.memory_mb, spec.pids_max)
        for sub in ("disks", "mnt"):
            make_dir(self.layout.replica(key) / sub)
        for disk in spec.disks:
            disks.create(
                self.layout.disk_image(key, disk.name),
                self.layout.disk_mount(key, disk.name),
                disk.size_mb,
                record.uid,
            )
        network.create(record.netns, record.veth, network.lease(self.subnet, record.slot))
        sandbox = Sandbox(
            key=key,
            uid=record.uid,
            address=record.address,
            entrypoint=spec.entrypoint,
            env=spec.env,
            system=tuple(system),
            own_etc=spec.image != HOST_IMAGE,
            disks=tuple((self.layout.disk_mount(key, d.name), d.mountpoint) for d in spec.disks),
            netns=network.netns_path(record.netns),
            cgroup_procs=tuple(cgroup.procs_files()),
            tmp_bytes=spec.memory_mb << 20,
            nameservers=self.nameservers,
        )
        proc = spawn(sandbox, self.layout.log(key), self.layout.status(key))
        self.children[key] = proc
        record = replace(record, pid=proc.pid, started_at=time.time())
        write_record(self.layout.state(key), record)
        return record

    def teardown(self, record: Record) -> None:
        """Undo a replica step by step; each step skips what is already gone, so a teardown
        that failed half-way (or a start that did) can simply be run again."""
        key = record.key
        cgroup = self.cgroup(record)
        cgroup.kill()
        child = self.children.pop(key, None)
        if child is not None:
            child.wait()
        network.destroy(record.netns, record.veth)
        mounts = self.layout.replica(key) / "mnt"
        names = {p.name for p in mounts.iterdir()} if mounts.is_dir() else set()
        images = self.layout.replica(key) / "disks"
        names |= {p.stem for p in images.glob("*.img")} if images.is_dir() else set()
        for name in sorted(names):
            disks.remove(self.layout.disk_image(key, name), self.layout.disk_mount(key, name))
        cgroup.remove()
        inside = str(self.layout.replica(key)) + "/"
        if any(point.startswith(inside) for point in disks.mount_points()):
            raise SandboxError(f"replica {key}: a disk is still mounted; its files are kept")
        shutil.rmtree(self.layout.replica(key))

    def observed(self, record: Record) -> Observed:
        cgroup = self.cgroup(record)
        status = read_status(self.layout.status(record.key))
        oom_kills = cgroup.oom_kills()
        exit_code = status.exit_code
        if exit_code is None and cgroup.pids():  # pid None: the agent died as it started it
            state = ReplicaState.PAUSED if cgroup.frozen() else ReplicaState.RUNNING
        elif oom_kills:
            state = ReplicaState.OOM_KILLED
        else:
            state = ReplicaState.EXITED
        return Observed(
            key=record.key,
            state=state,
            exit_code=exit_code,
            ip=record.address,
            spec_hash=record.spec_hash,
            pid=record.pid,
            oom_kills=oom_kills,
        )

    # Helpers

    @contextmanager
    def locked(self) -> Iterator[None]:
        fd = os.open(self.layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def records(self) -> list[Record]:
        found = []
        for directory in sorted(self.layout.replicas.iterdir()):
            record = read_record(directory / "state.json")
            if record is not None:
                found.append(record)
        return found

    def required(self, key: str) -> Record:
        check_key(key)
        record = read_record(self.layout.state(key))
        if record is None:
            raise ReplicaNotFound(f"no replica {key} under {self.root}")
        return record

    def cgroup(self, record: Record) -> Cgroup:
        return Cgroup(self.hierarchy, record.cgroup)

    def reap(self) -> None:
        """Collect the exit of replicas this object started, so none lingers as a zombie."""
        for key, child in list(self.children.items()):
            if child.poll() is not None:
                del self.children[key]


def info(record: Record) -> ReplicaInfo:
    return ReplicaInfo(record.key, record.address, record.pid, record.spec_hash)


def check_key(key: str) -> None:
    if not KEY.match(key):
        raise InvalidReplicaSpec(f"{key!r} is not a replica key")


def make_dir(path: Path) -> None:
    """A directory the replicas' uids may pass through but not list (0711, whatever the
    agent's umask): bubblewrap, running as the replica's uid, walks down to its disks."""
    path.mkdir(exist_ok=True)
    os.chmod(path, 0o711)


def check_traversable(root: Path) -> None:
    """bubblewrap binds the replica's disks and image as the replica's uid, which must be able
    to walk down to them: every directory above the root must be searchable by others."""
    for directory in root.parents:
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            raise SandboxUnavailable(
                f"{directory} is not searchable by others (mode "
                f"{stat.S_IMODE(os.stat(directory).st_mode):o}): replicas run as their own "
                f"uid and could not reach their disks under {root}"
            )
