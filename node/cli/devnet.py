"""`gridchain devnet up|down|status|stop|start`: a local network in one command, validators
and farm nodes.

node/cli/main.py adds this group to the `gridchain` command; its root group renders the errors
raised here (DevnetError and the chain's own) as clean messages or JSON.
"""

import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import click

from devnet import network
from devnet import status as devnet_status
from devnet.processes import DevnetError
from node.cli.output import emit, json_option, progress
from node.config import Home, load_validator_key, validator_spec
from node.explorer import explorer_built

DIR_HELP = "The devnet's directory."


def dir_option(f: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        default=str(network.DEFAULT_DIR),
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=DIR_HELP,
    )(f)


@click.group()
def devnet() -> None:
    """Run a local development network."""


@devnet.command("up")
@dir_option
@click.option(
    "--validators",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of validators, each with equal blockstake.",
)
@click.option(
    "--base-port",
    default=26657,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="API port of node0; node i serves its API on base-port + i and peer links on "
    "base-port + 100 + i.",
)
@click.option(
    "--farmers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Farm nodes (`farmer run` processes) the devnet has at least, spread over countries; "
    "farmer1 is also the gateway. Those missing are registered; every one the devnet has is "
    "started.",
)
@json_option
def up(directory: Path, validators: int, base_port: int, farmers: int, as_json: bool) -> None:
    """Create the devnet on first use, then start its nodes and farmers (reusing keys and
    chain data)."""
    result = network.up(directory, validators, base_port, progress(as_json), farmers=farmers)
    net = result.devnet
    first = net.nodes[0]
    keystore = net.keystore
    explorer = f"{first.api}/explorer/"
    data = {
        **net.to_json(),
        "started": result.started,
        "already_running": result.already_running,
        "explorer": explorer,
    }
    head = "devnet is already running" if result.already_running else "devnet is up"
    # --node is only needed when ./.devnet does not already point the CLI at this devnet.
    node = "" if network.default_devnet_url() == first.api else f" --node {first.api}"
    bob = net.accounts.get("bob", "<bob address>")
    lines = [
        f"{head} ({net.directory})",
        *(
            f"  {n.name}: API {n.api}, peers {n.p2p} (pid {n.pid}, home {n.home})"
            for n in net.nodes
        ),
        *farmer_lines(net),
        f"explorer:   {explorer}"
        + ("" if explorer_built() else "  (not built yet: run `make explorer`)"),
        f"keystore:   {keystore}",
        f"passphrase: {net.passphrase}  (the documented devnet passphrase)",
        *(f"  {name:<8} {address}" for name, address in net.accounts.items()),
        f"council:    {net.council.get('threshold')} of "
        f"{', '.join(net.council.get('members', []))} sign for multisig account "
        f"{net.council.get('account')}",
        "",
        "try:",
        f"  export GRIDCHAIN_PASSPHRASE={net.passphrase}",
        f"  gridchain status{node}",
        f"  gridchain tx transfer --keystore {keystore} --from alice --to {bob} --amount 5 --wait"
        + node,
        f"  gridchain query account {bob}{node}",
        "  gridchain devnet down"
        + ("" if net.directory == network.DEFAULT_DIR.absolute() else f" --dir {net.directory}"),
    ]
    emit(as_json, data, lines)


def farmer_lines(net: network.Devnet) -> list[str]:
    lines = [
        f"  {f.name}: node {f.node} of farm {f.farm} in {f.country} ({f.city}), "
        f"via {f.validator} (pid {f.pid}, log {f.log})"
        + ("" if f.containers else f"; no containers: {f.containers_off or 'not declared'}")
        for f in net.farmers
    ]
    gateway = net.gateway
    if gateway is not None:
        lines.append(
            f"  gateway:  {gateway['address']} for names under {gateway['domain']} "
            f"({gateway['farmer']}); try: curl -H 'Host: NAME.{gateway['domain']}' "
            f"http://{gateway['address']}/"
        )
    return lines


@devnet.command("down")
@dir_option
@click.option("--purge", is_flag=True, help="Also delete the directory: keys, genesis and data.")
@json_option
def down(directory: Path, purge: bool, as_json: bool) -> None:
    """Stop the devnet's farmers (SIGTERM, then SIGKILL after 30 s), their replicas, and its
    validators (SIGTERM, then SIGKILL after 15 s)."""
    result = network.down(directory, purge, progress(as_json))
    lines = [f"stopped {', '.join(result.stopped)}" if result.stopped else "no node was running"]
    if result.killed:
        lines.append(f"killed {', '.join(result.killed)} (did not stop in time)")
    if result.purged:
        lines.append(f"deleted {result.directory}")
    data = {
        "dir": str(result.directory),
        "stopped": result.stopped,
        "killed": result.killed,
        "purged": result.purged,
    }
    emit(as_json, data, lines)


@devnet.command("status")
@dir_option
@json_option
def status(directory: Path, as_json: bool) -> None:
    """Show each node (process alive, height, consensus round and step, peers, head block),
    each farmer (process alive, node, country, heartbeats this epoch) and the gateway."""
    net, nodes, farmers = devnet_status.status(directory)
    lines = [f"devnet {net.directory} (chain {net.chain_id})"]
    for n in nodes:
        if not n.alive:
            state = "stopped"
        elif n.error:
            state = f"running (pid {n.pid}), API not answering: {n.error}"
        else:
            state = (
                f"running (pid {n.pid}), height {n.height}, round {n.round} ({n.step}), "
                f"{n.peers} peers, block {(n.block_hash or '')[:16]}"
            )
        lines.append(f"  {n.name}: {state}; API {n.api}")
    for f in farmers:
        state = f"running (pid {f['pid']})" if f["alive"] else "stopped"
        activity = (
            f"epoch {f.get('epoch')}: {f.get('heartbeats')} heartbeats" if "epoch" in f else ""
        )
        lines.append(
            f"  {f['name']}: {state}, node {f['node']} in {f['country']}"
            + (f", {activity}" if activity else "")
            + (f", API not answering: {f['error']}" if "error" in f else "")
        )
    gateway = net.gateway
    if gateway is not None:
        lines.append(f"  gateway: {gateway['address']}, names under {gateway['domain']}")
    data = {**net.to_json(), "nodes": [n.to_json() for n in nodes], "farmers": farmers}
    emit(as_json, data, lines)


@devnet.command("stop")
@dir_option
@click.argument("name")
@click.option("--kill", is_flag=True, help="SIGKILL instead of SIGTERM (a crash, for testing).")
@click.option(
    "--crash",
    is_flag=True,
    help="A farmer only: SIGKILL it and every process of its replicas, as if its machine died.",
)
@json_option
def stop(directory: Path, name: str, kill: bool, crash: bool, as_json: bool) -> None:
    """Stop one validator or farmer by name (node2, farmer1); the others keep running, and so
    do a farmer's replicas (unless --crash)."""
    was_running, killed = network.stop_node(directory, name, kill, progress(as_json), crash=crash)
    line = (
        f"{'killed' if killed else 'stopped'} {name}" if was_running else f"{name} was not running"
    )
    emit(as_json, {"node": name, "was_running": was_running, "killed": killed}, [line])


@devnet.command("join")
@dir_option
@json_option
def join(directory: Path, as_json: bool) -> None:
    """Set up one more node beside the devnet's, not started and not yet a validator: it prints
    the validator spec the council adds it with (`gridchain tx validator-add SPEC:BLOCKSTAKE
    --signer council1 --signer council2`), then `gridchain devnet start NAME` starts it."""
    entry = network.join(directory, progress(as_json))
    spec = validator_spec(load_validator_key(Home(Path(entry.home))))
    signers = " ".join(
        f"--signer {name}" for name in network.COUNCIL_MEMBERS[: network.COUNCIL_THRESHOLD]
    )
    add = f"gridchain tx validator-add {spec}:{network.VALIDATOR_BLOCKSTAKE} {signers}"
    view = {"node": entry.name, "home": entry.home, "api": entry.api, "validator_spec": spec}
    lines = [
        f"{entry.name}: home {entry.home}, API {entry.api}",
        f"add it:   {add} --wait",
        f"start it: gridchain devnet start {entry.name}",
    ]
    emit(as_json, view, lines)


@devnet.command("start")
@dir_option
@click.argument("name")
@json_option
def start(directory: Path, name: str, as_json: bool) -> None:
    """Start one stopped node again (it catches up by block sync and rejoins consensus), or a
    farmer (it carries on heartbeating and finds its replicas again)."""
    started = network.start_node(directory, name, progress(as_json))
    line = f"started {name}" if started else f"{name} is already running"
    emit(as_json, {"node": name, "started": started}, [line])


@devnet.command("chaos")
@click.option(
    "--seconds",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=10),
    help="How long faults are drawn; healing, settling and the final checks come after.",
)
@click.option("--seed", type=int, default=None, help="The schedule's seed (random if not given).")
@click.option(
    "--validators", default=4, show_default=True, type=click.IntRange(4, 7), help="Validators."
)
@click.option(
    "--farmers", default=3, show_default=True, type=click.IntRange(2, 8), help="Farm nodes."
)
@click.option(
    "--workloads",
    default=2,
    show_default=True,
    type=click.IntRange(0, 8),
    help="Web workloads deployed before the faults (one replica each).",
)
@click.option(
    "--senders",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Senders each keeping one transfer in flight.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the chaos devnet lives (a new directory under /tmp by default); kept when an "
    "invariant broke or with --keep.",
)
@click.option("--keep", is_flag=True, help="Keep the directory even when every check held.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report (as --json prints it) to this file.",
)
@json_option
def chaos(
    seconds: float,
    seed: int | None,
    validators: int,
    farmers: int,
    workloads: int,
    senders: int,
    directory: Path | None,
    keep: bool,
    report_file: Path | None,
    as_json: bool,
) -> None:
    """Run a devnet under faults drawn from a seed and check its invariants (needs root: the
    validators run in network namespaces, one on a tmpfs).

    Faults: kill -9 (one node or two at once), pause, restart, a split into two groups, an
    isolated node, a flapping link, a full disk, a skewed clock, a farm node's machine dying.
    Invariants: no fork, no final block lost, no evidence or jailing of the (honest)
    validators, progress within 30 s of a quorum's return, every accepted transaction committed
    or rejected, every replica running on exactly one live node, no block billed twice or to
    a node outside its tenure, no process exiting on its own. Exits 1 if any broke; the
    directory then keeps every log, the events and the report, with the seed to replay."""
    from devnet.chaos.harness import ChaosConfig, run

    if os.geteuid() != 0:
        raise DevnetError("devnet chaos needs root (network namespaces, tmpfs, sandboxes)")
    # SIGTERM ends the run as Ctrl-C does: the faults stop and the devnet is brought down.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    seed = seed if seed is not None else random.randrange(1 << 31)
    config = ChaosConfig(seconds, seed, validators, farmers, workloads, senders, directory, keep)
    report = run(config, progress(as_json))
    if report_file is not None:
        report_file.write_text(json.dumps(report, indent=2) + "\n")
    emit(as_json, report, chaos_lines(report))
    if report["violations"]:
        sys.exit(1)


def chaos_lines(report: dict[str, Any]) -> list[str]:
    faults = report["perturbations"]
    txs = report["txs"]
    recovery = report["recovery_s"]
    lines = [
        f"seed {report['seed']}: {faults['total']} faults in {report['seconds']:g} s, "
        f"height {report['height']}",
        "  " + ", ".join(f"{k} {v}" for k, v in faults.items() if k != "total"),
        f"transactions: {txs['accepted']} accepted, {txs['committed']} committed, "
        f"{txs['rejected']} rejected, {txs['unresolved']} unresolved",
        f"recovery after a fault: p50 {recovery.get('p50')} s, p90 {recovery.get('p90')} s, "
        f"max {recovery.get('max')} s ({report['unrecovered']} not recovered)",
        "invariants:",
        *(
            f"  {name}: {v['checks']} checks, {v['violations']} violations"
            for name, v in report["invariants"].items()
        ),
    ]
    for v in report["violations"]:
        lines.append(f"VIOLATION {v['invariant']} at {v['at_s']} s: {v['message']}")
    if report["violations"]:
        lines.append(f"logs kept in {report['directory']}; replay: {report['replay']}")
    return lines
