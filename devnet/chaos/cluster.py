"""The chaos devnet's processes, and the faults that act on a machine rather than a network.

Validator i runs in namespace gc<tag>-node<i> (fabric.py); the last validator's home is a small
tmpfs of its own, so its disk can be filled; a node restarted with a clock offset runs under
libfaketime. Farmers run in the root namespace, each talking to its validator's API.

Every change to a process is written to devnet.json at once, under one lock (faults run on
threads of their own), so `gridchain devnet status --dir DIR` shows the chaos devnet as it is.
"""

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.genesis_state import genesis_hash
from devnet import network
from devnet.chaos.fabric import Fabric
from devnet.farmers import (
    FarmerEntry,
    crash_replicas,
    remove_replicas,
    start_farmer,
    stop_farmers,
    wait_farmer_started,
)
from devnet.processes import STOP_TIMEOUT, DevnetError, Progress, kill_group, pid_alive, quiet
from genesis.schema import load_genesis
from node.config import Home
from node.runtime.commands import run
from node.runtime.errors import CommandFailed

# The devnet's parameters, with a downtime window long enough that a validator the schedule
# takes down for its share of the time (faults.py keeps it under a third) is never jailed for
# it: the harness checks that no honest validator is, so the window must not make one.
CHAOS_PARAMS = {**network.PARAMS, "downtime_window": 1_000}
DISK_MB = 384  # the full-disk node's home: its chain, WAL and log for a long run
FILLER = ".chaos-filler"


@dataclass
class ChaosNet:
    directory: Path
    fabric: Fabric
    devnet: network.Devnet
    disk_node: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def validators(self) -> int:
        return self.fabric.nodes

    def node(self, i: int) -> network.NodeEntry:
        return self.devnet.nodes[i]

    def farmer(self, name: str) -> FarmerEntry:
        return next(f for f in self.devnet.farmers if f.name == name)

    @property
    def disk(self) -> Path:
        return Path(self.node(self.disk_node).home)

    def _save(self) -> None:
        with self.lock:
            self.devnet.save()

    # Validators

    def running(self, i: int) -> bool:
        entry = self.node(i)
        return pid_alive(entry.pid, entry.home)

    def exit_code(self, i: int) -> int | None:
        """The exit code of validator i's last process if it has exited, else None."""
        process = self.processes.get(self.node(i).name)
        return None if process is None else process.poll()

    def start_node(self, i: int, clock_offset_s: int = 0, say: Progress = quiet) -> None:
        entry = self.node(i)
        if self.running(i):
            raise DevnetError(f"{entry.name} is already running")
        entry.clock_offset_s = clock_offset_s
        process = network.start_process(entry)
        self.processes[entry.name] = process
        entry.pid = process.pid
        self._save()
        expected = genesis_hash(load_genesis(Path(self.devnet.genesis))).hex()
        network.wait_ready(entry, process, expected, say)

    def kill_node(self, i: int) -> None:
        entry = self.node(i)
        if entry.pid is not None:
            kill_group(entry.pid)
            self._reap(entry.name)
        entry.pid = None
        self._save()

    def stop_node(self, i: int) -> None:
        """SIGTERM, and SIGKILL if it is not gone within STOP_TIMEOUT."""
        entry = self.node(i)
        if entry.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(entry.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and pid_alive(entry.pid, entry.home):
            time.sleep(0.05)
        self.kill_node(i)

    def pause_node(self, i: int) -> None:
        self._signal_group(i, signal.SIGSTOP)

    def resume_node(self, i: int) -> None:
        self._signal_group(i, signal.SIGCONT)

    def _signal_group(self, i: int, sig: signal.Signals) -> None:
        pid = self.node(i).pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)

    def _reap(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)

    def tear_wal(self, i: int, cut: int) -> int:
        """Cut the last `cut` bytes off a stopped node's consensus WAL (Jepsen's WAL
        truncation: more than a crash can do, since records are fsynced before they count;
        the signer's state must still keep the node from signing twice); the bytes cut. The
        mempool journal is left whole: it promises to survive a process's death, not a disk
        losing written bytes."""
        path = Home(Path(self.node(i).home)).wal_file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        os.truncate(path, max(0, size - cut))
        return min(size, cut)

    # The full disk

    def fill_disk(self) -> int:
        """Take every free byte of the disk node's home; the bytes taken."""
        taken = 0
        chunk = b"\0" * (1 << 20)
        with open(self.disk / FILLER, "ab") as filler:
            while True:
                try:
                    taken += os.write(filler.fileno(), chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return taken

    def free_disk(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.disk / FILLER).unlink()

    def unmount_disk(self) -> None:
        if _mounted(self.disk):
            run(["umount", "-l", str(self.disk)])

    # Farmers

    def farmer_running(self, name: str) -> bool:
        return self.farmer(name).alive()

    def crash_farmer(self, name: str) -> None:
        """The farm node's machine dies: its agent and every process of its replicas."""
        entry = self.farmer(name)
        if entry.pid is not None:
            kill_group(entry.pid)
            self._reap(name)
        entry.pid = None
        crash_replicas(entry, quiet)
        self._save()

    def start_farmer(self, name: str, say: Progress = quiet) -> None:
        entry = self.farmer(name)
        api = next(n.api for n in self.devnet.nodes if n.name == entry.validator)
        process, offset = start_farmer(entry, self.devnet.keystore, api, self.devnet.passphrase)
        self.processes[name] = process
        entry.pid = process.pid
        self._save()
        wait_farmer_started(entry, process, offset, say)

    # The end

    def close(self, say: Progress = quiet) -> None:
        """Every process stopped (resumed first: a paused one cannot take SIGTERM), the fabric
        and the disk removed."""
        for i in range(self.validators):
            self.resume_node(i)
        stop_farmers(self.devnet.farmers, kill=False, say=say)
        for farmer in self.devnet.farmers:
            remove_replicas(farmer, say)  # a farmer's replicas outlive its agent by design
        for i in range(self.validators):
            self.stop_node(i)
        self._save()
        self.fabric.close()
        self.free_disk()
        self.unmount_disk()


def launch(
    directory: Path, validators: int, farmers: int, fabric: Fabric, say: Progress
) -> ChaosNet:
    """The devnet up in `fabric` (created here): validators in their namespaces, the last
    one's home on a tmpfs of its own, then the farmers (registered, started)."""
    fabric.create()
    disk_node = validators - 1
    home = directory / f"node{disk_node}"
    home.mkdir(parents=True, exist_ok=True)
    if not _mounted(home):
        run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=755", "tmpfs", str(home)])
    places = {
        f"node{i}": network.Place(str(fabric.address(i)), fabric.netns(i))
        for i in range(validators)
    }
    result = network.up(
        directory,
        validators,
        network.free_base_port(validators),
        say,
        params=CHAOS_PARAMS,
        farmers=farmers,
        places=places,
    )
    return ChaosNet(directory, fabric, result.devnet, disk_node)


def abandon(directory: Path, fabric: Fabric) -> None:
    """Clean up after a launch that failed half way: every process devnet.json records (`down`
    reads it), the full-disk node's tmpfs, the fabric."""
    with contextlib.suppress(DevnetError, OSError):
        network.down(directory)
    for home in directory.glob("node*"):
        if _mounted(home):
            with contextlib.suppress(CommandFailed):
                run(["umount", "-l", str(home)])
    fabric.close()


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)
