"""A software upgrade approved by the council, switched at its height on a 4-validator devnet.

Each validator runs under `gridchain node supervise`. The next release is a real wheel built
here from this tree, with a version bump and a visible rule change (it refuses transfers of
13 credits). At the plan's height every node stops after committing the height before, its
supervisor fetches the wheel, checks its sha256 and restarts the node on it: the new rule holds
from that height, the nodes agree on every block, finality resumes. A node that was down at
the switch comes back on the old release, refuses to go past the height, and catches up once
its supervisor switches it. A plan whose artifact does not have the approved sha256 is refused
by every supervisor, and no node switches to it.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet import network
from node.api.client import NodeClient
from node.config import Home
from node.keystore import DEVNET_PASSPHRASE
from node.release import UPGRADE_EXIT_CODE, VERSION
from tests.kit.netkit import wait_until
from tests.kit.support import as_json, gridchain

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("chain", "consensus", "vm", "contracts_std", "genesis", "node", "devnet")
PARAMS = {"block_interval_ms": 200, "empty_block_interval_ms": 500}
NEXT = f"{VERSION}+up1"
RULE = "release up1 refuses transfers of 13"


def build_release(directory: Path, version: str) -> Path:
    """A wheel of this tree as release `version`, with one rule changed."""
    source = directory / "source"
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    project = source / "pyproject.toml"
    text, count = re.subn(r'(?m)^version = ".*"$', f'version = "{version}"', project.read_text())
    assert count == 1
    project.write_text(text)
    rules = source / "chain" / "ledger" / "execution.py"
    anchor = "    payload = payload_as(tx, Transfer)\n"
    assert anchor in rules.read_text()
    rules.write_text(
        rules.read_text().replace(
            anchor,
            anchor + f"    if payload.amount == 13:\n        raise InvalidTransaction({RULE!r})\n",
        )
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(directory / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = (directory / "dist").glob("*.whl")
    return wheel


class Supervised:
    """The devnet's validators, each under its own `gridchain node supervise`."""

    def __init__(self, directory: Path, nodes: list[network.NodeEntry]) -> None:
        self.directory = directory
        self.nodes = {n.name: n for n in nodes}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        home = self.nodes[name].home
        log = open(Path(home) / "supervisor.log", "ab")  # noqa: SIM115 - the child keeps it
        self.processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node",
                "node",
                "supervise",
                "--home",
                home,
                "--retry-seconds",
                "0.5",
                "--json",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def client(self, name: str) -> NodeClient:
        return NodeClient(self.nodes[name].api, timeout=5)

    def height(self, name: str) -> int:
        return int(self.client(name).status()["height"])

    def status(self, name: str) -> dict[str, Any]:
        path = Home(Path(self.nodes[name].home)).releases_dir / "status.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Supervised]:
    directory = tmp_path / "devnet"
    result = network.up(directory, 4, network.free_base_port(4), params=PARAMS, start=False)
    supervised = Supervised(directory, result.devnet.nodes)
    try:
        for name in supervised.nodes:
            supervised.start(name)
        yield supervised
    finally:
        for name in list(supervised.processes):
            supervised.stop(name)


def cli(net: Supervised, *args: str, check: bool = True) -> Any:
    env = {
        **os.environ,
        "GRIDCHAIN_KEYSTORE": str(net.directory / "keys"),
        "GRIDCHAIN_PASSPHRASE": DEVNET_PASSPHRASE,
        "GRIDCHAIN_NODE": net.nodes["node0"].api,
    }
    result = gridchain(*args, "--json", env=env, check=check)
    return as_json(result) if check else result


def send(net: Supervised, amount: int, check: bool = True) -> Any:
    bob = json.loads((net.directory / "devnet.json").read_text())["accounts"]["bob"]
    return cli(
        net,
        "tx",
        "transfer",
        "--from",
        "alice",
        "--to",
        bob,
        "--amount",
        str(amount),
        "--wait",
        "--timeout",
        "60",
        check=check,
    )


def hashes(net: Supervised, name: str, heights: range) -> list[str]:
    client = net.client(name)
    return [client.block(h)["header"]["hash"] for h in heights]


def test_an_approved_release_is_switched_at_its_height(net: Supervised, tmp_path: Path) -> None:
    wheel = build_release(tmp_path / "release", NEXT)
    everyone, running = list(net.nodes), ["node0", "node1", "node2"]
    wait_until(lambda: min(net.height(n) for n in everyone) >= 3, 120, "the devnet's first blocks")
    assert net.client("node0").status()["version"] == VERSION
    send(net, 13)  # the rule as it is: a transfer of 13 is fine

    height = net.height("node0") + 25
    proposed = cli(
        net,
        "gov",
        "propose",
        "upgrade",
        "--name",
        "up1",
        "--height",
        str(height),
        "--version",
        NEXT,
        "--artifact",
        str(wheel),
        "--key",
        "council1",
        "--wait",
    )
    cli(net, "gov", "approve", proposed["id"], "--key", "council2", "--wait")
    plan = net.client("node0").get("/v1/upgrade")["plan"]
    assert (
        plan["version"] == NEXT and plan["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    )
    net.stop("node3")  # it misses the switch

    wait_until(lambda: min(net.height(n) for n in running) >= height + 3, 180, "the switch")
    for name in running:
        assert net.client(name).status()["version"] == NEXT
        assert net.status(name)["current"] == NEXT
    client = net.client("node0")
    assert client.get("/v1/upgrade")["running"]["version"] == NEXT
    assert client.block(height - 1)["header"]["version"] == VERSION
    assert client.block(height)["header"]["version"] == NEXT
    pause = (
        client.block(height)["header"]["time_ms"] - client.block(height - 1)["header"]["time_ms"]
    )
    print(f"switch pause: block {height - 1} to {height}: {pause} ms")  # docs/governance.md
    span = range(height - 2, height + 3)
    assert hashes(net, "node0", span) == hashes(net, "node1", span) == hashes(net, "node2", span)
    refused = send(net, 13, check=False)
    assert refused.returncode != 0 and RULE in refused.stdout
    send(net, 14)  # finality goes on

    # node3 comes back on the old release: it follows the chain to the height, and stops there.
    home = net.nodes["node3"].home
    old = subprocess.run(
        [sys.executable, "-m", "node", "node", "run", "--home", home],
        capture_output=True,
        timeout=120,
        cwd=home,
    )
    assert old.returncode == UPGRADE_EXIT_CODE, old.stderr[-2000:]
    info = json.loads(Home(Path(home)).upgrade_info_file.read_text())
    assert (info["version"], info["height"], info["name"]) == (NEXT, height, "up1")
    net.start("node3")  # its supervisor switches it, and it catches up
    wait_until(lambda: net.height("node3") >= height + 5, 120, "node3 to catch up")
    assert hashes(net, "node3", span) == hashes(net, "node0", span)

    # An artifact that is not the approved one is refused, and nobody switches to it.
    tampered = tmp_path / "tampered.whl"
    tampered.write_bytes(wheel.read_bytes() + b"\0")
    second = net.height("node0") + 15
    proposed = cli(
        net,
        "gov",
        "propose",
        "upgrade",
        "--name",
        "up2",
        "--height",
        str(second),
        "--version",
        f"{VERSION}+up2",
        "--url",
        tampered.as_uri(),
        "--sha256",
        hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "--key",
        "council3",
        "--wait",
    )
    cli(net, "gov", "approve", proposed["id"], "--key", "council1", "--wait")
    wait_until(
        lambda: all(net.status(n).get("state") == "refused" for n in everyone),
        120,
        "every supervisor to refuse the artifact",
    )
    for name in everyone:
        assert net.status(name)["current"] == NEXT
        assert "sha256" in net.status(name)["message"]
        assert not (Home(Path(net.nodes[name].home)).releases_dir / f"{VERSION}+up2").exists()
    time.sleep(1)
    assert (
        json.loads((Home(Path(net.nodes["node0"].home)).upgrade_info_file).read_text())["height"]
        == second
    )
