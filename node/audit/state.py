"""What the monitor keeps between rounds and between runs, in one JSON file under its home.

The state is the last head from each node that passed every check, and the largest such head
overall; every head kept is a prefix of the largest (each was checked against the largest of its
time, and each new largest against the one before), so checking a new head against its own
node's last head and against the largest checks it against every head kept.

Forgetting a head would let a node that once showed the monitor one log later show it another
unnoticed, so the file is written whole (temporary file, fsync, rename, fsync of the folder) and
a file that does not read back is an error naming it, never a fresh start. One monitor at a time
uses a home: a second one would overwrite the first's heads with its own.
"""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.errors import CorruptRecord, LocalFault
from node.audit.heads import TreeHead
from node.config import write_file_atomically

MONITOR_HOME_ENV = "GRIDCHAIN_MONITOR_HOME"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
STATE_VERSION = 1


class MonitorBusy(LocalFault):
    """Another monitor process holds this home."""

    code = "monitor_busy"


def default_monitor_home() -> Path:
    """$GRIDCHAIN_MONITOR_HOME, else ~/.gridchain/monitor (beside the keystore's default)."""
    env = os.environ.get(MONITOR_HOME_ENV)
    return Path(env) if env else Path.home() / ".gridchain" / "monitor"


@dataclass
class MonitorState:
    heads: dict[str, TreeHead] = field(default_factory=dict)  # by node URL
    largest: TreeHead | None = None

    def keep(self, head: TreeHead) -> None:
        """Record a head that passed every check."""
        self.heads[head.node] = head
        largest = self.largest
        if largest is None or (head.audit_size, head.height) > (
            largest.audit_size,
            largest.height,
        ):
            self.largest = head

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "heads": [self.heads[node].to_json() for node in sorted(self.heads)],
            "largest": None if self.largest is None else self.largest.to_json(),
        }

    @classmethod
    def from_json(cls, view: Any) -> "MonitorState":
        """The inverse of to_json; ValueError saying what is wrong."""
        if not isinstance(view, dict) or view.get("version") != STATE_VERSION:
            raise ValueError(f"not a monitor state of version {STATE_VERSION}")
        heads = view.get("heads")
        if not isinstance(heads, list):
            raise ValueError("'heads' is not a list")
        state = cls({head.node: head for head in map(TreeHead.from_json, heads)})
        if len(state.heads) != len(heads):
            raise ValueError("'heads' names a node twice")
        if view.get("largest") is not None:
            state.largest = TreeHead.from_json(view["largest"])
        elif state.heads:
            raise ValueError("heads are kept but no largest head")
        return state


def state_file(home: Path) -> Path:
    return home / STATE_FILE


def load_state(path: Path) -> MonitorState:
    """The state kept at `path`; an empty one if there is no file yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return MonitorState()
    try:
        return MonitorState.from_json(json.loads(text))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptRecord(
            f"monitor state {path} does not read back ({exc}); it was left as it is. Starting "
            "afresh forgets every head seen: move the file away to do that"
        ) from None


def save_state(path: Path, state: MonitorState) -> None:
    write_file_atomically(path, json.dumps(state.to_json(), indent=2) + "\n")


@contextmanager
def locked_home(home: Path) -> Iterator[Path]:
    """Hold the home for this process (an flock on HOME/lock); yields the state file's path."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MonitorBusy(f"another audit monitor is using {home}") from None
        yield state_file(home)
    finally:
        os.close(fd)
