"""`gridchain node supervise`: run a node, and switch it to the release the chain needs.

After cosmovisor. The supervisor runs `gridchain node run` of the current release as its child.
When the child stops with UPGRADE_EXIT_CODE, it has written HOME/data/upgrade-info.json (the
release the chain runs from the upgrade's height: version, artifact URL, sha256); the
supervisor fetches the artifact, refuses it if its sha256 is not the plan's (and keeps
refusing, the node stopped, until the artifact at that URL is the approved one), unpacks the
wheel into HOME/releases/VERSION/, makes it current and starts the node again. A node that
stops for any other reason ends the supervisor with its exit code (systemd restarts both).

Releases are pure-Python wheels of the gridchain distribution: unpacked, their folder goes first
on the child's PYTHONPATH, so the child imports that release's packages (and reports its version
from the wheel's metadata), with the dependencies of the environment the supervisor runs in.
The installed release (the supervisor's own) needs no folder.
"""

import ctypes
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from types import FrameType
from typing import Any

from chain.errors import LocalFault
from node.config import Home, write_file_atomically
from node.release import UPGRADE_EXIT_CODE, VERSION

log = logging.getLogger("gridchain.supervisor")

MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT = 60.0


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _dies_with(parent: int) -> Callable[[], None]:
    """Run in the node's process before it starts: it gets SIGTERM when the supervisor dies,
    even by kill -9, so a supervisor started again never finds the node's ports held by an
    orphan. (The supervisor has no threads, so a preexec_fn is safe here.)"""

    def arrange() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before the line above
            os._exit(1)

    return arrange


class ReleaseRefused(LocalFault):
    """An artifact that is not the approved release: never installed, never run."""

    code = "release_refused"


@dataclass(frozen=True)
class UpgradeInfo:
    name: str
    height: int
    version: str
    sha256: str
    url: str

    @property
    def approved(self) -> bool:
        """Whether the chain holds the artifact's hash (every upgrade; not the genesis
        release, which the genesis file names by version alone)."""
        return self.sha256.strip("0") != ""


def read_upgrade_info(path: Path) -> UpgradeInfo | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        return UpgradeInfo(
            str(doc["name"]),
            int(doc["height"]),
            str(doc["version"]),
            str(doc["sha256"]),
            str(doc["url"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalFault(f"{path} is not an upgrade-info file: {exc}") from None


def fetch(url: str) -> bytes:
    """The artifact at `url` (http, https or file), at most MAX_ARTIFACT_BYTES."""
    if not url.startswith(("https://", "http://", "file://")):
        raise ReleaseRefused(f"{url!r} is not an http(s) or file URL")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            data: bytes = response.read(MAX_ARTIFACT_BYTES + 1)
    except OSError as exc:
        raise LocalFault(f"cannot fetch {url}: {exc}") from None
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ReleaseRefused(f"{url} is larger than {MAX_ARTIFACT_BYTES} bytes")
    return data


def wheel_version(wheel: zipfile.ZipFile) -> str:
    """The Version of the gridchain distribution a wheel holds (its dist-info METADATA)."""
    names = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    if len(names) != 1 or not names[0].startswith("gridchain-"):
        raise ReleaseRefused("the artifact is not a wheel of the gridchain distribution")
    metadata = Parser().parsestr(wheel.read(names[0]).decode())
    return str(metadata.get("Version", ""))


class Releases:
    """HOME/releases: a folder per installed release, and `current`, the one to run."""

    def __init__(self, home: Home) -> None:
        self.root = home.releases_dir
        self.current_file = self.root / "current"
        self.status_file = self.root / "status.json"

    def current(self) -> str:
        if self.current_file.exists():
            return self.current_file.read_text().strip()
        return VERSION

    def folder(self, version: str) -> Path | None:
        """Where a release's packages are; None for the installed one."""
        return None if version == VERSION else self.root / version

    def has(self, info: UpgradeInfo) -> bool:
        """The release is here, and is the artifact this plan approved (a later plan may name
        a version again with another artifact: that one is fetched and checked anew)."""
        folder = self.folder(info.version)
        if folder is None:
            return True
        marker = folder / ".sha256"
        if not marker.exists():
            return False
        return not info.approved or marker.read_text().strip() == info.sha256.lower()

    def set_current(self, version: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_file_atomically(self.current_file, version + "\n")

    def install(self, info: UpgradeInfo, artifact: bytes) -> None:
        """Unpack the artifact as release `info.version`, after checking it is the one the
        chain approved: its sha256, and the version its metadata declares. (The genesis
        release has no hash on chain: only the operator's own --artifact can be it.)"""
        digest = hashlib.sha256(artifact).hexdigest()
        if info.approved and digest != info.sha256.lower():
            raise ReleaseRefused(
                f"the artifact at {info.url} has sha256 {digest}; upgrade {info.name!r} "
                f"approved {info.sha256}: refused"
            )
        folder = self.folder(info.version)
        assert folder is not None
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        wheel_file = partial / "release.whl"
        wheel_file.write_bytes(artifact)
        try:
            with zipfile.ZipFile(wheel_file) as wheel:
                declared = wheel_version(wheel)
                if declared != info.version:
                    raise ReleaseRefused(
                        f"the artifact declares version {declared!r}, the upgrade {info.version!r}"
                    )
                wheel.extractall(partial)
        except zipfile.BadZipFile:
            raise ReleaseRefused(f"the artifact at {info.url} is not a wheel") from None
        (partial / ".sha256").write_text(digest + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)

    def report(self, state: str, message: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        status = {"state": state, "current": self.current(), "message": message}
        write_file_atomically(self.status_file, json.dumps(status, indent=2) + "\n")


class Supervisor:
    def __init__(
        self,
        home: Home,
        say: Callable[[dict[str, Any]], None],
        retry_seconds: float = 5.0,
        artifacts: tuple[Path, ...] = (),
    ) -> None:
        self.home = home
        self.artifacts = artifacts  # wheels the operator provides: used before any URL
        self.releases = Releases(home)
        self.say = say
        self.retry_seconds = retry_seconds
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def event(self, state: str, message: str) -> None:
        self.releases.report(state, message)
        self.say({"state": state, "current": self.releases.current(), "message": message})

    def run(self) -> int:
        """Until the node stops for another reason than an upgrade, or we are told to stop."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.stopping:
                if not self.prepare():
                    self._sleep(self.retry_seconds)
                    continue
                if self.stopping:  # told to stop while fetching
                    break
                code = self.run_node()
                if self.stopping or code != UPGRADE_EXIT_CODE:
                    self.event("stopped", f"the node exited with code {code}")
                    return code
                info = read_upgrade_info(self.home.upgrade_info_file)
                if info is None or info.version == self.releases.current():
                    self.event(
                        "waiting",
                        "the node stopped for an upgrade but names none "
                        "other than the release it runs; trying again",
                    )
                    self._sleep(self.retry_seconds)
            return 0
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def prepare(self) -> bool:
        """Make the release the node needs current, fetching it if needed; False if it cannot
        be had now (refused, or not reachable): the node is not started on the wrong one."""
        info = read_upgrade_info(self.home.upgrade_info_file)
        if info is None or info.version == self.releases.current():
            return True
        if not self.releases.has(info):
            self.event("fetching", f"upgrade {info.name!r}: release {info.version} from {info.url}")
            try:
                self.releases.install(info, self.artifact(info))
            except LocalFault as exc:
                state = "refused" if isinstance(exc, ReleaseRefused) else "unavailable"
                self.event(state, f"{exc.message}; the node stays stopped, trying again")
                return False
        self.releases.set_current(info.version)
        self.event(
            "switched", f"upgrade {info.name!r}: release {info.version} from height {info.height}"
        )
        return True

    def artifact(self, info: UpgradeInfo) -> bytes:
        """The operator's own wheel of that version if given (--artifact), else the plan's URL."""
        for path in self.artifacts:
            data = path.read_bytes()
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                    if wheel_version(wheel) == info.version:
                        return data
            except (zipfile.BadZipFile, ReleaseRefused):
                continue
        if not info.url:
            raise ReleaseRefused(
                f"release {info.version} ({info.name}) has no URL on chain: give its wheel with "
                "--artifact"
            )
        return fetch(info.url)

    def run_node(self) -> int:
        version = self.releases.current()
        env = dict(os.environ)
        folder = self.releases.folder(version)
        if folder is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(folder), *filter(None, [env.get("PYTHONPATH")])]
            )
        command = [sys.executable, "-m", "node", "node", "run", "--home", str(self.home.root)]
        # cwd: the home, so no source tree of ours shadows the release (python -m puts the
        # working directory first on the path).
        self.child = subprocess.Popen(
            command, env=env, cwd=self.home.root, preexec_fn=_dies_with(os.getpid())
        )
        if self.stopping:  # a signal between the start and here reached no child
            self.child.terminate()
        self.event("running", f"release {version}, pid {self.child.pid}")
        code = self.child.wait()
        self.child = None
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None:
            self.child.send_signal(signum)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)
