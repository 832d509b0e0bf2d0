"""A devnet with farm nodes for end-to-end tests, driven as a user drives it: `gridchain devnet`
and `gridchain workload` commands in subprocesses, the gateway asked over HTTP with a Host
header, and the machine looked at (/proc, the farmers' runtime directories).

The devnet lives under /tmp, not pytest's tmp_path: the farmers' sandbox runtimes need every
parent directory searchable by others, and pytest's temporary directories are not.
"""

import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chain.address import parse_address
from chain.keys import KeyPair
from devnet import network
from devnet.network import free_base_port
from node.api.client import ApiError, NodeClient
from node.keystore import DEVNET_PASSPHRASE, Keystore
from node.runtime import Observed, Runtime
from tests.kit.netkit import wait_until
from tests.kit.support import as_json, gridchain, transfer

NOT_SERVED = "no workload is served under this name here"  # the gateway's 404
NOT_RUNNING = "the workload is not running now"  # its 503


@dataclass
class Devnet:
    directory: Path
    env: dict[str, str]
    base: int

    def run(self, *args: str) -> Any:
        """`gridchain devnet ARGS --dir DIR --json`, answered as JSON."""
        return as_json(
            gridchain("devnet", *args, "--dir", str(self.directory), "--json", env=self.env)
        )

    def status(self) -> Any:
        return self.run("status")

    def gridchain(self, *args: str) -> Any:
        """`gridchain ARGS --json` against this devnet (its keystore, its first node)."""
        return as_json(gridchain(*args, "--json", env=self.env))

    @property
    def client(self) -> NodeClient:
        return NodeClient(self.env["GRIDCHAIN_NODE"], timeout=5)


@contextmanager
def devnet_in_tmp(prefix: str) -> Iterator[Devnet]:
    """A running devnet of one validator and no farmer yet, under a directory others may walk
    through; brought down (`devnet down --purge`) and deleted after."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    directory = root / "devnet"
    base = free_base_port(1)
    env = {
        **os.environ,
        "GRIDCHAIN_KEYSTORE": str(directory / "keys"),
        "GRIDCHAIN_PASSPHRASE": DEVNET_PASSPHRASE,
        "GRIDCHAIN_NODE": f"http://127.0.0.1:{base}",
    }
    net = Devnet(directory, env, base)
    try:
        net.run("up", "--validators", "1", "--base-port", str(base))
        yield net
    finally:
        gridchain("devnet", "down", "--dir", str(directory), "--purge", env=env, check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def ticking_farmers(devnet: Devnet, farmers: int) -> Iterator[tuple[Any, Any]]:
    """`devnet up` again with `farmers` farmers, each heartbeating before it yields, and a
    Ticker making blocks until the block ends: (up's answer, the devnet's status). Skips the
    test where the sandbox runtime cannot run (it needs root)."""
    base = str(devnet.base)
    up = devnet.run("up", "--validators", "1", "--base-port", base, "--farmers", str(farmers))
    status = devnet.status()
    if not all(f["containers"] for f in status["farmers"]):
        pytest.skip("the sandbox runtime cannot run here (it needs root)")
    client = devnet.client
    for farmer in status["farmers"]:
        node = farmer["node"]
        wait_until(lambda n=node: activity(client, n).get("heartbeats", 0) > 0, 30, "beats")
    ticker = Ticker(devnet)
    ticker.start()
    try:
        yield up, status
    finally:
        ticker.stop()


def fetch(address: str, host: str) -> tuple[int, str]:
    """(status, body) of GET / on `address` with the Host header `host`."""
    request = urllib.request.Request(f"http://{address}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:  # not listening (yet), reset
        return 0, str(exc)


def activity(client: NodeClient, node: int) -> dict[str, Any]:
    found: dict[str, Any] = client.node(node)["activity"] or {}
    return found


def processes_under(directory: Path) -> list[str]:
    """Command lines of live processes that name `directory` (nginx's master names its -p)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in text and str(os.getpid()) != cmdline.parent.name:
            found.append(text)
    return found


def deploy(devnet: Devnet, spec: dict[str, Any], deposit: int | None = None) -> int:
    """`spec` submitted by alice (its only signer, 1 of 1) with `deposit` (the spec's budget
    by default), then approved by her: authorized. Returns the workload id."""
    path = devnet.directory.parent / f"{spec['name']}.json"
    path.write_text(json.dumps(spec))
    extra = () if deposit is None else ("--deposit", str(deposit))
    submitted = devnet.gridchain(
        "workload", "submit", str(path), "--from", "alice", "--require", "alice",
        "--threshold", "1", *extra,
    )  # fmt: skip
    wid = int(submitted["id"])
    approved = devnet.gridchain("workload", "approve", str(wid), "--key", "alice")
    assert approved["state"] == "authorized", approved
    return wid


def workload_status(devnet: Devnet, wid: int) -> dict[str, Any]:
    view: dict[str, Any] = devnet.gridchain("workload", "status", str(wid))
    return view


def replicas_of(devnet: Devnet, farmer: str, wid: int) -> list[Path]:
    """The replica directories of workload `wid` in farmer `farmer`'s sandbox runtime."""
    replicas = devnet.directory / farmer / "runtime" / "replicas"
    return sorted(replicas.glob(f"w{wid}-*")) if replicas.is_dir() else []


def observed(devnet: Devnet, farmer: str) -> dict[str, Observed]:
    """What a farmer's sandbox runtime runs, as the machine shows it (root only)."""
    loaded = network.load_devnet(devnet.directory)
    assert loaded is not None
    entry = next(f for f in loaded.farmers if f.name == farmer)
    return Runtime(entry.runtime, subnet=entry.subnet).observe()


def farmer_events(devnet: Devnet, farmer: str, event: str) -> list[dict[str, Any]]:
    """The JSON events `event` of a farmer's log (`farmer run --json`: one a line)."""
    found = []
    for line in (devnet.directory / farmer / "farmer.log").read_text().splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            if item.get("event") == event:
                found.append(item)
    return found


class Ticker(threading.Thread):
    """Keeps the chain at its block interval: a devnet with no transactions makes a block only
    every empty_block_interval_ms (1 s), so a test waiting for billing periods and grace
    periods counted in blocks sends bob's small transfers to alice, a few a second."""

    def __init__(self, devnet: Devnet, every: float = 0.3) -> None:
        super().__init__(daemon=True, name="ticker")
        self.client = devnet.client
        self.bob: KeyPair = Keystore(devnet.directory / "keys").load("bob", DEVNET_PASSPHRASE)
        loaded = network.load_devnet(devnet.directory)
        assert loaded is not None
        self.alice = parse_address(loaded.accounts["alice"])
        self.bob_address = loaded.accounts["bob"]
        self.every = every
        self.done = threading.Event()

    def run(self) -> None:
        nonce: int | None = None
        while not self.done.wait(self.every):
            try:
                if nonce is None:
                    nonce = int(self.client.account(self.bob_address)["next_nonce"])
                tx = transfer(self.bob, self.alice, 1, nonce, chain_id=network.CHAIN_ID)
                self.client.submit_tx(tx.encoded)
                nonce += 1
            except (ApiError, OSError, KeyError, ValueError):
                nonce = None  # read it again: a refused or lost transfer leaves a gap

    def stop(self) -> None:
        self.done.set()
        self.join(10)
