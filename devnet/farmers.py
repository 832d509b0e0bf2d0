"""The devnet's farm nodes: `gridchain farmer run` processes beside the validators.

A farmer is not a validator: it is a farm node with a node key of its own, talking to one
validator's API (farmer i to node (i - 1) mod V). For farmer i:

DIR/keys/farmer{i}-owner  owns farm farm{i}; funded from alice by a transfer
DIR/keys/farmer{i}-node   the node's key: heartbeats, proofs, replica reports
DIR/farmer{i}/            mode 0755: the replicas' own uids walk through it to their disks
  plots/                  none at first (`gridchain farmer plot --owner farmer{i}-owner ...`)
  runtime/                the sandbox runtime's root; replicas on 10.(213 + i).0.0/16
  runtime/gateway/        farmer1's nginx: the devnet's gateway, names under gw.localhost
  farmer.log              `gridchain farmer run --json`: one JSON event a line

Each farmer is registered once, by running `gridchain farmer register` (devnet may not import
the CLI), in a country of PLACES in turn, and started as soon as it is registered (the uptime
rule counts its heartbeat slots from then on); farmer1 is also the gateway. Each runs in a
process group of its own, as a validator does, and its nginx with it.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chain.address import key_address, parse_address
from chain.ledger.transactions import Transfer, TxBody, sign_tx
from devnet.processes import (
    START_TIMEOUT,
    DevnetError,
    Progress,
    check_port_free,
    free_port,
    kill_group,
    log_tail,
    node_env,
    pid_alive,
)
from node.api.client import ApiError, NodeClient, answer_field
from node.farmer.views import find_node
from node.keystore import DEVNET_PASSPHRASE, PASSPHRASE_ENV, Keystore
from node.runtime import Runtime, SandboxError

MAX_FARMERS = 32
GATEWAY_DOMAIN = "gw.localhost"
FARMER_BOND = 100_000  # ten times the devnet's farm_min_bond
NODE_FUNDS = 100_000  # the owner sends the node key this for its fees
OWNER_FUNDS = 1_000_000  # alice sends an owner this when it holds less than MIN_OWNER_BALANCE
MIN_OWNER_BALANCE = FARMER_BOND + NODE_FUNDS + 1_000
RESOURCES = ("--cores", "4", "--memory-mb", "8192", "--ssd-gb", "100", "--hdd-gb", "0")
# (country, city, latitude, longitude): farmer i is in PLACES[(i - 1) % len(PLACES)].
PLACES = (
    ("BE", "Ghent", "51.054342", "3.717424"),
    ("NL", "Amsterdam", "52.367573", "4.904139"),
    ("DE", "Berlin", "52.520008", "13.404954"),
    ("FR", "Paris", "48.856613", "2.352222"),
    ("LU", "Luxembourg", "49.611622", "6.131935"),
    ("CH", "Zurich", "47.376888", "8.541694"),
    ("AT", "Vienna", "48.208176", "16.373819"),
    ("IT", "Milan", "45.464203", "9.189982"),
)
# A farmer stopped with SIGTERM first opens a compute commitment it sent (an unopened one costs
# its farm the bond): up to compute_deadline_blocks + compute_reveal_blocks blocks.
FARMER_STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 120.0
LOG_NAME = "farmer.log"


@dataclass
class FarmerEntry:
    name: str
    home: str
    validator: str  # the name of the validator whose API it talks to
    country: str
    city: str
    subnet: str
    gateway: str = ""  # the gateway's domain: farmer1 only
    gateway_listen: str = ""  # where its nginx listens, 127.0.0.1:PORT
    containers: bool = True
    containers_off: str = ""  # why the node was registered without containers
    owner: str = ""  # the owner's address
    node: int | None = None
    farm: int | None = None
    pid: int | None = None

    @property
    def index(self) -> int:
        return int(self.name.removeprefix("farmer"))

    @property
    def log(self) -> Path:
        return Path(self.home) / LOG_NAME

    @property
    def plots(self) -> Path:
        return Path(self.home) / "plots"

    @property
    def runtime(self) -> Path:
        return Path(self.home) / "runtime"

    @property
    def owner_key(self) -> str:
        return f"{self.name}-owner"

    @property
    def node_key(self) -> str:
        return f"{self.name}-node"

    def alive(self) -> bool:
        # Its command line names its directory: DIR/farmer1/ is not a prefix of DIR/farmer10/.
        return pid_alive(self.pid, self.home.rstrip(os.sep) + os.sep)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"log": str(self.log)}


def farmer_from_json(value: dict[str, Any]) -> FarmerEntry:
    known = {f.name for f in fields(FarmerEntry)}
    return FarmerEntry(**{k: v for k, v in value.items() if k in known})


def gateway_of(farmers: list[FarmerEntry]) -> dict[str, Any] | None:
    """The devnet's gateway: where it listens, its domain and its node."""
    for f in farmers:
        if f.gateway:
            return {
                "address": f.gateway_listen,
                "domain": f.gateway,
                "node": f.node,
                "farmer": f.name,
            }
    return None


def plan_farmer(directory: Path, index: int, validators: list[str]) -> FarmerEntry:
    """A new farmer's entry: its place, its validator, its subnet and (farmer1) its gateway."""
    country, city, _, _ = PLACES[(index - 1) % len(PLACES)]
    gateway = index == 1
    return FarmerEntry(
        name=f"farmer{index}",
        home=str(directory / f"farmer{index}"),
        validator=validators[(index - 1) % len(validators)],
        country=country,
        city=city,
        subnet=f"10.{213 + index}.0.0/16",
        gateway=GATEWAY_DOMAIN if gateway else "",
        gateway_listen=f"127.0.0.1:{free_port()}" if gateway else "",
    )


# Keys, funds and registration


def _make_dirs(entry: FarmerEntry) -> None:
    home = Path(entry.home)
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)  # whatever the umask: the replicas' uids pass through it
    entry.plots.mkdir(exist_ok=True)


def _sandbox_problem(entry: FarmerEntry) -> str:
    """Why this machine cannot run the farmer's replicas ("" if it can): the runtime's own
    checks (root, its commands, cgroups, a root every user can walk down to)."""
    try:
        Runtime(entry.runtime, subnet=entry.subnet)
    except SandboxError as exc:
        return exc.message
    return ""


def register_farmers(
    entries: list[FarmerEntry],
    store: Keystore,
    api: str,
    passphrase: str,
    say: Progress,
    registered: Callable[[FarmerEntry], None] = lambda _: None,
) -> None:
    """Give each farmer its keys and directory, and register those the chain does not know:
    owners funded by alice, then `gridchain farmer register` for each, `registered` called
    after each one (the devnet starts it there)."""
    client = NodeClient(api, timeout=10.0)
    todo = []
    for entry in entries:
        _make_dirs(entry)
        for name in (entry.owner_key, entry.node_key):
            if not store.exists(name):
                store.new(name, passphrase)
        entry.owner = store.show(entry.owner_key).address
        if entry.node is not None:
            continue
        found = find_node(client, bytes.fromhex(store.show(entry.node_key).public_key))
        if found is not None:
            entry.node, entry.farm = int(found["id"]), int(found["farm"])
            entry.containers = bool((found.get("capabilities") or {}).get("container"))
            continue
        entry.containers_off = _sandbox_problem(entry)
        entry.containers = not entry.containers_off
        if entry.containers_off:
            say(f"{entry.name} runs no containers: {entry.containers_off}")
        todo.append(entry)
    if not todo:
        return
    _fund([e.owner for e in todo], store, client, passphrase, say)
    for entry in todo:  # one at a time: on a new devnet, farmer i is farm i and node i
        say(f"registering {entry.name} (farmer register)")
        _register(entry, store, client, api, passphrase)
        say(f"  {entry.name}: node {entry.node} of farm {entry.farm} ({entry.country})")
        registered(entry)


def _register(
    entry: FarmerEntry, store: Keystore, client: NodeClient, api: str, passphrase: str
) -> None:
    """`gridchain farmer register` for the farmer: its farm, its node key's funds, its node."""
    _, _, latitude, longitude = PLACES[(entry.index - 1) % len(PLACES)]
    command = [
        *_cli("register"),
        "--owner", entry.owner_key, "--node-key", entry.node_key,
        "--name", f"farm{entry.index}", "--bond", str(FARMER_BOND),
        "--node-funds", str(NODE_FUNDS), *RESOURCES,
        "--country", entry.country, "--city", entry.city,
        "--latitude", latitude, "--longitude", longitude,
        "--container" if entry.containers else "--no-container",
        *(("--gateway", entry.gateway) if entry.gateway else ()),
        "--keystore", str(store.directory), "--node", api, "--json",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_env(passphrase),
            cwd=entry.home,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DevnetError(
            f"`farmer register` of {entry.name} took over {COMMAND_TIMEOUT:g} s"
        ) from None
    answer = _json_answer(done.stdout)
    error = answer.get("error") or {}
    if done.returncode == 0 and "node" in answer:
        entry.node, entry.farm = int(answer["node"]), int(answer["farm"])
    elif error.get("code") == "already_registered":
        found = find_node(client, bytes.fromhex(store.show(entry.node_key).public_key))
        if found is None:
            raise DevnetError(f"{entry.name}: {error.get('message')}, yet the node cannot find it")
        entry.node, entry.farm = int(found["id"]), int(found["farm"])
    else:
        output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        raise DevnetError(
            f"`farmer register` of {entry.name} failed: {error.get('message') or output}"
        )


def _json_answer(out: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(out)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _fund(
    owners: list[str], store: Keystore, client: NodeClient, passphrase: str, say: Progress
) -> None:
    """A transfer from alice to each owner holding too little for its bond and its node's fees.

    Transfers, not genesis balances: a devnet created without farmers gets them the same way."""
    poor = [o for o in owners if int(client.account(o).get("balance", 0)) < MIN_OWNER_BALANCE]
    if not poor:
        return
    say(f"funding {len(poor)} farm owner(s) from alice")
    alice = store.load("alice", passphrase)
    sender = key_address(alice.public_key)
    status = client.status()
    chain_id = answer_field(status, "chain_id", str)
    fee = int((status.get("fees") or {}).get("min_fee", 1))
    nonce = answer_field(client.account(str(sender)), "next_nonce", int)
    ids = []
    for i, owner in enumerate(poor):
        body = TxBody(chain_id, sender, nonce + i, fee, Transfer(parse_address(owner), OWNER_FUNDS))
        signed = sign_tx(body, [alice])
        client.submit_tx(signed.encoded)
        ids.append(signed.id.hex())
    deadline = time.monotonic() + COMMAND_TIMEOUT
    for tx_id in ids:
        while True:
            with contextlib.suppress(ApiError):
                view = client.tx(tx_id)
                if view.get("status") == "committed":
                    break
                if view.get("status") == "rejected":
                    raise DevnetError(f"alice's transfer {tx_id} was refused: {view.get('error')}")
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"alice's transfer {tx_id} is not committed after {COMMAND_TIMEOUT:g} s"
                )
            time.sleep(0.2)


def _cli(command: str) -> list[str]:
    return [sys.executable, "-m", "node", "farmer", command]


def _env(passphrase: str) -> dict[str, str]:
    return node_env() | {PASSPHRASE_ENV: passphrase}


# Processes


def start_farmer(
    entry: FarmerEntry, keystore: str, api: str, passphrase: str = DEVNET_PASSPHRASE
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `farmer run` in a process group of its own: (the process, where its log began)."""
    if entry.node is None:
        raise DevnetError(f"{entry.name} is not registered: run `gridchain devnet up` first")
    check_gateway_port(entry)
    _make_dirs(entry)
    command = [
        *_cli("run"),
        "--node-key", entry.node_key, "--plots", str(entry.plots),
        "--owner-address", entry.owner, "--runtime-dir", str(entry.runtime),
        "--subnet", entry.subnet,
        *(("--gateway-listen", entry.gateway_listen) if entry.gateway_listen else ()),
        "--keystore", keystore, "--node", api, "--json",
    ]  # fmt: skip
    with open(entry.log, "ab") as log:
        log.write(
            f"\n--- devnet starting {entry.name} at {datetime.now(UTC).isoformat()} ---\n".encode()
        )
        log.flush()
        offset = log.tell()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_env(passphrase),
            cwd=entry.home,
        )
    return process, offset


def check_gateway_port(entry: FarmerEntry) -> None:
    """Raise if the farmer is a gateway whose port is taken."""
    if entry.gateway_listen:
        host, port = entry.gateway_listen.rsplit(":", 1)
        check_port_free(int(port), host, f"the gateway port of {entry.name}")


def wait_farmer_started(
    entry: FarmerEntry, process: subprocess.Popen[bytes], offset: int, say: Progress
) -> None:
    """Until `farmer run` says it started (and the gateway answers); one that dies shows its
    log."""
    start_time = time.monotonic()
    started = False
    while True:
        code = process.poll()
        if code is not None:
            raise DevnetError(
                f"{entry.name} exited with code {code} while starting; "
                f"last lines of {entry.log}:\n{log_tail(entry.log)}"
            )
        started = started or _said_start(entry.log, offset)
        if started and (not entry.gateway_listen or _listening(entry.gateway_listen)):
            return
        if time.monotonic() - start_time > START_TIMEOUT:
            what = "start" if not started else f"serve its gateway on {entry.gateway_listen}"
            raise DevnetError(
                f"{entry.name} (pid {process.pid}) did not {what} within {START_TIMEOUT:g} s "
                f"(stop it with `gridchain devnet down`); last lines of {entry.log}:\n"
                f"{log_tail(entry.log)}"
            )
        time.sleep(0.2)


def _said_start(log: Path, offset: int) -> bool:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return False
    return any(line.startswith(b'{"event": "start"') for line in text.splitlines())


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) == 0


def stop_farmers(entries: list[FarmerEntry], kill: bool, say: Progress) -> list[str]:
    """Stop farmers (SIGTERM, or SIGKILL with `kill`) and their process groups, nginx with
    them; those still alive after FARMER_STOP_TIMEOUT are killed. Returns the names killed."""
    running = [e for e in entries if e.alive()]
    for entry in running:
        assert entry.pid is not None
        say(f"{'killing' if kill else 'stopping'} {entry.name} (pid {entry.pid})")
        if kill:
            kill_group(entry.pid)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(entry.pid, signal.SIGTERM)
    deadline = time.monotonic() + FARMER_STOP_TIMEOUT
    while time.monotonic() < deadline and any(e.alive() for e in running):
        time.sleep(0.1)
    killed = [e.name for e in running] if kill else []
    for entry in running:
        assert entry.pid is not None
        if entry.alive():
            say(f"{entry.name} did not stop within {FARMER_STOP_TIMEOUT:g} s: killing it")
            killed.append(entry.name)
        kill_group(entry.pid)
        entry.pid = None
    return killed


def crash_replicas(entry: FarmerEntry, say: Progress) -> None:
    """SIGKILL every process of the farmer's replicas, their records left as they were: with
    the farmer killed too, what its machine losing power leaves."""
    _each_replica(entry, say, ("kill", "killing"), Runtime.kill)


def remove_replicas(entry: FarmerEntry, say: Progress) -> None:
    """Stop every replica the farmer's runtime holds (they outlive `farmer run` by design)."""
    _each_replica(entry, say, ("stop", "stopping"), Runtime.stop)


def _each_replica(
    entry: FarmerEntry,
    say: Progress,
    verb: tuple[str, str],
    act: Callable[[Runtime, str], None],
) -> None:
    """`act` on every replica the farmer's runtime holds, saying so; a runtime that cannot be
    read is said, not raised (the devnet command goes on with the rest)."""
    replicas = entry.runtime / "replicas"
    if not replicas.is_dir() or not any(replicas.iterdir()):
        return
    try:
        runtime = Runtime(entry.runtime, subnet=entry.subnet)
        for key in runtime.observe():
            say(f"{verb[1]} replica {key} of {entry.name}")
            act(runtime, key)
    except SandboxError as exc:
        say(f"could not {verb[0]} {entry.name}'s replicas: {exc.message}")


# Status


def farmer_status(entry: FarmerEntry, client: NodeClient | None) -> dict[str, Any]:
    """The farmer's record, whether it runs, and its node's activity this epoch."""
    view: dict[str, Any] = {
        "name": entry.name,
        "node": entry.node,
        "farm": entry.farm,
        "country": entry.country,
        "city": entry.city,
        "pid": entry.pid,
        "alive": entry.alive(),
        "validator": entry.validator,
        "containers": entry.containers,
        "gateway": entry.gateway or None,
        "home": entry.home,
        "log": str(entry.log),
    }
    if client is not None and entry.node is not None:
        try:
            activity = client.node(entry.node).get("activity") or {}
            view |= {"epoch": activity.get("epoch"), "heartbeats": activity.get("heartbeats")}
        except ApiError as exc:
            view["error"] = exc.message
    return view
