"""The release this node runs, and what it does when the chain needs another.

The chain says which release must make each block (chain/governance/upgrade.py). A node whose
release is not that one stops before the height (never voting, building or applying a block
under rules it does not hold) with exit code UPGRADE_EXIT_CODE, after writing which release it
needs to HOME/data/upgrade-info.json, as cosmovisor's upgrade-info.json: the supervisor
(node/supervisor.py) reads it, fetches and checks the release, and starts the node again.
"""

import importlib.metadata
import json
from typing import Any

from chain.errors import LocalFault
from chain.governance.txs import UpgradePlan
from chain.governance.upgrade import required_release
from chain.state import StateReader
from node.config import Home, write_file_atomically

UPGRADE_EXIT_CODE = 10


def installed_version() -> str:
    try:
        return importlib.metadata.version("gridchain")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0.1.0+source"


VERSION = installed_version()


class UpgradeNeeded(LocalFault):
    """The chain runs another release at `height` than this node: not a fault of the chain,
    nor of this machine, but the node cannot go on."""

    code = "upgrade_needed"
    exit_code = UPGRADE_EXIT_CODE

    def __init__(self, release: UpgradePlan, height: int, running: str = VERSION) -> None:
        super().__init__(
            f"from height {height} the chain runs release {release.version} (upgrade "
            f"{release.name!r}); this node runs {running}: it stops before that height "
            "(`gridchain node supervise` switches releases)"
        )
        self.release = release
        self.height = height
        self.running = running


def check_release(reader: StateReader, height: int) -> None:
    """Raise UpgradeNeeded unless this node's release may make and check block `height`."""
    release = required_release(reader, height)
    if release is not None and release.version != VERSION:
        raise UpgradeNeeded(release, height)


def upgrade_info(needed: UpgradeNeeded) -> dict[str, Any]:
    plan = needed.release
    return {
        "name": plan.name,
        "height": needed.height,
        "version": plan.version,
        "sha256": plan.sha256.hex(),
        "url": plan.url,
        "running": needed.running,
    }


def write_upgrade_info(home: Home, needed: UpgradeNeeded) -> None:
    home.upgrade_info_file.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(home.upgrade_info_file, json.dumps(upgrade_info(needed), indent=2) + "\n")
