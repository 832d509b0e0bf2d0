"""The command line that starts one replica, and reading back what bubblewrap reports.

The replica is started as a chain of programs that each do one thing and then exec the next,
so its first process keeps one pid from the cgroup to the sandbox:

    sh           writes its own pid into the replica's cgroups (so every descendant is inside
                 the limits from its first instruction), then execs
    nsenter      joins the replica's network namespace, then execs
    setpriv      drops from root to the replica's own host uid (no groups, no capabilities,
                 no_new_privs), then execs
    bwrap        unprivileged: a user namespace mapping that uid to 65534 ("nobody") inside,
                 new pid, ipc, uts, mount and cgroup namespaces, the image's system read-only,
                 its own /proc, /dev and /tmp, generated /etc files, the disks read-write

bubblewrap runs as the replica's uid, not as root, so the replica's processes hold no privilege
on the host: files the host did not bind in are unreachable by path (the mount namespace) and,
were they reachable, owned by someone else. It is started in a new session and without
--die-with-parent, so the replica outlives the agent; its monitor writes the exit code into
status.json, where a restarted agent reads it.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from node.runtime.cgroups import wait_for
from node.runtime.commands import SYSTEM_PATH, system_env
from node.runtime.errors import StartFailed
from node.runtime.images import SystemEntry

INSIDE_UID = 65534
START_TIMEOUT = 10.0
ATTACH = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class Sandbox:
    """Everything one replica's command line is made of."""

    key: str
    uid: int  # on the host
    address: str
    entrypoint: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    system: tuple[SystemEntry, ...]
    own_etc: bool  # an image's /etc is bound with the system; the host's is not
    disks: tuple[tuple[Path, str], ...]  # (mounted on the host, mount point inside)
    netns: Path
    cgroup_procs: tuple[Path, ...]
    tmp_bytes: int
    nameservers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    child_pid: int | None
    exit_code: int | None


def etc_files(sandbox: Sandbox) -> dict[str, bytes]:
    """A minimal /etc of our own, never the host's: who 65534 is, the names of this host."""
    resolv = "".join(f"nameserver {ns}\n" for ns in sandbox.nameservers)
    files = {
        "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"nobody:x:{INSIDE_UID}:{INSIDE_UID}:nobody:/tmp:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nnogroup:x:{INSIDE_UID}:\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{sandbox.address}\t{sandbox.key}\n",
        "hostname": f"{sandbox.key}\n",
        "resolv.conf": resolv or "# no nameserver: this replica has no route past its gateway\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }
    return {name: text.encode() for name, text in files.items()}


def bwrap_args(sandbox: Sandbox, status_fd: int, etc_fds: dict[str, int]) -> list[str]:
    args = ["bwrap", "--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID)]
    args += ["--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", sandbox.key, "--new-session"]
    for entry in sandbox.system:
        args += [f"--{entry.kind}", entry.source, entry.dest]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for scratch in ("/tmp", "/dev/shm"):  # tmpfs: charged to the replica's memory limit
        args += ["--perms", "1777", "--size", str(sandbox.tmp_bytes), "--tmpfs", scratch]
    if not sandbox.own_etc:
        args += ["--dir", "/etc"]
    for name, fd in etc_fds.items():
        args += ["--perms", "0644", "--ro-bind-data", str(fd), f"/etc/{name}"]
    for host_dir, mountpoint in sandbox.disks:
        args += ["--bind", str(host_dir), mountpoint]
    args += ["--chdir", "/", "--clearenv"]
    env = {"PATH": SYSTEM_PATH, "HOME": "/tmp", "HOSTNAME": sandbox.key, "LANG": "C.UTF-8"}
    for name, value in {**env, **dict(sandbox.env)}.items():
        args += ["--setenv", name, value]
    args += ["--json-status-fd", str(status_fd), "--remount-ro", "/", "--", *sandbox.entrypoint]
    return args


def command(sandbox: Sandbox, status_fd: int, etc_fds: dict[str, int]) -> list[str]:
    """The whole chain, sh to the workload (see the module's docstring)."""
    uid = str(sandbox.uid)
    return [
        "/bin/sh", "-c", ATTACH, "gridchain-attach", *map(str, sandbox.cgroup_procs), "--",
        "nsenter", f"--net={sandbox.netns}", "--",
        "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all",
        "--no-new-privs", "--",
        *bwrap_args(sandbox, status_fd, etc_fds),
    ]  # fmt: skip


def spawn(sandbox: Sandbox, log: Path, status: Path) -> "subprocess.Popen[bytes]":
    """Start the replica and return once bubblewrap has made its namespaces; StartFailed (with
    the log's tail) if it exits before. A failure after that, in the sandbox's own setup or in
    the workload's exec, is the replica's: `observe` shows it exited, the log says why."""
    opened: list[int] = []
    try:
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        opened.append(log_fd)
        status_fd = os.open(status, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        opened.append(status_fd)
        etc_fds = {}
        for name, data in etc_files(sandbox).items():
            fd = os.memfd_create(f"etc-{name}")
            opened.append(fd)
            os.write(fd, data)
            os.lseek(fd, 0, os.SEEK_SET)
            etc_fds[name] = fd
        proc = subprocess.Popen(
            command(sandbox, status_fd, etc_fds),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            pass_fds=(status_fd, *etc_fds.values()),
            start_new_session=True,
            cwd="/",
            env=system_env(),
        )
    finally:
        for fd in opened:
            os.close(fd)
    wait_for(
        lambda: proc.poll() is not None or read_status(status).child_pid is not None,
        START_TIMEOUT,
    )
    if read_status(status).child_pid is None:  # the namespaces were never made
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise StartFailed(f"replica {sandbox.key} did not start: {tail(log)}")
    return proc


def read_status(path: Path) -> Status:
    """bubblewrap's status documents: {"child-pid": N, ...} at start, {"exit-code": N} at end."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Status(None, None)
    found: dict[str, int] = {}
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        try:
            doc, at = decoder.raw_decode(text, at)
        except ValueError:  # a document still being written
            break
        if isinstance(doc, dict):
            found.update({k: v for k, v in doc.items() if isinstance(v, int)})
    return Status(found.get("child-pid"), found.get("exit-code"))


def tail(log: Path, size: int = 2000) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace").strip() or "(the log is empty)"
    except FileNotFoundError:
        return "(no log)"


def cap_log(log: Path, max_bytes: int) -> None:
    """Keep the log under `max_bytes`: past it, its last half moves to log.1 and the log
    starts again (the workload writes with O_APPEND, so it carries on at the new end)."""
    try:
        size = log.stat().st_size
    except FileNotFoundError:
        return
    if size <= max_bytes:
        return
    with open(log, "r+b") as f:
        f.seek(size - max_bytes // 2)
        kept = f.read(max_bytes // 2)
        log.with_name(log.name + ".1").write_bytes(kept)
        f.truncate(0)
