"""The sandbox runtime on the real machine: bubblewrap, cgroups, network namespaces, loop disks.

Nothing is mocked. Each test makes its own runtime root under /tmp rather than in pytest's
tmp_path: replicas run as their own unprivileged uid, which bubblewrap needs to walk down to
their disks, and pytest's temporary directories are searchable by root alone (mode 0700). The
fixture stops every replica and removes the root, so a failing test leaves nothing running.
"""

import functools
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.runtime import (
    DiskMount,
    ImageInvalid,
    ImageMismatch,
    InvalidReplicaSpec,
    ReplicaConflict,
    ReplicaNotFound,
    ReplicaSpec,
    ReplicaState,
    Runtime,
)
from node.runtime.cgroups import V1_CONTROLLERS, Cgroup, Hierarchy
from node.runtime.launch import cap_log
from node.runtime.records import read_record

needs_root = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="the sandbox runs as root on Linux"
)


def host_spec(key: str, *argv: str, **fields: object) -> ReplicaSpec:
    values: dict[str, object] = {"cpu_millicores": 1000, "memory_mb": 128, "pids_max": 64}
    values.update(fields)
    return ReplicaSpec(key=key, image="host", entrypoint=argv, **values)  # type: ignore[arg-type]


def wait_until(done: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what or done}"
        time.sleep(0.02)


def state_of(runtime: Runtime, key: str) -> ReplicaState:
    return runtime.observe()[key].state


def log_of(runtime: Runtime, key: str) -> str:
    return runtime.log_path(key).read_text()


def exited(runtime: Runtime, key: str) -> Callable[[], bool]:
    return lambda: state_of(runtime, key) is not ReplicaState.RUNNING


def fetch(url: str, timeout: float = 10.0) -> str:
    """GET `url`, retrying while the replica's server is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def report(runtime: Runtime, key: str) -> dict[str, object]:
    """The JSON line a probe replica printed last."""
    wait_until(exited(runtime, key), what=f"{key} to exit")
    lines = [line for line in log_of(runtime, key).splitlines() if line.startswith("{")]
    assert lines, log_of(runtime, key)
    result: dict[str, object] = json.loads(lines[-1])
    return result


@pytest.fixture
def runtime_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="gc-sandbox-test-", dir="/tmp"))
    yield root
    cleanup = Runtime(root)
    for key in cleanup.observe():
        cleanup.stop(key)
    shutil.rmtree(root)


@pytest.fixture
def runtime(runtime_root: Path) -> Runtime:
    return Runtime(runtime_root)


# Serving, and the network


SERVE = "echo $HOSTNAME > /tmp/index.html && exec python3 -m http.server 8000 --directory /tmp"


@pytest.mark.slow
@needs_root
def test_replicas_on_the_host_image_serve_on_the_same_port(runtime: Runtime) -> None:
    first = runtime.start(host_spec("web-r0", "sh", "-c", SERVE, ports=(8000,)))
    second = runtime.start(host_spec("web-r1", "sh", "-c", SERVE, ports=(8000,)))
    assert first.ip != second.ip
    assert fetch(f"http://{first.ip}:8000/index.html") == "web-r0\n"
    assert fetch(f"http://{second.ip}:8000/index.html") == "web-r1\n"
    seen = runtime.observe()
    assert {k: o.state for k, o in seen.items()} == {
        "web-r0": ReplicaState.RUNNING,
        "web-r1": ReplicaState.RUNNING,
    }
    assert seen["web-r0"].ip == first.ip
    # A start is idempotent for the same spec and refused for another.
    assert runtime.start(host_spec("web-r0", "sh", "-c", SERVE, ports=(8000,))) == first
    with pytest.raises(ReplicaConflict):
        runtime.start(host_spec("web-r0", "sh", "-c", SERVE, ports=(8001,)))


# Isolation

PROBE = """
import json, os, pathlib
def visible(path):
    try:
        open(path).read()
        return True
    except OSError:
        return False
cmdlines = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmdlines[pid] = open(f"/proc/{pid}/cmdline").read().replace("\\0", " ")
    except OSError:
        pass
import subprocess
nested = subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode
print(json.dumps({
    "uid": os.getuid(),
    "fds": sorted(os.listdir("/proc/self/fd")),
    "nested_userns": nested == 0,
    "read": {p: visible(p) for p in os.environ["SECRETS"].split(":")},
    "cmdlines": cmdlines,
    "root": sorted(os.listdir("/")),
    "etc": sorted(os.listdir("/etc")),
    "shm": os.access("/dev/shm", os.W_OK),
}))
"""


@pytest.mark.slow
@needs_root
def test_a_replica_sees_no_host_file_and_no_other_replica(runtime: Runtime, tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="gc-secret-", dir="/tmp"))
    home = Path("/root") / shared.name
    try:
        shared.chmod(0o755)  # readable by every uid on the host: only the sandbox hides it
        secrets = [shared / "secret", home, tmp_path / "secret", Path("/etc/hostname")]
        for path in secrets[:3]:
            path.write_text("host secret")
            path.chmod(0o644)
        peer = runtime.start(host_spec("peer", "sh", "-c", "exec sleep 300"))
        runtime.start(
            host_spec(
                "probe",
                "python3",
                "-c",
                PROBE,
                env=(("SECRETS", ":".join(map(str, secrets))),),
            )
        )
        seen = report(runtime, "probe")
    finally:
        shutil.rmtree(shared)
        home.unlink(missing_ok=True)
    assert seen["read"] == {str(p): p == Path("/etc/hostname") for p in secrets}
    assert seen["uid"] == 65534
    assert seen["fds"] == ["0", "1", "2", "3"]  # stdio and listdir's own: nothing inherited
    assert seen["nested_userns"] is False
    assert seen["shm"] is True
    cmdlines = seen["cmdlines"]
    assert isinstance(cmdlines, dict)
    assert not any("sleep" in c for c in cmdlines.values()), cmdlines
    assert set(cmdlines) <= {"1", "2"}  # bubblewrap's init and the probe itself
    assert seen["root"] == ["bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp", "usr"]
    assert seen["etc"] == ["group", "hostname", "hosts", "nsswitch.conf", "passwd", "resolv.conf"]
    # On the host, the peer's processes run as the replica's own uid, not root.
    uids = {uid_of(pid) for pid in cgroup_pids(runtime, "peer")}
    assert uids == {runtime.uid_base + read_slot(runtime, "peer")}
    assert peer.pid is not None


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


def read_slot(runtime: Runtime, key: str) -> int:
    record = read_record(runtime.layout.state(key))
    assert record is not None
    return record.slot


def cgroup_pids(runtime: Runtime, key: str) -> list[int]:
    record = read_record(runtime.layout.state(key))
    assert record is not None
    return runtime.cgroup(record).pids()


# Limits

HOG = "chunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 20))\n"

FORK_BOMB = """
import json, os, time
children = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        children += 1
    refused = None
except OSError as exc:
    refused = exc.strerror
print(json.dumps({"children": children, "refused": refused}))
"""

FILL = """
import json, os
written = 0
error = None
with open("/data/fill", "wb") as f:
    try:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
            f.flush()
            written += 1
        os.fsync(f.fileno())
    except OSError as exc:
        error = exc.errno
print(json.dumps({"written_mb": written, "errno": error}))
"""


@pytest.mark.slow
@needs_root
def test_a_memory_hog_is_oom_killed(runtime: Runtime) -> None:
    runtime.start(host_spec("hog", "python3", "-c", HOG, memory_mb=48))
    wait_until(exited(runtime, "hog"), what="the hog to die")
    seen = runtime.observe()["hog"]
    assert seen.state is ReplicaState.OOM_KILLED
    assert seen.oom_kills >= 1
    assert seen.exit_code is not None and seen.exit_code != 0


BUSY = """
import time
cpu, wall = time.process_time(), time.monotonic()
while time.monotonic() - wall < 1:
    pass
print(round(time.process_time() - cpu, 2))
"""


@pytest.mark.slow
@needs_root
def test_the_cpu_limit_caps_cpu_time(runtime: Runtime) -> None:
    runtime.start(host_spec("busy", "python3", "-c", BUSY, cpu_millicores=250))
    wait_until(exited(runtime, "busy"), what="a second of busy looping")
    used = float(log_of(runtime, "busy"))
    assert 0 < used < 0.4  # at most a quarter of a core for one second (and a period's slack)


@pytest.mark.slow
@needs_root
def test_the_pids_limit_refuses_a_fork_bomb(runtime: Runtime) -> None:
    runtime.start(host_spec("forks", "python3", "-c", FORK_BOMB, pids_max=16))
    seen = report(runtime, "forks")
    assert seen["refused"] == "Resource temporarily unavailable"
    children = seen["children"]
    assert isinstance(children, int) and 0 < children < 16


@pytest.mark.slow
@needs_root
def test_a_disk_holds_no_more_than_its_size(runtime: Runtime) -> None:
    disk = DiskMount("data", "/data", 16)
    runtime.start(host_spec("filler", "python3", "-c", FILL, disks=(disk,)))
    seen = report(runtime, "filler")
    assert seen["errno"] == 28  # ENOSPC
    written = seen["written_mb"]
    assert isinstance(written, int) and 8 <= written < 16


# Pause, resume, stop, restart


COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"


def last_count(runtime: Runtime, key: str) -> int:
    return int(log_of(runtime, key).split()[-1])


@pytest.mark.slow
@needs_root
def test_pause_freezes_and_resume_continues(runtime: Runtime) -> None:
    runtime.start(host_spec("counter", "sh", "-c", COUNTER))
    wait_until(lambda: log_of(runtime, "counter").count("\n") >= 3, what="counting")
    runtime.pause("counter")
    runtime.pause("counter")  # idempotent
    assert state_of(runtime, "counter") is ReplicaState.PAUSED
    frozen_at = last_count(runtime, "counter")
    time.sleep(0.5)
    assert last_count(runtime, "counter") == frozen_at
    runtime.resume("counter")
    assert state_of(runtime, "counter") is ReplicaState.RUNNING
    wait_until(lambda: last_count(runtime, "counter") > frozen_at + 3, what="counting again")
    with pytest.raises(ReplicaNotFound):
        runtime.pause("nobody-here")


@pytest.mark.slow
@needs_root
def test_stop_leaves_nothing_behind(runtime: Runtime) -> None:
    spec = host_spec(
        "doomed",
        "sh",
        "-c",
        "sleep 300 & sleep 300 & exec python3 -m http.server 8000",
        cpu_millicores=250,
        memory_mb=64,
        pids_max=20,
        disks=(DiskMount("data", "/data", 8), DiskMount("logs", "/var/log", 8)),
    )
    started = runtime.start(spec)
    record = read_record(runtime.layout.state("doomed"))
    assert record is not None
    cgroup = runtime.cgroup(record)
    wait_until(lambda: len(cgroup.pids()) >= 5, what="the tree")  # bwrap x2, sh, 2 sleeps
    assert_limits(runtime, record.cgroup)
    pids = cgroup.pids()
    runtime.pause("doomed")  # a frozen replica stops as well
    runtime.stop("doomed")
    runtime.stop("doomed")  # idempotent
    runtime.stop("never-was")
    assert runtime.observe() == {}
    assert not runtime.layout.replica("doomed").exists()
    assert not any(d.exists() for d in cgroup.dirs())
    assert record.netns not in subprocess.run(["ip", "netns"], capture_output=True).stdout.decode()
    assert not Path("/sys/class/net", record.veth).exists()
    assert str(runtime.root) not in Path("/proc/self/mountinfo").read_text()
    losetup = subprocess.run(["losetup", "-a"], capture_output=True).stdout.decode()
    assert str(runtime.root) not in losetup
    assert started.pid in pids
    assert not [pid for pid in pids if alive(pid)]


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie (a killed process whose parent died is a zombie until
    the host's init reaps it: it holds nothing but its pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def assert_limits(runtime: Runtime, name: str) -> None:
    hierarchy = runtime.hierarchy
    if hierarchy.version == 2:
        group = hierarchy.root() / name
        assert (group / "cpu.max").read_text().split() == ["25000", "100000"]
        assert (group / "memory.max").read_text().strip() == str(64 << 20)
        assert (group / "pids.max").read_text().strip() == "20"
        return
    assert set(V1_CONTROLLERS) <= {c for c, _ in hierarchy.roots}
    assert (hierarchy.root("cpu") / name / "cpu.cfs_quota_us").read_text().strip() == "25000"
    memory = hierarchy.root("memory") / name / "memory.limit_in_bytes"
    assert memory.read_text().strip() == str(64 << 20)
    assert (hierarchy.root("pids") / name / "pids.max").read_text().strip() == "20"


def writable_cgroup2() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2" and os.access(fields[1], os.W_OK):
            return Path(fields[1])
    return None


@pytest.mark.slow
@needs_root
def test_freeze_and_kill_in_a_cgroup2_tree() -> None:
    """The v2 code this machine can run: its v2 tree has no controllers (they are v1's), so
    limits cannot be set there, but joining, freezing, killing and removing a group work."""
    mount = writable_cgroup2()
    if mount is None:
        pytest.skip("no writable cgroup2 mount")
    group = Cgroup(Hierarchy(2, (("", mount),)), f"gridchain/test-{os.getpid()}/probe")
    (mount / group.name).mkdir(parents=True)
    try:
        procs = str(group.procs_files()[0])
        join = 'echo $$ > "$1" && exec sleep 300'
        proc = subprocess.Popen(["sh", "-c", join, "sh", procs])
        wait_until(lambda: group.pids() == [proc.pid], what="the process to join")
        assert group.freeze()
        assert group.frozen()
        group.thaw()
        assert not group.frozen()
        group.kill()
        assert proc.wait(timeout=5) == -9
        assert group.pids() == []
    finally:
        group.remove()
    assert not (mount / "gridchain" / f"test-{os.getpid()}").exists()


AGENT = """
import sys
from pathlib import Path
from node.runtime import ReplicaSpec, Runtime
spec = ReplicaSpec(key="survivor", image="host", cpu_millicores=500, memory_mb=64, pids_max=32,
                   entrypoint=("sh", "-c", sys.argv[2]))
print(Runtime(Path(sys.argv[1])).start(spec).ip)
"""


@pytest.mark.slow
@needs_root
def test_replicas_outlive_the_agent_and_a_new_runtime_finds_them(runtime_root: Path) -> None:
    # The agent that starts the replica is another process, and it is gone when we look.
    agent = subprocess.run(
        [sys.executable, "-c", AGENT, str(runtime_root), SERVE],
        capture_output=True,
        text=True,
        check=True,
    )
    ip = agent.stdout.strip()
    restarted = Runtime(runtime_root)
    seen = restarted.observe()["survivor"]
    assert seen.state is ReplicaState.RUNNING
    assert seen.ip == ip
    assert fetch(f"http://{ip}:8000/index.html") == "survivor\n"
    restarted.pause("survivor")
    assert Runtime(runtime_root).observe()["survivor"].state is ReplicaState.PAUSED
    restarted.stop("survivor")
    assert restarted.observe() == {}


# Archive images


def rootfs_archive() -> bytes:
    """A real root filesystem, built from this machine's dash and the two libraries it needs
    (no static binary is at hand): a shell and a script, nothing of Python or the host."""
    dash = Path("/bin/dash").resolve()
    ldd = subprocess.run(["ldd", str(dash)], capture_output=True, text=True, check=True)
    libraries = re.findall(r"(/\S+) \(0x", ldd.stdout)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for library in libraries:
            tar.add(Path(library).resolve(), arcname=library.lstrip("/"))
        tar.add(dash, arcname="usr/bin/dash")
        add_symlink(tar, "bin", "/usr/bin")  # absolute targets, as real images have them
        add_symlink(tar, "usr/bin/sh", "/usr/bin/dash")
        add_symlink(tar, "etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf")
        script = (
            b"echo image says hello\n"
            b"[ -e /usr/bin/python3 ] && echo host python visible || echo no host python\n"
            b"read -r name < /etc/hostname; echo hostname $name\n"
            b"echo kept > /data/file && read -r back < /data/file && echo disk $back\n"
        )
        add_file(tar, "app/run.sh", script)
    return buffer.getvalue()


def add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = tarfile.SYMTYPE
    member.linkname = target
    tar.addfile(member)


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o755
    tar.addfile(member, io.BytesIO(data))


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on loopback serving `tmp_path`: (its base URL, the directory)."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def archive_spec(key: str, image: str, url: str) -> ReplicaSpec:
    return ReplicaSpec(
        key=key,
        image=image,
        image_url=url,
        entrypoint=("/bin/sh", "/app/run.sh"),
        cpu_millicores=500,
        memory_mb=64,
        pids_max=16,
        disks=(DiskMount("data", "/data", 8),),
    )


@pytest.mark.slow
@needs_root
def test_an_archive_image_runs_only_with_its_sha256(
    runtime: Runtime, image_server: tuple[str, Path]
) -> None:
    base, served = image_server
    archive = rootfs_archive()
    (served / "rootfs.tar.gz").write_bytes(archive)
    url = f"{base}/rootfs.tar.gz"
    digest = hashlib.sha256(archive).hexdigest()
    wrong = "sha256:" + hashlib.sha256(b"another image").hexdigest()
    with pytest.raises(ImageMismatch, match=digest):
        runtime.start(archive_spec("tampered", wrong, url))
    assert runtime.observe() == {}
    assert not runtime.layout.replica("tampered").exists()
    assert list((runtime.layout.images / "sha256").iterdir()) == []
    assert list((runtime.layout.images / "partial").iterdir()) == []

    runtime.start(archive_spec("boxed", f"sha256:{digest}", url))
    wait_until(exited(runtime, "boxed"), what="the script to end")
    assert runtime.observe()["boxed"].exit_code == 0
    assert log_of(runtime, "boxed").splitlines() == [
        "image says hello",
        "no host python",
        "hostname boxed",
        "disk kept",
    ]
    assert (runtime.layout.images / "sha256" / digest / "usr/bin/dash").is_file()
    assert os.readlink(runtime.layout.images / "sha256" / digest / "usr/bin/sh") == "dash"


@pytest.mark.slow
@needs_root
def test_an_archive_that_escapes_its_tree_is_refused(
    runtime: Runtime, image_server: tuple[str, Path]
) -> None:
    base, served = image_server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        add_file(tar, "../escaped-by-gridchain-test", b"outside")
    (served / "evil.tar").write_bytes(buffer.getvalue())
    image = "sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest()
    with pytest.raises(ImageInvalid):
        runtime.start(archive_spec("evil", image, f"{base}/evil.tar"))
    assert not (runtime.layout.images / "escaped-by-gridchain-test").exists()
    assert not (runtime.layout.root / "escaped-by-gridchain-test").exists()
    assert runtime.observe() == {}


# No sandbox needed


def test_the_log_stays_under_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b"a" * 1000 + b"b" * 1000)
        cap_log(log, 1000)
        assert (tmp_path / "log.1").read_bytes() == b"b" * 500
        os.write(fd, b"c")  # the workload's descriptor writes at the new end
        assert log.read_bytes() == b"c"
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "change",
    [
        {"key": "Web"},
        {"key": "a/../b"},
        {"key": "-web"},
        {"image": "ubuntu:22.04"},
        {"image": "sha256:" + "ab" * 32},  # no URL
        {"entrypoint": ()},
        {"memory_mb": 1},
        {"pids_max": 1},
        {"ports": (80, 80)},
        {"env": (("BAD-NAME", "x"),)},
        {"disks": (DiskMount("data", "/usr/data", 16),)},
        {"disks": (DiskMount("data", "/data/../etc", 16),)},
        {"disks": (DiskMount("a", "/data", 16), DiskMount("b", "/data", 16))},
        {"disks": (DiskMount("data", "/data", 1),)},
    ],
)
def test_a_spec_the_runtime_cannot_run_is_refused(change: dict[str, object]) -> None:
    fields: dict[str, object] = {"key": "web-r0", "image": "host", "entrypoint": ("true",)}
    fields.update({"cpu_millicores": 100, "memory_mb": 64, "pids_max": 16})
    fields.update(change)
    with pytest.raises(InvalidReplicaSpec):
        ReplicaSpec(**fields)  # type: ignore[arg-type]


def test_the_spec_hash_tells_versions_apart() -> None:
    one = host_spec("web-r0", "python3", "-m", "http.server")
    assert one.hash == host_spec("web-r0", "python3", "-m", "http.server").hash
    assert one.hash != host_spec("web-r0", "python3", "-m", "http.server", memory_mb=256).hash
