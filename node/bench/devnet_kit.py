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
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.address import key_address
from chain.encoding import decode
from chain.keys import KeyPair
from chain.ledger.transactions import Call, Payload, TxBody, sign_tx
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from devnet import network
from devnet.farmers import FarmerEntry
from devnet.processes import Progress
from node.api.client import ApiError, NodeClient
from node.keystore import Keystore

GAS = 300_000
PORT = 8080
DEPOSIT = 1_000_000  # ~40 billing periods of one replica at the devnet's prices
POLL = 0.02  # seconds between looks at the gateway or the chain while waiting for a step
NOT_RUNNING = 503  # the gateway serves the name, its replica is not deployed (yet, or now)
NOT_SERVED = 404  # the gateway serves no such name
TEARDOWN_TIMEOUT = 60.0
AUDIT_PAGE = 500


class BenchError(Exception):
    """The devnet cannot run the bench (no sandbox here, a workload never served)."""


def web_spec(name: str, subdomain: str, page: str, countries: Sequence[str] = ()) -> dict[str, Any]:
    """A web workload on the node's own system: `python3 -m http.server` serving `page`
    behind the gateway name `subdomain`; with `countries`, placed only on nodes there."""
    placement: dict[str, Any] = {"replicas": 1}
    if countries:
        placement["countries"] = sorted(countries)  # the spec wants them sorted
    return {
        "name": name,
        "workloads": [
            {
                "type": "container",
                "name": "site",
                "image": "host",
                "cpu": 1,
                "memory_mb": 128,
                "entrypoint": f"sh -c 'echo {page} > /tmp/index.html && cd /tmp && "
                f"exec python3 -m http.server {PORT}'",
                "ports": [PORT],
            },
            {"type": "gateway_name", "name": "web", "subdomain": subdomain,
             "backends": [f"site:{PORT}"]},
        ],
        "placement": placement,
        "budget": DEPOSIT,
        "expiry_blocks": 600,
    }  # fmt: skip


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


# Sending as alice


@dataclass
class Sender:
    """Alice's calls, signed here and sent to one validator."""

    client: NodeClient
    key: KeyPair
    chain_id: str
    fee: int
    nonce: int

    @classmethod
    def open(cls, client: NodeClient, key: KeyPair) -> "Sender":
        status = client.status()
        fees = status.get("fees") or {}
        fee = int(fees.get("min_fee", 1)) + GAS * int(fees.get("gas_price", 1))
        nonce = int(client.account(str(key_address(key.public_key)))["next_nonce"])
        return cls(client, key, str(status["chain_id"]), fee, nonce)

    def send(self, payload: Payload) -> str:
        body = TxBody(
            self.chain_id, key_address(self.key.public_key), self.nonce, self.fee, payload
        )
        signed = sign_tx(body, [self.key])
        self.client.submit_tx(signed.encoded)
        self.nonce += 1
        return signed.id.hex()

    def committed(self, tx_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The transaction's view once committed; its receipt must say ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ApiError):
                view = self.client.tx(tx_id)
                if view.get("status") == "committed":
                    receipt = view.get("receipt") or {}
                    if receipt.get("status", "ok") != "ok":
                        raise BenchError(f"transaction {tx_id}: {receipt.get('message')}")
                    return view
                if view.get("status") == "rejected":
                    raise BenchError(f"transaction {tx_id} was refused: {view.get('error')}")
            time.sleep(POLL)
        raise BenchError(f"transaction {tx_id} not committed within {timeout:g} s")


@dataclass
class Owner:
    """Alice as the one signer (1 of 1) of her workloads on the workload contract."""

    sender: Sender

    @property
    def client(self) -> NodeClient:
        return self.sender.client

    def submit(self, specs: Sequence[dict[str, Any]]) -> list[int]:
        """Every spec submitted (pending: nothing is placed before its authorization), sent
        together and then waited for; their workload ids in order."""
        owner = make_requirement([RequiredSigner(self.sender.key.public_key, 1, False)], 1)
        requirement = encode_requirement(owner)
        height = int(self.client.status()["height"])
        sent = []
        for spec in specs:
            data = spec_bytes(load_spec(spec))
            args = (data, requirement, height + 10_000)
            sent.append(self.sender.send(Call(workload_address(), "submit", args, DEPOSIT, GAS)))
        return [int(self.sender.committed(tx_id)["receipt"]["return_value"]) for tx_id in sent]

    def approve(self, wid: int) -> int:
        """Alice's signature, which authorizes it: the height of the authorizing block."""
        contract = workload_address()
        spec = self.query("spec_of", wid)
        requirement = self.query("requirement_of", wid)
        signature = self.sender.key.sign(signing_hash(contract, wid, 1, spec, requirement))
        args = (wid, self.sender.key.public_key, signature)
        view = self.sender.committed(self.sender.send(Call(contract, "approve", args, 0, GAS)))
        if view["receipt"].get("return_value") != "authorized":
            raise BenchError(f"workload {wid} is {view['receipt'].get('return_value')}")
        return int(view["block"]["height"])

    def cancel(self, wid: int) -> int:
        """The height of the block that cancels it."""
        call = Call(workload_address(), "cancel", (wid,), 0, GAS)
        view = self.sender.committed(self.sender.send(call))
        return int(view["block"]["height"])

    def query(self, function: str, wid: int) -> bytes:
        answer = self.client.query(str(workload_address()), function, [wid], None)
        return bytes.fromhex(answer["value"]["hex"])

    def deployment(self, wid: int) -> dict[str, Any]:
        return self.client.deployment(str(workload_address()), wid)


# The audit log


@dataclass(frozen=True)
class Event:
    """An audit entry of a deployment step (chain/deployment/journal.py): its topic, its
    block and its fields."""

    topic: str
    height: int
    data: dict[str, Any]


def deployment_events(
    client: NodeClient, wids: Collection[int], topics: Collection[str]
) -> list[Event]:
    """Every entry of the workload contract's audit log with one of `topics` about one of
    `wids`, in log order."""
    contract = str(workload_address())
    wanted, start = set(wids), 0
    found: list[Event] = []
    while True:
        entries = client.audit_entries(start, AUDIT_PAGE, contract)["entries"]
        for entry in entries:
            if entry["topic"] not in topics:
                continue  # before decoding: the contract's own events are not CBOR maps
            data = decode(bytes.fromhex(entry["data"]))
            if isinstance(data, dict) and data.get("wid") in wanted:
                found.append(Event(entry["topic"], int(entry["height"]), data))
        if len(entries) < AUDIT_PAGE:
            return found
        start = int(entries[-1]["index"]) + 1  # positions in the whole log


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
