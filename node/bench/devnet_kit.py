"""What the benchmarks on a real devnet with farmers share (`bench deploy-latency`, `bench
heal`): the devnet launched under /tmp and brought down with a check that nothing of it is
left, alice's workloads (a small web page behind a gateway name, submitted with her as the one
signer, approved, cancelled), the gateway asked for a page with the name's Host header, and
the deployment's steps read back from the audit log.

The devnet lives in a temporary directory in /tmp, not under the caller's tree: the farmers'
sandbox runtimes need every parent directory searchable by others. Every figure of these
benches is a wall-clock time on this one machine, so block header times (the proposer's clock)
and time.time() are on the same clock.
"""

import contextlib
import hashlib
import http.client
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devnet import network
from devnet.customer import Owner, Sender
from devnet.farmers import FarmerEntry
from devnet.processes import DevnetError, Progress
from node.api.client import NodeClient
from node.keystore import Keystore

POLL = 0.02  # seconds between looks at the gateway or the chain while waiting for a step
NOT_RUNNING = 503  # the gateway serves the name, its replica is not deployed (yet, or now)
NOT_SERVED = 404  # the gateway serves no such name
TEARDOWN_TIMEOUT = 60.0


class BenchError(DevnetError):
    """The devnet cannot run the bench (no sandbox here, a workload never served)."""


# The gateway


def fetch(address: str, host: str) -> tuple[int, str]:
    """(status, body) of GET / on the gateway at `address` for `host`; 0 if it did not answer."""
    name, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(name, int(port), timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)
    finally:
        connection.close()


@dataclass(frozen=True)
class Watched:
    """What the gateway answered while a bench waited: the first time (time.time()) each
    status came (0: no answer), and when the answer waited for came."""

    first: dict[int, float]
    answered: float


@dataclass(frozen=True)
class Gateway:
    address: str  # host:port of its nginx
    domain: str

    def host(self, subdomain: str) -> str:
        return f"{subdomain}.{self.domain}"

    def fetch(self, subdomain: str) -> tuple[int, str]:
        return fetch(self.address, self.host(subdomain))

    def wait_answer(
        self, subdomain: str, wanted: Callable[[int, str], bool], timeout: float
    ) -> Watched:
        """Ask every POLL seconds until an answer (status, body) is `wanted`."""
        first: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while True:
            code, body = self.fetch(subdomain)
            now = time.time()
            first.setdefault(code, now)
            if wanted(code, body):
                return Watched(first, now)
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.host(subdomain)}: no awaited answer within {timeout:g} s "
                    f"(last: {code} {body.strip()[:80]!r})"
                )
            time.sleep(POLL)

    def wait_page(self, subdomain: str, page: str, timeout: float) -> Watched:
        """Until the name serves `page`."""
        return self.wait_answer(
            subdomain, lambda code, body: code == 200 and body.strip() == page, timeout
        )


# The devnet


@dataclass
class BenchNet:
    """A running devnet with farmers, seen from a bench: its record, a client of its first
    validator, alice as a workload owner, and the gateway. `leftovers` is filled once it is
    brought down: what of it was still on the machine."""

    root: Path
    devnet: network.Devnet
    client: NodeClient
    owner: Owner
    gateway: Gateway
    leftovers: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.devnet.directory

    @property
    def farmers(self) -> list[FarmerEntry]:
        """The farmers as registered (their node ids and homes; not their pids, which
        `devnet stop` and `start` change in devnet.json)."""
        return self.devnet.farmers

    def farmer_of(self, node: int) -> FarmerEntry:
        found = next((f for f in self.farmers if f.node == node), None)
        if found is None:
            raise BenchError(f"node {node} is none of the devnet's farmers")
        return found

    def replica_dirs(self, farmer: FarmerEntry, wid: int) -> list[Path]:
        """Workload `wid`'s replica directories in the farmer's sandbox runtime."""
        replicas = farmer.runtime / "replicas"
        return sorted(replicas.glob(f"w{wid}-*")) if replicas.is_dir() else []

    def height(self) -> int:
        return int(self.client.status()["height"])

    def block_ms(self, height: int) -> int:
        return int(self.client.block(height)["header"]["time_ms"])

    def wait_up(self, timeout: float = 60.0) -> None:
        """Until every farm node has a heartbeat on chain (a node is placed on once it is up)."""
        deadline = time.monotonic() + timeout
        for farmer in self.farmers:
            assert farmer.node is not None
            while not (self.client.node(farmer.node).get("activity") or {}).get("heartbeats"):
                if time.monotonic() > deadline:
                    raise BenchError(f"{farmer.name} sent no heartbeat within {timeout:g} s")
                time.sleep(0.2)

    def cancel(
        self, wid: int, subdomain: str, node: int, timeout: float = TEARDOWN_TIMEOUT
    ) -> tuple[float, float]:
        """Cancel workload `wid` and wait until its name answers 404 and its replica is gone
        from node `node`: the seconds from the cancelling block's time to each."""
        start = self.block_ms(self.owner.cancel(wid)) / 1000
        farmer = self.farmer_of(node)
        to_404 = to_gone = 0.0
        deadline = time.monotonic() + timeout
        while not (to_404 and to_gone):
            now = time.time()
            if not to_404 and self.gateway.fetch(subdomain)[0] == NOT_SERVED:
                to_404 = now - start
            if not to_gone and not self.replica_dirs(farmer, wid):
                to_gone = now - start
            if time.monotonic() > deadline:
                raise BenchError(f"workload {wid} not torn down within {timeout:g} s")
            time.sleep(POLL)
        return to_404, to_gone


@contextmanager
def bench_devnet(prefix: str, validators: int, farmers: int, say: Progress) -> Iterator[BenchNet]:
    """A new devnet of `validators` validators and `farmers` farmers (farmer1 the gateway)
    under a temporary directory named `prefix`..., every farmer able to run containers.

    Brought down and deleted afterwards whatever happens, even if it failed to come up, with
    net.leftovers saying what of it was still on the machine after `devnet down`."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)  # the replicas' own uids walk through it to their disks
    directory = root / "devnet"
    net: BenchNet | None = None
    try:
        base = network.free_base_port(validators)
        say(f"starting {validators} validator(s) and {farmers} farmers under {directory}")
        devnet = network.up(directory, validators, base, say=say, farmers=farmers).devnet
        net = _bench_net(root, devnet)
        yield net
    finally:
        say("bringing the devnet down")
        registered = network.load_devnet(directory) if directory.exists() else None
        network.down(directory)  # not --purge: the whole of root goes below
        found = left_behind(root, registered.farmers if registered else [])
        if net is not None:
            net.leftovers = found
        shutil.rmtree(root, ignore_errors=True)


def _bench_net(root: Path, devnet: network.Devnet) -> BenchNet:
    no_sandbox = [f for f in devnet.farmers if not f.containers]
    if no_sandbox:
        raise BenchError(
            f"{no_sandbox[0].name} runs no containers here: {no_sandbox[0].containers_off}"
        )
    gateway = devnet.gateway
    if gateway is None:
        raise BenchError("the devnet has no gateway")
    client = NodeClient(devnet.nodes[0].api, timeout=10)
    alice = Keystore(Path(devnet.keystore)).load("alice", devnet.passphrase)
    owner = Owner(Sender.open(client, alice))
    return BenchNet(root, devnet, client, owner, Gateway(gateway["address"], gateway["domain"]))


def left_behind(root: Path, farmers: list[FarmerEntry]) -> list[str]:
    """What of the devnet under `root` is still on the machine: processes naming it (nodes,
    farmers, nginx, replicas), and the farmers' replicas' network namespaces, cgroups and
    mounts."""
    found = []
    me = str(os.getpid())
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(root) in text and cmdline.parent.name != me:
                found.append(f"process {cmdline.parent.name}: {text.strip()}")
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            if str(root) in line:
                found.append(f"mount: {line}")
    for farmer in farmers:
        tag = hashlib.sha256(str(farmer.runtime.resolve()).encode()).hexdigest()[:8]
        netns = Path("/run/netns")
        if netns.is_dir():
            found += [f"netns {n.name}" for n in netns.glob(f"gc-{tag}-*")]
        for group in Path("/sys/fs/cgroup").glob(f"*/gridchain/{tag}"):
            found.append(f"cgroup {group}")
        unified = Path("/sys/fs/cgroup/gridchain") / tag
        if unified.exists():
            found.append(f"cgroup {unified}")
    return found


def devnet_params() -> dict[str, int]:
    """The devnet's timing parameters (block intervals, and what is counted in blocks)."""
    return {k: int(v) for k, v in network.PARAMS.items() if k.endswith(("_ms", "_blocks"))}
