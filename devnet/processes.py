"""The devnet's processes: each node or farmer in a process group of its own, found again by
its pid (checked against its command line), stopped by signal and, at the end, by killing its
whole group; and the ports they listen on."""

import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import node
from chain.errors import LocalFault

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 25

Progress = Callable[[str], None]


def quiet(message: str) -> None:
    pass


class DevnetError(LocalFault):
    code = "devnet_error"


def pid_alive(pid: int | None, home: str | None = None) -> bool:
    """Whether `pid` is a live process (and, where /proc tells, still the node of `home`)."""
    if not pid:
        return False
    try:  # reap it if it is our own exited child, or it would look alive as a zombie
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: the pid was reused
    cmdline = Path(f"/proc/{pid}/cmdline")
    if home is not None and cmdline.exists():
        try:
            return home.encode() in cmdline.read_bytes()
        except OSError:
            return False
    return True


def group_members(pgid: int) -> list[int]:
    """The live processes (zombies left out) of process group `pgid`, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return sorted(members)


def kill_group(pgid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGKILL a node's whole process group (its workers too) and wait until it is empty.

    A node's pid is its group's id while any member lives, so the id cannot name anyone else.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid_alive(pgid)  # reaps the leader if it is our child
        if not group_members(pgid):
            return
        time.sleep(0.02)
    raise DevnetError(f"processes of group {pgid} survived SIGKILL for {timeout:g} s")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def check_port_free(port: int, host: str = "127.0.0.1", what: str = "") -> None:
    """Raise if `port` cannot be listened on now; `what` names the port in the message (a
    validator's ports come from --base-port)."""
    hint = f"it is {what}: stop what holds it" if what else "stop it or pick another --base-port"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise DevnetError(
                f"port {port} on {host} is already in use (another node or devnet?); {hint}"
            ) from None


def listening_port_range() -> tuple[int, int]:
    """Ports to listen on: below the kernel's ephemeral range.

    A port in that range can be taken at any moment as the local end of some outgoing
    connection (an API client, a peer redialing), and a node restarted on it would then fail to
    bind; below it, only listeners take ports."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return (10_000, low) if low > 12_000 else (low // 2, low)


def free_port(host: str = "127.0.0.1") -> int:
    """A port to listen on that is free now (and outside the ephemeral range)."""
    low, high = listening_port_range()
    for _ in range(500):
        port = random.randrange(low, high)
        try:
            check_port_free(port, host)
        except DevnetError:
            continue
        return port
    raise DevnetError(f"found no free port between {low} and {high}")


def node_env() -> dict[str, str]:
    """The child's environment, able to import this code even when it is not installed."""
    env = dict(os.environ)
    root = str(Path(node.__file__).resolve().parent.parent)
    paths = [root, *env.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env
