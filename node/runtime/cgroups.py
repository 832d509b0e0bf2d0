"""A replica's control group: CPU, memory and process limits, freezing, and killing it whole.

cgroup v2 when this machine mounts one with the cpu, memory and pids controllers and it is
writable; otherwise the v1 hierarchies of cpu, memory, pids and freezer (the farm machines of
today boot with v1 controllers and an empty v2 tree beside them). Which one is read from
/proc/self/mounts, never assumed from a path.

A group lives at `gridchain/<runtime tag>/<replica key>` in each hierarchy, so a restarted agent
finds it again by name, and two runtimes on one machine (tests, say) never share a group. The
kernel is the record of what runs: the group's process list says whether a replica is alive,
its OOM counter whether the kernel killed it for memory, its freezer whether it is paused.
"""

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.runtime.errors import SandboxError, SandboxUnavailable

LIMITED = ("cpu", "memory", "pids")  # what the spec limits
V1_CONTROLLERS = (*LIMITED, "freezer")  # v2 freezes every group without a controller
PERIOD_US = 100_000
WAIT = 10.0  # seconds to wait for a freeze, a thaw or the last process of a killed group


@dataclass(frozen=True)
class Hierarchy:
    """Where this machine's cgroups are: one v2 tree (key ""), or a v1 tree per controller."""

    version: int
    roots: tuple[tuple[str, Path], ...]

    def root(self, controller: str = "") -> Path:
        return dict(self.roots)["" if self.version == 2 else controller]


def detect(mounts_text: str | None = None) -> Hierarchy:
    """The hierarchy the runtime will use on this machine; SandboxUnavailable if none fits."""
    if mounts_text is None:
        mounts_text = Path("/proc/self/mounts").read_text()
    v1: dict[str, Path] = {}
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, fstype, options = Path(unescape(fields[1])), fields[2], fields[3]
        if fstype == "cgroup2" and writable(mountpoint):
            available = read(mountpoint / "cgroup.controllers").split()
            if set(LIMITED) <= set(available):
                return Hierarchy(2, (("", mountpoint),))
        elif fstype == "cgroup":
            for controller in set(options.split(",")) & set(V1_CONTROLLERS):
                if writable(mountpoint):
                    v1.setdefault(controller, mountpoint)
    missing = [c for c in V1_CONTROLLERS if c not in v1]
    if missing:
        raise SandboxUnavailable(
            "no writable cgroup v2 with the cpu, memory and pids controllers, and no writable "
            f"cgroup v1 hierarchy for: {', '.join(missing)}"
        )
    return Hierarchy(1, tuple(sorted(v1.items())))


@dataclass(frozen=True)
class Cgroup:
    """One replica's group (a directory per v1 controller, or one v2 directory)."""

    hierarchy: Hierarchy
    name: str  # gridchain/<tag>/<key>

    def dirs(self) -> list[Path]:
        if self.hierarchy.version == 2:
            return [self.hierarchy.root() / self.name]
        return [self.hierarchy.root(c) / self.name for c in V1_CONTROLLERS]

    def dir(self, controller: str) -> Path:
        return self.hierarchy.root(controller) / self.name

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs())

    def create(self, cpu_millicores: int, memory_mb: int, pids_max: int) -> None:
        """Make the group with its limits; a process joins it by writing its pid to
        `procs_files()` before it starts the workload, so every descendant is inside."""
        memory = str(memory_mb << 20)
        quota = str(cpu_millicores * PERIOD_US // 1000)
        if self.hierarchy.version == 2:
            self.enable_controllers()
            group = self.dir("")
            group.mkdir(exist_ok=True)
            write(group / "memory.max", memory)
            write_if_present(group / "memory.swap.max", "0")
            write(group / "cpu.max", f"{quota} {PERIOD_US}")
            write(group / "pids.max", str(pids_max))
            return
        for d in self.dirs():
            d.mkdir(parents=True, exist_ok=True)
        write(self.dir("memory") / "memory.limit_in_bytes", memory)
        write_if_present(self.dir("memory") / "memory.memsw.limit_in_bytes", memory)  # no swap
        write(self.dir("cpu") / "cpu.cfs_period_us", str(PERIOD_US))
        write(self.dir("cpu") / "cpu.cfs_quota_us", quota)
        write(self.dir("pids") / "pids.max", str(pids_max))

    def enable_controllers(self) -> None:
        """v2 only: each ancestor hands cpu, memory and pids down to its children."""
        here = self.hierarchy.root()
        for part in [*Path(self.name).parts[:-1], ""]:
            enabled = read(here / "cgroup.subtree_control").split()
            wanted = [f"+{c}" for c in LIMITED if c not in enabled]
            if wanted:
                write(here / "cgroup.subtree_control", " ".join(wanted))
            if part:
                here = here / part
                here.mkdir(exist_ok=True)

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs()]

    def pids(self) -> list[int]:
        """The live processes in the group (zombies are not listed)."""
        main = self.dir("") if self.hierarchy.version == 2 else self.dir("pids")
        try:
            return [int(line) for line in (main / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def frozen(self) -> bool:
        if self.hierarchy.version == 2:
            return read(self.dir("") / "cgroup.freeze", "0").strip() == "1"
        return read(self.dir("freezer") / "freezer.state", "THAWED").strip() != "THAWED"

    def freeze(self) -> bool:
        """Stop every process of the group where it stands; True once all are stopped."""
        if self.hierarchy.version == 2:
            write(self.dir("") / "cgroup.freeze", "1")
            return wait_for(lambda: "frozen 1" in read(self.dir("") / "cgroup.events"))
        write(self.dir("freezer") / "freezer.state", "FROZEN")
        return wait_for(lambda: read(self.dir("freezer") / "freezer.state").strip() == "FROZEN")

    def thaw(self) -> None:
        if self.hierarchy.version == 2:
            write(self.dir("") / "cgroup.freeze", "0")
            return
        write(self.dir("freezer") / "freezer.state", "THAWED")
        wait_for(lambda: read(self.dir("freezer") / "freezer.state").strip() == "THAWED")

    def kill(self) -> None:
        """SIGKILL every process of the group and wait until none is left.

        v2 has cgroup.kill; on v1 the group is frozen first, so no process can fork a child
        between reading the list and signalling it, then thawed to let the kills land."""
        if not self.pids():  # also a group that a crashed start made only in part
            return
        if self.hierarchy.version == 2 and (self.dir("") / "cgroup.kill").exists():
            write(self.dir("") / "cgroup.kill", "1")
        else:
            self.freeze()
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.thaw()
        if not wait_for(lambda: not self.pids()):
            raise SandboxError(f"cgroup {self.name}: processes {self.pids()} survive SIGKILL")

    def oom_kills(self) -> int:
        """How many processes of the group the kernel killed for exceeding its memory."""
        if self.hierarchy.version == 2:
            events = read(self.dir("") / "memory.events", "")
        else:
            events = read(self.dir("memory") / "memory.oom_control", "")
        for line in events.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        """Remove the group (already empty), and its runtime's parent once that is empty too."""
        for d in self.dirs():
            rmdir(d, retry=True)
        for d in self.dirs():
            for parent in list(d.parents)[:2]:  # gridchain/<tag>, then gridchain
                rmdir(parent, retry=False)


def write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise SandboxError(f"cannot write {text!r} to {path}: {exc.strerror}") from exc


def write_if_present(path: Path, text: str) -> None:
    if path.exists():
        write(path, text)


def read(path: Path, missing: str | None = None) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        if missing is None:
            raise
        return missing


def rmdir(path: Path, retry: bool) -> None:
    """rmdir that ignores a missing directory; with `retry`, waits out the kernel's brief
    EBUSY while the group's last processes are released."""
    deadline = time.monotonic() + (WAIT if retry else 0)
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                raise SandboxError(f"cannot remove cgroup {path}: {exc.strerror}") from exc
            if time.monotonic() > deadline:
                if retry:
                    raise SandboxError(f"cannot remove cgroup {path}: {exc.strerror}") from exc
                return
            time.sleep(0.01)


def wait_for(done: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `done` (from 1 ms up to every 50 ms) until it holds: False after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def unescape(field: str) -> str:
    """A path field of /proc/self/mounts, whose spaces and the like are octal escapes."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
