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
from dataclasses import fields, replace
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from pathlib import Path
from types import FrameType
from typing import Any

import click

from chain.address import Address, key_address, parse_address
from chain.errors import RuleViolation
from chain.farming.compute import challenge_height
from chain.farming.records import (
    COMMITTED,
    COMPUTE_STATES,
    NO_EPOCH,
    NONE,
    Activity,
    EpochInfo,
    FarmNode,
)
from chain.farming.rules import node_consent_message
from chain.farming.txs import (
    FARM_PAYLOADS,
    MICRODEGREES,
    FarmCreate,
    FarmPayload,
    Location,
    NodeRegister,
    Resources,
    farm_payload_from_value,
    farm_payload_to_value,
    location_from_value,
    resources_from_value,
)
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair
from chain.ledger.transactions import Transfer, TxBody, sign_tx
from chain.params import MAX_PLOT_K, MIN_PLOT_K, ChainParams
from node.api.client import ApiError, NodeClient
from node.cli.common import (
    CliError,
    answer_field,
    keystore_option,
    keystore_options,
    node_client,
    node_option,
    open_keystore,
)
from node.cli.contract import send, unlock
from node.cli.output import emit, json_option, progress
from node.farmer.agent import ChainView, FarmerAgent
from node.farmer.plots import Plot, PlotError, create_plot, load_plots
from node.keystore import Keystore

KIND_OF = {cls: kind for kind, cls in FARM_PAYLOADS.items()}
PARAM_FIELDS = {f.name for f in fields(ChainParams)}
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


# Reading the chain's answers back into the rules' records


def _get(view: dict[str, Any], name: str) -> Any:
    if name not in view:
        raise ApiError("bad_response", f"the node's answer has no {name!r}")
    return view[name]


def _bytes(view: dict[str, Any], name: str) -> bytes:
    text = answer_field(view, name, str)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ApiError("bad_response", f"the node's {name!r} is not hex: {text!r}") from None


def node_from_json(view: dict[str, Any]) -> FarmNode:
    """GET /v1/nodes/{id} as the record the agent works from (checked as the chain checks it)."""
    r, loc = _get(view, "resources"), _get(view, "location")
    try:
        resources = resources_from_value([r["cores"], r["memory_mb"], r["ssd_gb"], r["hdd_gb"]])
        location = location_from_value(
            [loc["country"], loc["city"], loc["latitude"], loc["longitude"]]
        )
    except (KeyError, TypeError, RuleViolation) as exc:
        raise ApiError("bad_response", f"the node's resources or location: {exc}") from None
    return FarmNode(
        id=answer_field(view, "id", int),
        farm=answer_field(view, "farm", int),
        key=_bytes(view, "key"),
        resources=resources,
        location=location,
        registered_height=answer_field(view, "registered_height", int),
    )


def activity_from_json(view: dict[str, Any]) -> Activity:
    compute = answer_field(view, "compute", str)
    if compute not in COMPUTE_STATES:
        raise ApiError("bad_response", f"unknown compute state {compute!r}")
    last_slot = _get(view, "last_slot")
    commit_height = _get(view, "commit_height")
    return Activity(
        epoch=answer_field(view, "epoch", int),
        heartbeats=answer_field(view, "heartbeats", int),
        last_slot=NO_EPOCH if last_slot is None else int(last_slot),
        space=answer_field(view, "space", int),
        proofs=answer_field(view, "proofs", int),
        compute=compute,
        commit_height=0 if commit_height is None else int(commit_height),
        count=answer_field(view, "units", int),
        root=_bytes(view, "root"),
    )


def params_from_json(params: dict[str, Any]) -> ChainParams:
    """The farming parameters GET /v1/farming shows, over the defaults for the rest."""
    known = {name: value for name, value in params.items() if name in PARAM_FIELDS}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in known.values()):
        raise ApiError("bad_response", f"the node's farming parameters are not integers: {params}")
    return replace(ChainParams(), **known)


def chain_view(farming: dict[str, Any], node: dict[str, Any]) -> ChainView | None:
    """What the agent sees, from GET /v1/farming and GET /v1/nodes/{id}; None if the two were
    read at different heights (a block came in between: ask again) or farming has not begun."""
    epoch = farming.get("epoch")
    activity = node.get("activity")
    height = answer_field(farming, "height", int)
    if epoch is None or activity is None or node.get("height") != height:
        return None
    info = EpochInfo(
        answer_field(epoch, "epoch", int), answer_field(epoch, "start", int), _bytes(epoch, "seed")
    )
    recent: dict[int, bytes] = {}
    for item in _get(farming, "recent_hashes"):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)):
            raise ApiError("bad_response", f"a recent hash is not [height, hash]: {item!r}")
        recent[item[0]] = _bytes({"recent hash": item[1]}, "recent hash")
    return ChainView(
        height, _bytes(farming, "head_hash"), info, activity_from_json(activity), recent.get
    )


def find_node(client: NodeClient, public_key: bytes) -> dict[str, Any] | None:
    try:
        return client.node_by_key(public_key.hex())
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


# farmer


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
    blank_key, blank_signature = bytes(PUBLIC_KEY_SIZE), bytes(SIGNATURE_SIZE)
    checked(NodeRegister(1, blank_key, resources, location, blank_signature))
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
        min_bond = params_from_json(_get(farming, "params")).farm_min_bond
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
    register = checked(NodeRegister(farm_id, node_pair.public_key, resources, location, consent))
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
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Farm with the node: heartbeats, storage proofs and compute answers as they fall due,
    until SIGINT or SIGTERM. A compute commitment already sent is opened before it stops (an
    unopened one costs the farm its bond); a second signal stops it at once."""
    owner = _address(owner_address, "--owner-address")
    try:
        plots = load_plots(plots_dir, owner)
    except PlotError as exc:
        raise CliError(str(exc), "bad_plot") from None
    key = unlock(open_keystore(keystore), node_key, passphrase_file)
    client = node_client(node_url)
    found = find_node(client, key.public_key)
    if found is None:
        raise CliError(
            f"node key {node_key} is not registered: run `gridchain farmer register` first",
            "not_registered",
        )
    farming = client.farming()
    agent = FarmerAgent(
        params_from_json(_get(farming, "params")), node_from_json(found), plots, workers
    )
    runner = Runner(client, key, agent, as_json)
    runner.say(
        "start",
        f"node {agent.node.id} of farm {agent.node.farm}: {len(plots)} plots, "
        f"{workers} compute workers",
        node=agent.node.id,
        farm=agent.node.farm,
        plots=len(plots),
    )
    stop, force, done = threading.Event(), threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            force.set()
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    beats = threading.Thread(target=runner.beat, args=(done, stop, poll), name="heartbeats")
    try:
        if once:
            runner.heartbeat()
        else:
            beats.start()
        while True:
            runner.work()
            if stop.is_set() or once:
                if force.is_set() or not runner.owes_reveal():
                    break
                runner.say_waiting()
            (force if stop.is_set() else stop).wait(poll)
    finally:
        done.set()
        if beats.is_alive():
            beats.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if runner.failure is not None:
        raise CliError(f"heartbeats stopped: {runner.failure!r}", "farmer_failed")
    runner.say("stop", f"stopped: {runner.sent} transactions sent", sent=runner.sent)


class Runner:
    """One farming node: read the chain, ask the agent, sign and send, report.

    Heartbeats have a thread of their own (`beat`): a slot lasts a few blocks, and the compute
    work `work` does in its thread may take longer than that."""

    def __init__(self, client: NodeClient, key: KeyPair, agent: FarmerAgent, as_json: bool):
        self.client = client
        self.key = key
        self.agent = agent
        self.as_json = as_json
        self.address = key_address(key.public_key)
        status = client.status()
        self.chain_id = answer_field(status, "chain_id", str)
        self.fee = int((status.get("fees") or {}).get("min_fee", 1))
        self.lock = threading.RLock()  # one sender at a time: a nonce is read and used under it
        self.logged = 0
        self.sent = 0
        self.epoch: int | None = None
        self.reported_epoch: int | None = None
        self.failure: Exception | None = None
        self.last_view: ChainView | None = None
        self.waiting = False

    def say(self, event: str, text: str, **data: Any) -> None:
        """One line per event: text for people, a JSON object with --json."""
        with self.lock:
            if self.as_json:
                click.echo(json.dumps({"event": event, **data}))
            else:
                click.echo(text)

    def view(self) -> ChainView | None:
        """The chain as the agent sees it; None if it cannot be read consistently just now."""
        try:
            farming = self.client.farming()
            return chain_view(farming, self.client.node(self.agent.node.id))
        except ApiError as exc:
            self.say(
                "error", f"reading the chain: {exc.message}", code=exc.code, message=exc.message
            )
            return None

    def beat(self, done: threading.Event, stop: threading.Event, poll: float) -> None:
        try:
            while not done.is_set():
                self.heartbeat()
                done.wait(poll)
        except Exception as exc:
            self.failure = exc  # the main loop stops and reports it: no farming without uptime
            stop.set()

    def owes_reveal(self) -> bool:
        """Whether this farmer committed a compute answer it has not opened yet while it still
        may: a commitment never opened costs the farm its bond, and the answer lives only in
        this process."""
        agent, view = self.agent, self.last_view
        answer = agent.answer
        if answer is None or view is None or agent.revealed_epoch == answer.epoch:
            return False
        if view.epoch.epoch != answer.epoch or view.activity.compute not in (NONE, COMMITTED):
            return False
        asked = challenge_height(agent.params, view.epoch.start, view.epoch.seed, agent.node.id)
        params = agent.params
        return view.height <= asked + params.compute_deadline_blocks + params.compute_reveal_blocks

    def say_waiting(self) -> None:
        if not self.waiting:
            self.waiting = True
            self.say(
                "waiting",
                "stopping once this epoch's compute commitment is opened (an unopened one costs "
                "the farm its bond); signal again to stop now",
            )

    def heartbeat(self) -> None:
        view = self.view()
        if view is not None:
            self.submit(self.agent.heartbeat(view), view)

    def work(self) -> None:
        """Storage proofs and compute answers as they fall due, and the rewards settled."""
        view = self.view()
        if view is None:
            return
        self.last_view = view
        self.report_rewards(view.epoch.epoch)
        payloads = self.agent.storage_proofs(view) + self.agent.compute(view)
        self.flush_log()
        self.submit(payloads, view)

    def submit(self, payloads: list[FarmPayload], view: ChainView) -> None:
        if not payloads:
            return
        with self.lock:
            self._submit(payloads, view)

    def _submit(self, payloads: list[FarmPayload], view: ChainView) -> None:
        try:
            nonce = answer_field(self.client.account(str(self.address)), "next_nonce", int)
        except ApiError as exc:
            self.say("error", f"reading the node's nonce: {exc.message}", code=exc.code)
            return
        for payload in payloads:
            kind = KIND_OF[type(payload)]
            signed = sign_tx(
                TxBody(self.chain_id, self.address, nonce, self.fee, payload), [self.key]
            )
            try:
                self.client.submit_tx(signed.encoded)
            except ApiError as exc:
                self.say(
                    "error",
                    f"{kind} not accepted: {exc.code}: {exc.message}",
                    type=kind,
                    code=exc.code,
                    message=exc.message,
                )
                continue
            nonce += 1
            self.sent += 1
            self.say(
                "sent",
                f"sent {kind} {signed.id.hex()} (epoch {view.epoch.epoch}, height {view.height})",
                type=kind,
                id=signed.id.hex(),
                nonce=signed.body.nonce,
                epoch=view.epoch.epoch,
                height=view.height,
            )

    def flush_log(self) -> None:
        for line in self.agent.log[self.logged :]:
            self.say("log", line, message=line)
        self.logged = len(self.agent.log)

    def report_rewards(self, epoch: int) -> None:
        """When an epoch has been settled since the last look, what it paid this node."""
        if self.epoch == epoch:
            return
        first = self.epoch is None
        self.epoch = epoch
        if first or self.reported_epoch is None:
            self.reported_epoch = epoch - 1
            return
        new = epoch - 1 - self.reported_epoch
        if new <= 0:
            return
        try:
            settled = self.client.farm_rewards(self.agent.node.farm, new)
        except ApiError as exc:
            self.say("error", f"reading rewards: {exc.message}", code=exc.code)
            return
        self.reported_epoch = epoch - 1
        node = self.agent.node.id
        for item in reversed(settled.get("epochs") or []):
            line = next((r for r in item.get("lines", []) if r.get("node") == node), None)
            amount = 0 if line is None else int(line["amount"])
            detail = (
                "no activity recorded"
                if line is None
                else f"storage {line['storage_bytes']} bytes, compute "
                f"{line['compute_milli_cores']} millicores, uptime {line['uptime_bp'] / 100:g}%"
            )
            if line is not None and line["uptime_bp"] < self.agent.params.min_uptime_bp:
                detail += f", below the {self.agent.params.min_uptime_bp / 100:g}% minimum"
            self.say(
                "reward",
                f"epoch {item['epoch']} settled in block {item['height']}: node {node} earned "
                f"{amount} ({detail})",
                epoch=item["epoch"],
                height=item["height"],
                node=node,
                amount=amount,
                line=line,
            )


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
