"""A local development network: keys, genesis and detached node processes in one directory.

DIR/keys/         keystore (alice, bob, and council1..council3: the council's members, any two
                  of whom sign for it), encrypted with DEVNET_PASSPHRASE
DIR/genesis.json  the devnet's genesis
DIR/node{i}/      each validator's node home (node.log inside)
DIR/farmer{i}/    each farmer's directory (farmer.log inside; see devnet/farmers.py)
DIR/devnet.json   what runs where: {"nodes": [{"name", "home", "api", "p2p", "pid"}],
                  "farmers": [{"name", "node", "country", "pid", ...}], "gateway", ...}

Node i serves its API on base-port + i and its peer links on base-port + P2P_OFFSET + i, all on
127.0.0.1; every validator dials every other one (a full mesh of persistent peers).

Farmers (`up --farmers M`) are farm nodes, not validators: `gridchain farmer run` processes,
each talking to one validator's API; farmer1 is also the devnet's gateway.

Everything is created once and reused, so `up` after `down` continues the same chain.
"""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chain.genesis_state import COUNCIL_ADDRESS, genesis_hash
from chain.keys import generate_keypair
from devnet.farmers import (
    MAX_FARMERS,
    FarmerEntry,
    check_gateway_port,
    crash_replicas,
    farmer_from_json,
    gateway_of,
    plan_farmer,
    register_farmers,
    remove_replicas,
    start_farmer,
    stop_farmers,
    wait_farmer_started,
)
from devnet.processes import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    DevnetError,
    Progress,
    check_port_free,
    kill_group,
    listening_port_range,
    log_tail,
    node_env,
    pid_alive,
    quiet,
)
from genesis.schema import genesis_document, load_genesis, parse_genesis, validator_document
from node.api.client import ApiError, NodeClient
from node.config import (
    Home,
    init_home,
    load_config,
    load_validator_key,
    write_config,
    write_file_atomically,
    write_validator_key,
)
from node.keystore import DEVNET_PASSPHRASE, KeyInfo, Keystore
from node.release import VERSION

DEFAULT_DIR = Path(".devnet")
DEVNET_FILE = "devnet.json"
CHAIN_ID = "gridchain-devnet"
ALICE_BALANCE = 1_000_000_000_000
BOB_BALANCE = 1_000_000
MEMBER_BALANCE = 1_000_000
PARAMS = {
    "block_interval_ms": 500,
    # An idle chain still makes a block a second: liveness is counted in blocks, so a dead farm
    # node is noticed within node_down_blocks seconds even when nothing else happens.
    "empty_block_interval_ms": 1000,
    # Farming that pays within minutes: 30-block epochs, k=18 plots (a few MB: hence the high
    # reward per GiB), light scrypt work.
    "plot_min_k": 18,
    "epoch_blocks": 30,
    "heartbeat_interval_blocks": 3,
    "storage_challenges": 32,
    "compute_units_per_core": 16,
    "compute_scrypt_log_n": 12,
    "compute_scrypt_r": 8,
    "compute_samples": 4,
    "compute_deadline_blocks": 8,
    "compute_reveal_blocks": 8,
    "farm_min_bond": 10_000,
    "reward_per_gib": 1_000_000_000,
    "reward_per_core": 1_000_000,
    # Deployment: a node is down after 16 blocks (8-16 s) without a heartbeat (5 heartbeat slots:
    # a busy machine's late heartbeat does not move anything); a replica reported failed moves
    # after 4 blocks, then 8, and stays failed after its third failure.
    "node_down_blocks": 16,
    "placement_retry_blocks": 4,
    "replica_retry_blocks": 4,
    "replica_max_failures": 3,
    # Billing within minutes: a replica's node reports usage every 20 blocks; a deployment
    # whose escrow runs short is paused for 40 blocks before it ends.
    "billing_period_blocks": 20,
    "grace_period_blocks": 40,
}
MAX_VALIDATORS = 32
# The governance council: a real multisig, so a proposal visibly needs two of its three members.
COUNCIL_MEMBERS = ("council1", "council2", "council3")
COUNCIL_THRESHOLD = 2
VALIDATOR_BLOCKSTAKE = 1_000
P2P_OFFSET = 100
LINK_TIMEOUT = 5.0
FIRST_BLOCK_TIMEOUT = 20.0


@dataclass(frozen=True)
class Place:
    """Where a node listens: its address, and the network namespace it runs in ("": this one)."""

    host: str
    netns: str = ""


LOOPBACK = Place("127.0.0.1")


@dataclass
class NodeEntry:
    name: str
    home: str
    api: str
    pid: int | None = None
    p2p: str = ""
    # Added by `join` after the devnet began: a validator once the council adds it.
    joined: bool = False
    # The chaos harness (devnet/chaos/): the network namespace the node runs in, and how far
    # its clock is set off (libfaketime), in seconds.
    netns: str = ""
    clock_offset_s: int = 0


@dataclass
class Devnet:
    directory: Path
    nodes: list[NodeEntry]
    keystore: str
    passphrase: str = DEVNET_PASSPHRASE
    chain_id: str = CHAIN_ID
    genesis: str = ""
    accounts: dict[str, str] = field(default_factory=dict)
    council: dict[str, Any] = field(default_factory=dict)
    farmers: list[FarmerEntry] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return self.directory / DEVNET_FILE

    @property
    def gateway(self) -> dict[str, Any] | None:
        """The gateway's address, domain, node and farmer (None without farmers)."""
        return gateway_of(self.farmers)

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": str(self.directory),
            "chain_id": self.chain_id,
            "genesis": self.genesis,
            "keystore": self.keystore,
            "passphrase": self.passphrase,
            "accounts": self.accounts,
            "council": self.council,
            "nodes": [asdict(n) for n in self.nodes],
            "farmers": [f.to_json() for f in self.farmers],
            "gateway": self.gateway,
        }

    def save(self) -> None:
        write_file_atomically(self.file, json.dumps(self.to_json(), indent=2) + "\n")


def load_devnet(directory: Path) -> Devnet | None:
    """The devnet described by DIR/devnet.json, None if there is none."""
    path = directory / DEVNET_FILE
    try:
        body = json.loads(path.read_text())
        return Devnet(
            directory=directory.absolute(),
            nodes=[
                NodeEntry(
                    str(n["name"]),
                    str(n["home"]),
                    str(n["api"]),
                    n.get("pid"),
                    n.get("p2p", ""),
                    bool(n.get("joined", False)),
                    str(n.get("netns", "")),
                    int(n.get("clock_offset_s", 0)),
                )
                for n in body["nodes"]
            ],
            keystore=str(body["keystore"]),
            passphrase=str(body.get("passphrase", DEVNET_PASSPHRASE)),
            chain_id=str(body.get("chain_id", CHAIN_ID)),
            genesis=str(body.get("genesis", "")),
            accounts=dict(body.get("accounts", {})),
            council=dict(body.get("council", {})),
            farmers=[farmer_from_json(f) for f in body.get("farmers", [])],
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetError(f"{path} is unreadable or malformed: {exc}") from None


def default_devnet_url(directory: Path = DEFAULT_DIR) -> str | None:
    """The first node's API of ./.devnet, the CLI's default --node when it exists."""
    try:
        devnet = load_devnet(directory)
    except DevnetError:
        return None
    return devnet.nodes[0].api if devnet and devnet.nodes else None


def free_base_port(validators: int) -> int:
    """A base port whose API and peer ports for `validators` nodes are all free now."""
    offsets = [*range(validators), *(P2P_OFFSET + i for i in range(validators))]
    low, high = listening_port_range()
    for _ in range(200):
        base = random.randrange(low, high - P2P_OFFSET - validators)
        try:
            for offset in offsets:
                check_port_free(base + offset)
        except DevnetError:
            continue
        return base
    raise DevnetError(f"found no free block of ports for {validators} nodes")


# up


@dataclass(frozen=True)
class UpResult:
    devnet: Devnet
    started: list[str]
    already_running: bool


def _ensure_key(store: Keystore, name: str) -> KeyInfo:
    return store.show(name) if store.exists(name) else store.new(name, DEVNET_PASSPHRASE)


def _ensure_genesis(
    directory: Path,
    homes: list[Home],
    accounts: dict[str, KeyInfo],
    params: dict[str, int],
    say: Progress,
) -> Path:
    """DIR/genesis.json, created on the first run with the validators' keys of `homes`."""
    path = directory / "genesis.json"
    if path.exists():
        for home in homes:
            if not home.validator_key_file.exists():
                raise DevnetError(
                    f"{path} exists but {home.root} has no validator key; "
                    "start afresh with `gridchain devnet down --purge`"
                )
        return path
    validators = []
    for i, home in enumerate(homes):
        if home.validator_key_file.exists():
            key = load_validator_key(home)
        else:
            key = generate_keypair()
            write_validator_key(home, key)
        validators.append(validator_document(key, VALIDATOR_BLOCKSTAKE, f"node{i}"))
    document = genesis_document(
        CHAIN_ID,
        datetime.now(UTC),
        validators,
        {
            "signers": [
                {"public_key": accounts[name].public_key, "weight": 1} for name in COUNCIL_MEMBERS
            ],
            "threshold": COUNCIL_THRESHOLD,
        },
        [
            {"address": accounts["alice"].address, "amount": ALICE_BALANCE},
            {"address": accounts["bob"].address, "amount": BOB_BALANCE},
            # Members propose and approve from their own accounts, paying the fees.
            *(
                {"address": accounts[name].address, "amount": MEMBER_BALANCE}
                for name in COUNCIL_MEMBERS
            ),
        ],
        {**PARAMS, **params},
        # One release for the whole network: the one installed here, until the council
        # approves another (docs/governance.md).
        software_version=VERSION,
    )
    parse_genesis(document)
    write_file_atomically(path, json.dumps(document, indent=2) + "\n")
    say(f"wrote genesis {path}")
    return path


def _netns_prefix(entry: NodeEntry) -> list[str]:
    """`ip netns exec NS`, which execs the node: it keeps the pid the devnet records."""
    return ["ip", "netns", "exec", entry.netns] if entry.netns else []


def _clock_env(entry: NodeEntry) -> dict[str, str]:
    """libfaketime preloaded with the node's clock offset (the `faketime` command would fork,
    and the devnet would then signal the wrapper rather than the node)."""
    if not entry.clock_offset_s:
        return {}
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        raise DevnetError(
            "a clock offset needs libfaketime: install the Debian package faketime "
            "(`make system-packages`)"
        )
    return {"LD_PRELOAD": str(found[0]), "FAKETIME": f"{entry.clock_offset_s:+d}s"}


def start_process(entry: NodeEntry) -> subprocess.Popen[bytes]:
    home = Home(Path(entry.home))
    with open(home.log_file, "ab") as log:
        log.write(
            f"\n--- devnet starting {entry.name} at {datetime.now(UTC).isoformat()} ---\n".encode()
        )
        log.flush()
        return subprocess.Popen(
            [
                *_netns_prefix(entry),
                sys.executable,
                "-m",
                "node",
                "node",
                "run",
                "--home",
                entry.home,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=node_env() | _clock_env(entry),
            cwd=entry.home,
        )


def wait_ready(
    entry: NodeEntry, process: subprocess.Popen[bytes], expected_genesis: str, say: Progress
) -> None:
    """Until the node's API answers with our genesis; a node that dies shows its log."""
    client = NodeClient(entry.api, timeout=2.0)
    log = Home(Path(entry.home)).log_file
    start = time.monotonic()
    last_report = start
    while True:
        code = process.poll()
        if code is not None:
            raise DevnetError(
                f"{entry.name} exited with code {code} while starting; "
                f"last lines of {log}:\n{log_tail(log)}"
            )
        try:
            status = client.status()
        except ApiError:
            status = None
        if status is not None:
            if status.get("genesis_hash") != expected_genesis:
                raise DevnetError(
                    f"{entry.api} answers for chain {status.get('chain_id')!r} with another "
                    "genesis: is another node using this port?"
                )
            return
        now = time.monotonic()
        if now - start > START_TIMEOUT:
            raise DevnetError(
                f"{entry.name} (pid {process.pid}) did not answer on {entry.api} within "
                f"{START_TIMEOUT:g} s; it may still be starting (stop it with "
                f"`gridchain devnet down`); last lines of {log}:\n{log_tail(log)}"
            )
        if now - last_report >= 3:
            say(f"  still waiting for {entry.name} ({now - start:.0f} s)")
            last_report = now
        time.sleep(0.2)


def _wait_linked(entry: NodeEntry, say: Progress) -> None:
    """Give a started node a moment to link to its peers, so it takes transactions at once.

    Never fails: a node started while its peers are down stays up, refusing transactions with
    `no_peers` until they come."""
    client = NodeClient(entry.api, timeout=2.0)
    deadline = time.monotonic() + LINK_TIMEOUT
    while time.monotonic() < deadline:
        try:
            consensus = client.status().get("consensus") or {}
        except ApiError:
            consensus = {}
        if consensus.get("accepting_txs", True):
            return
        time.sleep(0.1)
    say(f"  {entry.name} has no peers yet: it refuses transactions until it links")


def _wait_first_block(entry: NodeEntry, say: Progress) -> None:
    """Until the chain has a block past genesis, so what a user reads at once (an account and
    its proof) is certified by validators rather than only by the genesis file.

    Never fails: a network started without a quorum stays up and says so."""
    client = NodeClient(entry.api, timeout=2.0)
    deadline = time.monotonic() + FIRST_BLOCK_TIMEOUT
    while time.monotonic() < deadline:
        try:
            height = int(client.status().get("height") or 0)
        except (ApiError, ValueError):
            height = 0
        if height >= 1:
            return
        time.sleep(0.1)
    say(f"  {entry.name} has no block past genesis yet: are enough validators running?")


def up(
    directory: Path = DEFAULT_DIR,
    validators: int = 1,
    base_port: int = 26657,
    say: Progress = quiet,
    params: dict[str, int] | None = None,
    start: bool = True,
    farmers: int = 0,
    places: dict[str, Place] | None = None,
) -> UpResult:
    """Create (first run) or reuse the devnet in `directory` and start its nodes.

    `params` override the devnet's chain parameters when the genesis is first written. With
    `start=False` it only prepares keys, genesis and homes (start nodes later with start_node).
    `farmers` is how many farmers the devnet has at least: those it lacks are registered, and
    every farmer it has is started. `places` puts nodes elsewhere than on 127.0.0.1 (the chaos
    harness: each in a network namespace of its own).
    """
    if not 1 <= validators <= MAX_VALIDATORS:
        raise DevnetError(f"--validators {validators}: the devnet runs 1 to {MAX_VALIDATORS}")
    if not 0 <= farmers <= MAX_FARMERS:
        raise DevnetError(f"--farmers {farmers}: the devnet runs 0 to {MAX_FARMERS}")
    directory = directory.absolute()
    existing = load_devnet(directory)
    founders = [n for n in existing.nodes if not n.joined] if existing else []
    if founders and len(founders) != validators:
        raise DevnetError(
            f"the devnet in {directory} has {len(founders)} validators, not {validators}; "
            "use the same --validators, or start afresh with `gridchain devnet down --purge`"
        )
    previous = {n.name: n for n in existing.nodes} if existing else {}
    running = {name for name, n in previous.items() if pid_alive(n.pid, n.home)}
    joined = [n.name for n in existing.nodes if n.joined] if existing else []
    names = [f"node{i}" for i in range(validators)] + joined
    if (
        existing
        and running.issuperset(names)
        and len(existing.farmers) >= farmers
        and all(f.alive() for f in existing.farmers)
    ):
        return UpResult(existing, [], already_running=True)
    for i, name in enumerate(names):  # before creating anything, so a busy port costs nothing
        if name not in running:
            check_port_free(base_port + i)
            check_port_free(base_port + P2P_OFFSET + i)
    for farmer in existing.farmers if existing else []:
        if not farmer.alive():
            check_gateway_port(farmer)

    store = Keystore(directory / "keys")
    keys = {name: _ensure_key(store, name) for name in ("alice", "bob", *COUNCIL_MEMBERS)}
    homes = [Home(directory / name) for name in names]
    genesis_path = _ensure_genesis(directory, homes, keys, params or {}, say)
    gen_hash = genesis_hash(load_genesis(genesis_path)).hex()

    devnet = Devnet(
        directory=directory,
        nodes=[],
        keystore=str(store.directory),
        genesis=str(genesis_path),
        accounts={"alice": keys["alice"].address, "bob": keys["bob"].address},
        council={
            "members": list(COUNCIL_MEMBERS),
            "threshold": COUNCIL_THRESHOLD,
            "public_keys": {name: keys[name].public_key for name in COUNCIL_MEMBERS},
            "account": str(COUNCIL_ADDRESS),
        },
        farmers=existing.farmers if existing else [],
    )
    node_keys = {
        name: load_validator_key(home).public_key.hex()
        for name, home in zip(names, homes, strict=True)
    }
    to_start = []
    place = {name: (places or {}).get(name, LOOPBACK) for name in names}
    for i, (name, home) in enumerate(zip(names, homes, strict=True)):
        if name in running:
            devnet.nodes.append(previous[name])
            continue
        port, host = base_port + i, place[name].host
        init_home(home, genesis_path, port)
        peers = tuple(
            f"{node_keys[other]}@{place[other].host}:{base_port + P2P_OFFSET + j}"
            for j, other in enumerate(names)
            if other != name
        )
        config = replace(
            load_config(home), api_host=host, p2p_host=host, p2p_port=base_port + P2P_OFFSET + i
        )
        write_config(home, replace(config, persistent_peers=peers))
        p2p = f"{host}:{base_port + P2P_OFFSET + i}"
        entry = NodeEntry(
            name,
            str(home.root),
            f"http://{host}:{port}",
            p2p=p2p,
            joined=name in joined,
            netns=place[name].netns,
        )
        devnet.nodes.append(entry)
        to_start.append(entry)
    if not start:
        devnet.save()
        return UpResult(devnet, [], already_running=False)

    processes = []
    for entry in to_start:
        say(f"starting {entry.name} (log: {Home(Path(entry.home)).log_file})")
        process = start_process(entry)
        entry.pid = process.pid
        devnet.save()  # saved at once, so `down` can stop it even if we are interrupted
        processes.append((entry, process))
    for entry, process in processes:
        say(f"waiting for {entry.name} API at {entry.api}")
        wait_ready(entry, process, gen_hash, say)
    for entry in to_start:
        _wait_linked(entry, say)
    if to_start:
        _wait_first_block(to_start[0], say)
    devnet.save()
    started = _up_farmers(devnet, store, farmers, say)
    return UpResult(devnet, [e.name for e in to_start] + started, already_running=False)


def _up_farmers(devnet: Devnet, store: Keystore, count: int, say: Progress) -> list[str]:
    """Register the farmers the devnet lacks (up to `count`), each started as soon as it is
    registered, then start every other stopped one.

    At once: the uptime rule counts a node's heartbeat slots from its registration on, and a
    farmer that waited for the others' registrations missed slots, which kept farmer1 (the only
    gateway) from taking a gateway name until its uptime recovered or the next epoch began."""
    apis = {n.name: n.api for n in devnet.nodes}
    for index in range(len(devnet.farmers) + 1, count + 1):
        devnet.farmers.append(plan_farmer(devnet.directory, index, list(apis)))
    if not devnet.farmers:
        return []
    fresh: list[str] = []

    def start_now(entry: FarmerEntry) -> None:
        api = apis.get(entry.validator, devnet.nodes[0].api)
        say(f"starting {entry.name} (log: {entry.log})")
        process, offset = start_farmer(entry, devnet.keystore, api, devnet.passphrase)
        entry.pid = process.pid
        devnet.save()  # saved at once, so `down` can stop it even if we are interrupted
        wait_farmer_started(entry, process, offset, say)
        fresh.append(entry.name)

    register_farmers(devnet.farmers, store, devnet.nodes[0].api, devnet.passphrase, say, start_now)
    devnet.save()
    started = []
    for entry in devnet.farmers:
        if entry.alive():
            continue
        say(f"starting {entry.name} (log: {entry.log})")
        api = apis.get(entry.validator, devnet.nodes[0].api)
        process, offset = start_farmer(entry, devnet.keystore, api, devnet.passphrase)
        entry.pid = process.pid
        devnet.save()  # saved at once, so `down` can stop it even if we are interrupted
        started.append((entry, process, offset))
    for entry, process, offset in started:
        say(f"waiting for {entry.name} to start")
        wait_farmer_started(entry, process, offset, say)
    return sorted(fresh + [entry.name for entry, _, _ in started], key=_farmer_index)


def _farmer_index(name: str) -> int:
    return int(name.removeprefix("farmer"))


# down


@dataclass(frozen=True)
class DownResult:
    directory: Path
    stopped: list[str]
    killed: list[str]
    purged: bool


def _looks_like_devnet(directory: Path) -> bool:
    return (directory / DEVNET_FILE).exists() or (
        (directory / "genesis.json").exists() and (directory / "keys").is_dir()
    )


def down(directory: Path = DEFAULT_DIR, purge: bool = False, say: Progress = quiet) -> DownResult:
    """SIGTERM every farmer and node, SIGKILL those still alive after their timeout; --purge
    deletes DIR.

    Farmers go first, while the validators still take the compute answer a farmer opens before
    it stops, and their replicas after them. Each node and farmer runs in its own process
    group; whatever it started (a farmer's nginx) dies with it.
    """
    directory = directory.absolute()
    devnet = load_devnet(directory)
    farmers = devnet.farmers if devnet else []
    farmers_running = [f.name for f in farmers if f.alive()]
    killed = stop_farmers(farmers, False, say)
    for farmer in farmers:
        remove_replicas(farmer, say)
    running = [n for n in (devnet.nodes if devnet else []) if pid_alive(n.pid, n.home)]
    for entry in running:
        assert entry.pid is not None
        say(f"stopping {entry.name} (pid {entry.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(entry.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(pid_alive(n.pid, n.home) for n in running):
        time.sleep(0.1)
    for entry in running:
        assert entry.pid is not None
        if pid_alive(entry.pid, entry.home):
            say(f"{entry.name} did not stop within {STOP_TIMEOUT:g} s: killing it")
            killed.append(entry.name)
        kill_group(entry.pid)
    if devnet is not None:
        for entry in devnet.nodes:
            entry.pid = None
    purged = False
    if purge and directory.exists():
        if not _looks_like_devnet(directory):
            raise DevnetError(f"refusing to delete {directory}: it does not look like a devnet")
        shutil.rmtree(directory)
        purged = True
    elif devnet is not None:
        devnet.save()
    return DownResult(directory, farmers_running + [n.name for n in running], killed, purged)


# one node


def _entry(devnet: Devnet, name: str) -> NodeEntry | FarmerEntry:
    entries: list[NodeEntry | FarmerEntry] = [*devnet.nodes, *devnet.farmers]
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(n.name for n in entries)
    raise DevnetError(f"no node {name!r} in the devnet (nodes: {known})")


def require(directory: Path) -> Devnet:
    devnet = load_devnet(directory.absolute())
    if devnet is None:
        raise DevnetError(f"no devnet in {directory} (start one with `gridchain devnet up`)")
    return devnet


def stop_node(
    directory: Path, name: str, kill: bool = False, say: Progress = quiet, crash: bool = False
) -> tuple[bool, bool]:
    """Stop one node or farmer (SIGTERM, or SIGKILL with `kill`): returns (was running,
    killed). A farmer's replicas keep running, as they do when a farm node's agent stops;
    with `crash` they are killed too (SIGKILL, records kept): the farm node's machine died."""
    devnet = require(directory)
    entry = _entry(devnet, name)
    if isinstance(entry, FarmerEntry):
        was_running = entry.alive()
        farmer_killed = bool(stop_farmers([entry], kill or crash, say))
        if crash:
            crash_replicas(entry, say)
        devnet.save()
        return was_running, farmer_killed
    if crash:
        raise DevnetError(f"{name} is a validator: --crash is for farmers (use --kill)")
    if not pid_alive(entry.pid, entry.home):
        return False, False
    assert entry.pid is not None
    say(f"{'killing' if kill else 'stopping'} {name} (pid {entry.pid})")
    if kill:
        kill_group(entry.pid)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(entry.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and pid_alive(entry.pid, entry.home):
        time.sleep(0.05)
    killed = kill
    if pid_alive(entry.pid, entry.home):
        say(f"{name} did not stop within {STOP_TIMEOUT:g} s: killing it")
        killed = True
    kill_group(entry.pid)
    entry.pid = None
    devnet.save()
    return True, killed


def start_node(directory: Path, name: str, say: Progress = quiet) -> bool:
    """Start one stopped node or farmer of the devnet; False if it was already running."""
    devnet = require(directory)
    entry = _entry(devnet, name)
    if isinstance(entry, FarmerEntry):
        return _start_one_farmer(devnet, entry, say)
    if pid_alive(entry.pid, entry.home):
        return False
    check_port_free(int(entry.api.rsplit(":", 1)[1]))
    say(f"starting {name} (log: {Home(Path(entry.home)).log_file})")
    process = start_process(entry)
    entry.pid = process.pid
    devnet.save()
    gen_hash = genesis_hash(load_genesis(Path(devnet.genesis))).hex()
    wait_ready(entry, process, gen_hash, say)
    _wait_linked(entry, say)
    return True


def join(directory: Path, say: Progress = quiet) -> NodeEntry:
    """Set up one more node beside the devnet's (not started): its home with the devnet's
    genesis, the next API and p2p ports, every other node as its persistent peer, and theirs.

    It is not a validator: the validators admit its links once the council has decided to add
    it (`gridchain tx validator-add` with the spec `gridchain node show-validator` prints), and
    it votes from the second block after that decision. Start it with `start_node`."""
    devnet = require(directory)
    if not devnet.nodes:
        raise DevnetError(f"the devnet in {directory} has no nodes to join")
    index = len(devnet.nodes)
    if index >= MAX_VALIDATORS:
        raise DevnetError(f"the devnet already has {index} nodes, at most {MAX_VALIDATORS}")
    base_port = int(devnet.nodes[0].api.rsplit(":", 1)[1])
    name, port, p2p_port = f"node{index}", base_port + index, base_port + P2P_OFFSET + index
    check_port_free(port)
    check_port_free(p2p_port)
    home = Home(devnet.directory / name)
    init_home(home, Path(devnet.genesis), port)
    peers = tuple(
        f"{load_validator_key(Home(Path(n.home))).public_key.hex()}@{n.p2p}" for n in devnet.nodes
    )
    write_config(home, replace(load_config(home), p2p_port=p2p_port, persistent_peers=peers))
    me = f"{load_validator_key(home).public_key.hex()}@127.0.0.1:{p2p_port}"
    for other in devnet.nodes:  # so each dials it too after a restart
        other_home = Home(Path(other.home))
        config = load_config(other_home)
        if me not in config.persistent_peers:
            write_config(
                other_home, replace(config, persistent_peers=(*config.persistent_peers, me))
            )
    entry = NodeEntry(
        name, str(home.root), f"http://127.0.0.1:{port}", p2p=f"127.0.0.1:{p2p_port}", joined=True
    )
    devnet.nodes.append(entry)
    devnet.save()
    say(f"{name} set up in {home.root}: start it with `gridchain devnet start {name}`")
    return entry


def _start_one_farmer(devnet: Devnet, entry: FarmerEntry, say: Progress) -> bool:
    if entry.alive():
        return False
    api = next((n.api for n in devnet.nodes if n.name == entry.validator), devnet.nodes[0].api)
    say(f"starting {entry.name} (log: {entry.log})")
    process, offset = start_farmer(entry, devnet.keystore, api, devnet.passphrase)
    entry.pid = process.pid
    devnet.save()
    wait_farmer_started(entry, process, offset, say)
    return True
