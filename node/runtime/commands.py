"""The system commands the runtime runs, found once and run with their errors kept.

The runtime drives iproute2, util-linux, e2fsprogs and bubblewrap through their command lines,
as an operator would by hand (`make install` installs them): each failure carries the command's
own stderr, and each step can be replayed in a shell to see what went wrong.
"""

import shutil
import subprocess
from collections.abc import Sequence

from node.runtime.errors import CommandFailed, SandboxUnavailable

# Where root's commands live on Debian, whatever PATH the agent was started with.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REQUIRED = ("bwrap", "ip", "nsenter", "setpriv", "mkfs.ext4", "mount", "umount", "losetup", "sh")
TIMEOUT = 60.0


def require_commands() -> None:
    """Raise SandboxUnavailable naming every command this machine lacks."""
    missing = [name for name in REQUIRED if shutil.which(name, path=SYSTEM_PATH) is None]
    if missing:
        raise SandboxUnavailable(
            f"missing commands: {', '.join(missing)} (`make install` installs their packages)"
        )


def run(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run `argv` to completion and return its stdout; CommandFailed if it fails."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=system_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise CommandFailed(
            f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip()}"
        )
    return done.stdout


def system_env() -> dict[str, str]:
    """The environment of the commands that set a sandbox up (not the workload's)."""
    return {"PATH": SYSTEM_PATH, "LC_ALL": "C"}
