"""`gridchain farmer ...`: register a farm and its node, make plots, run a node's farming, and
follow what a farm earns.

`farmer run` is the node's side: it reads the chain through the API (GET /v1/farming and GET
/v1/nodes/{id}) on every poll, asks the agent (node/farmer/agent.py) what is due, and signs it with
the node's own key. The agent decides from the chain's records, so the loop can stop and start at
any time but one: between a compute commitment and its opening the answer lives only in this
process, so a stop waits for the opening.
"""

import json
import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from chain.address import Address, key_address, parse_address
from chain.errors import RuleViolation
from chain.farming.rules import node_consent_message
from chain.farming.txs import (
    FARM_PAYLOADS,
    MICRODEGREES,
    Capabilities,
    FarmCreate,
    FarmPayload,
    Location,
    NodeRegister,
    Resources,
    farm_payload_from_value,
    farm_payload_to_value,
)
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from chain.ledger.transactions import Transfer
from chain.params import MAX_PLOT_K, MIN_PLOT_K
from node.api.client import NodeClient, NodeUnreachable, answer_field
from node.cli.common import (
    CliError,
    keystore_option,
    keystore_options,
    node_client,
    node_option,
    open_keystore,
)
from node.cli.contract import send, unlock
from node.cli.output import emit, json_option, progress
from node.farmer.agent import FarmerAgent
from node.farmer.deployer import Deployer
from node.farmer.gateway import Gateway, GatewayError
from node.farmer.plots import Plot, PlotError, create_plot, load_plots
from node.farmer.runner import ReleaseMismatch, Runner
from node.farmer.views import field_of, find_node, node_from_json, params_from_json
from node.farmer.workloads import MAX_BACKOFF, WorkloadRoles
from node.keystore import Keystore
from node.runtime import Runtime, SandboxError
from node.runtime.sandbox import DEFAULT_SUBNET

KIND_OF = {cls: kind for kind, cls in FARM_PAYLOADS.items()}
DEFAULT_NODE_FUNDS = 100_000
DEFAULT_POLL = 0.5


# Checking input before anything is signed


def microdegrees(text: str, what: str, limit: int) -> int:
    """Decimal degrees ("51.054342", "-3.5") as integer millionths of a degree, exactly: no
    float ever holds the value, and more than six decimals is refused rather than rounded."""
    try:
        degrees = Decimal(text.strip())
    except InvalidOperation:
        raise CliError(f"{what} {text!r} is not a number of degrees such as 51.054342") from None
    if not degrees.is_finite():
        raise CliError(f"{what} {text!r} is not a number of degrees")
    if not -limit <= degrees <= limit:
        raise CliError(f"{what} {text} is outside -{limit}..{limit} degrees")
    too_fine = CliError(f"{what} {text} has more than 6 decimals (millionths of a degree)")
    with localcontext() as exact:
        exact.traps[Inexact] = True
        try:
            scaled = degrees * MICRODEGREES
        except Inexact:
            raise too_fine from None
    if scaled != scaled.to_integral_value():
        raise too_fine
    return int(scaled)


def checked(payload: FarmPayload) -> FarmPayload:
    """The payload as the chain will parse it: the chain's own checks (name, country, ranges)
    fail here, before a fee is paid, with the chain's own message."""
    return farm_payload_from_value(KIND_OF[type(payload)], farm_payload_to_value(payload))


def _address(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except RuleViolation as exc:
        raise CliError(f"{what}: {exc.message}", exc.code) from None


def owner_address(store: Keystore, text: str) -> Address:
    """A keystore key name, or an address."""
    if store.exists(text):
        return parse_address(store.show(text).address)
    return _address(text, f"--owner {text!r} is neither a keystore key nor an address")


# farmer


T = TypeVar("T")


@click.group()
def farmer() -> None:
    """Register a farm and its node, make plots, farm, and see what a farm earns."""


@farmer.command("register")
@click.option("--owner", required=True, metavar="KEY", help="Keystore key that owns the farm.")
@click.option("--node-key", required=True, metavar="KEY", help="Keystore key of the node.")
@click.option("--name", "farm_name", metavar="NAME", help="Farm name (when creating the farm).")
@click.option("--bond", type=click.IntRange(min=0), help="Credits the new farm bonds.")
@click.option("--cores", required=True, type=click.IntRange(min=1), help="Declared CPU cores.")
@click.option("--memory-mb", required=True, type=click.IntRange(min=1), help="Declared memory.")
@click.option("--ssd-gb", required=True, type=click.IntRange(min=0), help="Declared SSD space.")
@click.option("--hdd-gb", required=True, type=click.IntRange(min=0), help="Declared HDD space.")
@click.option("--country", required=True, help="ISO 3166 alpha-2 code, e.g. BE.")
@click.option("--city", required=True)
@click.option("--latitude", required=True, metavar="DEGREES", help="Decimal degrees, e.g. 51.05.")
@click.option("--longitude", required=True, metavar="DEGREES", help="Decimal degrees, e.g. 3.72.")
@click.option("--payout", metavar="ADDR", help="Where rewards go [default: the owner's address].")
@click.option(
    "--node-funds",
    default=DEFAULT_NODE_FUNDS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Credits the owner sends the node key for its transaction fees (0: none).",
)
@click.option("--farm", "farm_id", type=click.IntRange(min=1), help="Add the node to this farm.")
@click.option(
    "--container/--no-container",
    default=True,
    show_default=True,
    help="The node runs container workloads (in its sandbox runtime).",
)
@click.option("--vm/--no-vm", default=False, show_default=True, help="The node has a hypervisor.")
@click.option(
    "--gateway",
    "gateway_domain",
    metavar="DOMAIN",
    default="",
    help="The node is a gateway serving names under DOMAIN (e.g. gw.example.org).",
)
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0))
@keystore_options
@node_option
@json_option
def farmer_register(
    owner: str,
    node_key: str,
    farm_name: str | None,
    bond: int | None,
    cores: int,
    memory_mb: int,
    ssd_gb: int,
    hdd_gb: int,
    country: str,
    city: str,
    latitude: str,
    longitude: str,
    payout: str | None,
    node_funds: int,
    farm_id: int | None,
    container: bool,
    vm: bool,
    gateway_domain: str,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Create a farm (unless --farm), fund the node key and register the node in the farm."""
    location = Location(
        country,
        city,
        microdegrees(latitude, "--latitude", 90),
        microdegrees(longitude, "--longitude", 180),
    )
    resources = Resources(cores, memory_mb, ssd_gb, hdd_gb)
    capabilities = Capabilities(container, vm, gateway_domain.strip().lower())
    blank_key, blank_signature = bytes(PUBLIC_KEY_SIZE), bytes(SIGNATURE_SIZE)
    checked(NodeRegister(1, blank_key, resources, location, blank_signature, capabilities))
    store = open_keystore(keystore)
    owner_info = store.show(owner)
    owner_addr = parse_address(owner_info.address)
    payout_addr = owner_addr if payout is None else _address(payout, "--payout")
    create: FarmPayload | None = None
    if farm_id is None:
        if farm_name is None or bond is None:
            raise CliError("give --name and --bond to create a farm, or --farm ID to join one")
        create = checked(FarmCreate(farm_name, payout_addr, bond))
    owner_key = unlock(store, owner, passphrase_file)
    node_pair = unlock(store, node_key, passphrase_file)
    client = node_client(node_url)
    chain_id = answer_field(client.status(), "chain_id", str)
    existing = find_node(client, node_pair.public_key)
    if existing is not None:
        raise CliError(
            f"node key {node_key} is already node {existing.get('id')} of farm "
            f"{existing.get('farm')}",
            "already_registered",
        )
    say = progress(as_json)
    sent: dict[str, Any] = {}
    if farm_id is None:
        assert isinstance(create, FarmCreate)
        farming = client.farming()
        min_bond = params_from_json(field_of(farming, "params")).farm_min_bond
        if create.bond < min_bond:
            raise CliError(
                f"--bond {create.bond} is below this chain's minimum farm bond {min_bond}"
            )
        before = answer_field(farming, "next_farm", int)
        say(f"creating farm {farm_name!r} with bond {bond}...")
        sent["farm_create"] = send(client, owner_key, create, timeout, as_json)["id"]
        farm_id = created_farm(client, before, owner_addr, str(farm_name))
    farm = client.farm(farm_id)
    if farm.get("owner") != str(owner_addr):
        raise CliError(f"farm {farm_id} is owned by {farm.get('owner')}, not {owner_addr}")
    node_address = key_address(node_pair.public_key)
    if node_funds:
        say(f"sending {node_funds} to the node's address {node_address}...")
        funding = Transfer(node_address, node_funds)
        sent["transfer"] = send(client, owner_key, funding, timeout, as_json)["id"]
    consent = node_pair.sign(node_consent_message(chain_id, farm_id, node_pair.public_key))
    register = checked(
        NodeRegister(farm_id, node_pair.public_key, resources, location, consent, capabilities)
    )
    say(f"registering the node in farm {farm_id}...")
    sent["node_register"] = send(client, owner_key, register, timeout, as_json)["id"]
    node = find_node(client, node_pair.public_key)
    if node is None:
        raise CliError("the node registration was committed but the node cannot find it")
    result = {
        "farm": node["farm"],
        "node": node["id"],
        "node_key": node_pair.public_key.hex(),
        "node_address": str(node_address),
        "payout": farm.get("payout"),
        "txs": sent,
    }
    emit(
        as_json,
        result,
        [
            f"farm {result['farm']}, node {result['node']} (key {result['node_key']})",
            f"node address {node_address} (pays the node's fees); rewards go to {result['payout']}",
            f"run it: gridchain farmer run --node-key {node_key} --plots DIR "
            f"--owner-address {owner_addr}",
        ],
    )


def created_farm(client: NodeClient, first: int, owner: Address, name: str) -> int:
    """The farm our FarmCreate made: the first farm from `first` on with our owner and name."""
    last = answer_field(client.farming(), "next_farm", int)
    for farm_id in range(first, last):
        farm = client.farm(farm_id)
        if farm.get("owner") == str(owner) and farm.get("name") == name:
            return farm_id
    raise CliError(f"the farm was created but no farm from {first} on is {name!r} of {owner}")


@farmer.command("plot")
@click.option(
    "--owner", required=True, metavar="KEY|ADDR", help="The farm owner the plots are for."
)
@click.option("--k", "k", required=True, type=int, help=f"Plot size (k >= {MIN_PLOT_K}).")
@click.option("--count", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path))
@keystore_option
@json_option
def farmer_plot(
    owner: str, k: int, count: int, directory: Path, keystore: Path | None, as_json: bool
) -> None:
    """Make COUNT chiapos plots of size K in DIR for the farm owner (about 0.762 * k * 2**k
    bytes each; the owner's address is in every plot, so only its farm can prove them)."""
    if not MIN_PLOT_K <= k <= MAX_PLOT_K:
        raise CliError(
            f"--k {k} is outside {MIN_PLOT_K}..{MAX_PLOT_K}: chiapos makes no plots below "
            f"k={MIN_PLOT_K} and the chain accepts none above k={MAX_PLOT_K}"
        )
    address = owner_address(open_keystore(keystore), owner)
    say = progress(as_json)
    made = []
    for i in range(count):

        def report(percent: int, line: str, i: int = i) -> None:
            say(f"plot {i + 1}/{count}: {percent:3d}% {line}")

        plot = create_plot(directory, address, k, progress=report)
        made.append(plot_to_json(plot))
    emit(
        as_json,
        made,
        [f"{p['path']} (k={p['k']}, {p['bytes']} bytes, id {p['id']})" for p in made],
    )


def plot_to_json(plot: Plot) -> dict[str, Any]:
    return {
        "path": str(plot.path),
        "k": plot.k,
        "seed": plot.seed.hex(),
        "id": plot.id.hex(),
        "bytes": plot.path.stat().st_size,
    }


@farmer.command("run")
@click.option("--node-key", required=True, metavar="KEY", help="Keystore key of the node.")
@click.option(
    "--plots",
    "plots_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Directory of the farm's plots.",
)
@click.option("--owner-address", required=True, metavar="ADDR", help="The farm owner's address.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--once", is_flag=True, help="Send what is due now (and open a commitment it makes), then stop."
)
@click.option(
    "--poll",
    default=DEFAULT_POLL,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between looks at the chain.",
)
@click.option(
    "--runtime-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the sandbox runtime keeps the replicas (needed if the node runs containers).",
)
@click.option(
    "--subnet",
    default=DEFAULT_SUBNET,
    show_default=True,
    help="The private IPv4 range the replicas' addresses come from (one per machine).",
)
@click.option(
    "--gateway-listen",
    default="0.0.0.0:80",
    show_default=True,
    metavar="HOST:PORT",
    help="Where a gateway node's reverse proxy listens.",
)
@keystore_options
@node_option
@json_option
def farmer_run(
    node_key: str,
    plots_dir: Path,
    owner_address: str,
    workers: int,
    once: bool,
    poll: float,
    runtime_dir: Path | None,
    subnet: str,
    gateway_listen: str,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Farm with the node: heartbeats, storage proofs and compute answers as they fall due,
    and the workloads the chain placed on it (run in the sandbox runtime, reported and billed
    on chain; served by the reverse proxy on a gateway), until SIGINT or SIGTERM. A compute
    commitment already sent is opened before it stops (an unopened one costs the farm its
    bond); a second signal stops it at once. Replicas keep running across restarts."""
    owner = _address(owner_address, "--owner-address")
    try:
        plots = load_plots(plots_dir, owner)
    except PlotError as exc:
        raise CliError(str(exc), "bad_plot") from None
    key = unlock(open_keystore(keystore), node_key, passphrase_file)
    client = node_client(node_url)
    echo = echo_event(as_json)
    found = patiently(lambda: find_node(client, key.public_key), echo, wait=not once)
    if found is None:
        raise CliError(
            f"node key {node_key} is not registered: run `gridchain farmer register` first",
            "not_registered",
        )
    farming = patiently(client.farming, echo, wait=not once)
    agent = FarmerAgent(
        params_from_json(field_of(farming, "params")), node_from_json(found), plots, workers
    )
    runner = patiently(lambda: Runner(client, key, agent, echo), echo, wait=not once)
    roles = workload_roles(client, runner, agent, runtime_dir, subnet, gateway_listen)
    runner.say(
        "start",
        f"node {agent.node.id} of farm {agent.node.farm}: {len(plots)} plots, "
        f"{workers} compute workers",
        node=agent.node.id,
        farm=agent.node.farm,
        plots=len(plots),
    )
    stop, force, done = threading.Event(), threading.Event(), threading.Event()
    mismatch: ReleaseMismatch | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            force.set()
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    beats = threading.Thread(target=runner.beat, args=(done, stop, poll), name="heartbeats")
    workloads = threading.Thread(target=roles.run, args=(done, poll), name="workloads")
    try:
        if once:
            runner.heartbeat()
            roles.round()
        else:
            beats.start()
            workloads.start()
        while True:
            try:
                runner.work()
            except ReleaseMismatch as exc:  # stop as on a signal: a commitment is opened first
                mismatch = exc
                stop.set()
            if stop.is_set() or once:
                if force.is_set() or not runner.owes_reveal():
                    break
                runner.say_waiting()
            (force if stop.is_set() else stop).wait(poll)
    finally:
        done.set()
        if beats.is_alive():
            beats.join()
        if workloads.is_alive():
            workloads.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if runner.failure is not None:
        raise CliError(f"heartbeats stopped: {runner.failure!r}", "farmer_failed")
    if mismatch is not None:
        raise mismatch
    runner.say("stop", f"stopped: {runner.sent} transactions sent", sent=runner.sent)


def patiently(
    read: Callable[[], T], echo: Callable[[str, str, dict[str, Any]], None], wait: bool = True
) -> T:
    """`read` from the node, again while the node cannot be reached (backing off up to
    MAX_BACKOFF): a farm node that boots while its validator is down waits for it, its
    replicas running on, rather than exit and leave nobody to heartbeat once the node is back.
    Without `wait` (`--once`) an unreachable node is an error at once."""
    pause = 1.0
    while True:
        try:
            return read()
        except NodeUnreachable as exc:
            if not wait:
                raise
            echo("waiting", f"waiting for the node: {exc.message}", {"message": exc.message})
        time.sleep(pause)
        pause = min(2 * pause, MAX_BACKOFF)


def workload_roles(
    client: NodeClient,
    runner: Runner,
    agent: FarmerAgent,
    runtime_dir: Path | None,
    subnet: str,
    gateway_listen: str,
) -> WorkloadRoles:
    """The deployer if the node declared containers, the gateway if it declared a domain."""
    node = agent.node
    deployer = gateway = None
    if node.capabilities.container:
        if runtime_dir is None:
            raise CliError(f"node {node.id} runs containers: give --runtime-dir", "usage")
        try:
            runtime = Runtime(runtime_dir, subnet=subnet)
        except SandboxError as exc:
            raise CliError(
                f"the sandbox runtime cannot run here: {exc.message}", exc.code
            ) from None
        deployer = Deployer(
            node.id,
            runtime,
            lambda: client.node_replicas(node.id),
            runner.submit,
            runner.say,
            bill_every=agent.params.billing_period_blocks,
        )
    if node.capabilities.gateway:
        directory = (runtime_dir or Path("gateway")).resolve() / "gateway"
        directory.mkdir(parents=True, exist_ok=True)
        try:
            gateway = Gateway(directory, gateway_listen)
        except GatewayError as exc:
            raise CliError(str(exc.message), exc.code) from None
    return WorkloadRoles(deployer, gateway, lambda: client.node_routes(node.id), runner.say)


def echo_event(as_json: bool) -> Callable[[str, str, dict[str, Any]], None]:
    """How `farmer run` says what happened: a line of text, or a JSON object per event."""

    def echo(event: str, text: str, data: dict[str, Any]) -> None:
        click.echo(json.dumps({"event": event, **data}) if as_json else text)

    return echo


@farmer.command("status")
@click.option("--farm", "farm_id", required=True, type=click.IntRange(min=1))
@click.option(
    "--epochs",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many settled epochs of earnings to show.",
)
@node_option
@json_option
def farmer_status(farm_id: int, epochs: int, node_url: str | None, as_json: bool) -> None:
    """A farm: its bond, its nodes' activity this epoch with what they would earn so far, and
    what its last settled epochs paid."""
    client = node_client(node_url)
    farm = client.farm(farm_id)
    nodes = [client.node(n) for n in farm.get("node_ids", [])]
    settled = client.farm_rewards(farm_id, epochs).get("epochs", [])
    view = {
        "farm": farm,
        "nodes": nodes,
        "epochs": settled,
        "earned": sum(int(e["total"]) for e in settled),
    }
    emit(as_json, view, status_lines(view))


def status_lines(view: dict[str, Any]) -> list[str]:
    farm = view["farm"]
    slashed = farm["slashed_epoch"]
    lines = [
        f"farm {farm['id']} {farm['name']!r}: owner {farm['owner']}, payout {farm['payout']}",
        f"bond {farm['bond']}"
        + ("" if slashed is None else f", slashed in epoch {slashed}")
        + f", {farm['nodes']} node(s)",
        "",
        f"{'node':>6} {'epoch':>6} {'beats':>6} {'proofs':>7} {'storage':>12} {'compute':>10} "
        f"{'uptime':>8} {'projected':>12}",
    ]
    for node in view["nodes"]:
        a = node.get("activity") or {}
        p = node.get("projected") or {}
        uptime = "-" if not p else f"{p['uptime_bp'] / 100:g}%"
        lines.append(
            f"{node['id']:>6} {a.get('epoch', '-'):>6} {a.get('heartbeats', 0):>6} "
            f"{a.get('proofs', 0):>7} {p.get('storage_bytes', 0):>12} {a.get('compute', '-'):>10} "
            f"{uptime:>8} {p.get('amount', 0):>12}"
        )
    lines += ["", f"{'epoch':>6} {'height':>8} {'earned':>14}  per node"]
    for e in view["epochs"]:
        per_node = ", ".join(f"node {r['node']}: {r['amount']}" for r in e["lines"]) or "-"
        lines.append(f"{e['epoch']:>6} {e['height']:>8} {e['total']:>14}  {per_node}")
    lines.append(f"earned over these epochs: {view['earned']}")
    return lines
