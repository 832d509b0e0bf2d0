"""`gridchain node`: make a node home, run the node, show its validator key, verify its database."""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from genesis.schema import (
    load_genesis,
)
from node.cli.common import CliError, home_option
from node.cli.output import emit, json_option, progress
from node.config import (
    DEFAULT_API_PORT,
    Home,
    init_home,
    load_validator_key,
    validator_spec,
)
from vm.runtime import VmRuntime


@click.group("node")
def node_group() -> None:
    """Set up and run a node."""


@node_group.command("init")
@home_option
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's genesis file (leave out to make only the validator key and settings).",
)
@click.option(
    "--api-port",
    type=click.IntRange(1, 65535),
    help=f"API port [default: {DEFAULT_API_PORT}, or as already configured].",
)
@json_option
def node_init(home: Path, genesis_file: Path | None, api_port: int | None, as_json: bool) -> None:
    """Create a node home: genesis, validator key (kept if present) and node.json."""
    result = init_home(Home(home), genesis_file, api_port)
    chain = (
        f"chain {result.chain_id}" if genesis_file else "no genesis yet (init again with --genesis)"
    )
    lines = [
        f"initialized {result.home} for {chain}",
        f"validator key: {result.validator}" + (" (new)" if result.created_key else ""),
        f"for genesis:   --validator {result.validator_spec}:BLOCKSTAKE[:NAME]",
        f"API port:      {result.api_port}",
    ]
    if genesis_file is not None and not result.in_validator_set:
        lines.append(
            "note: this key is not a validator in the genesis; add it with "
            f"`gridchain genesis new --validator {result.validator_spec}:BLOCKSTAKE`"
        )
    emit(as_json, result.to_json(), lines)


@node_group.command("run")
@home_option
@json_option
def node_run(home: Path, as_json: bool) -> None:
    """Run the node until SIGINT or SIGTERM."""
    from node.server import run_node  # imported here: only this command needs the server

    if not Home(home).genesis_file.exists():
        raise CliError(f"{home} is not a node home (run `gridchain node init` first)", "no_home")
    run_node(Home(home))


@node_group.command("supervise")
@home_option
@click.option(
    "--retry-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="How often a release that cannot be had (refused, unreachable) is tried again.",
)
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A release wheel to use instead of fetching it (still checked against the approved "
    "sha256): when the URL is unreachable, or for the genesis release, which has none.",
)
@json_option
def node_supervise(
    home: Path, retry_seconds: float, artifacts: tuple[Path, ...], as_json: bool
) -> None:
    """Run the node, and switch it to each release the council approves at its height:
    fetch the artifact, refuse it unless its sha256 is the approved one, restart the node on it
    (docs/governance.md). Exits with the node's exit code when it stops for another reason."""
    from node.supervisor import Supervisor

    if not Home(home).genesis_file.exists():
        raise CliError(f"{home} is not a node home (run `gridchain node init` first)", "no_home")

    def say(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event), err=False)
        else:
            click.echo(f"supervisor: {event['state']}: {event['message']}", err=True)

    code = Supervisor(Home(home), say, retry_seconds, artifacts).run()
    sys.exit(code if code >= 0 else 128 - code)  # killed by a signal: as a shell reports it


@node_group.command("show-validator")
@home_option
@json_option
def node_show_validator(home: Path, as_json: bool) -> None:
    """Print this node's validator keys: the ed25519 public key, and the spec (both keys and
    the BLS key's proof of possession) that `genesis new --validator` takes."""
    node_home = Home(home)
    key = load_validator_key(node_home)
    spec = validator_spec(key)
    in_set = None
    if node_home.genesis_file.exists():
        in_set = load_genesis(node_home.genesis_file).validators.power_of(key.public_key) > 0
    lines = [key.public_key.hex(), f"for genesis: --validator {spec}:BLOCKSTAKE[:NAME]"]
    if in_set is False:
        lines.append("note: not a validator in this home's genesis")
    registration = spec.split(":")
    view = {
        "public_key": key.public_key.hex(),
        "bls_key": registration[1],
        "bls_pop": registration[2],
        "validator_spec": spec,
        "in_validator_set": in_set,
    }
    emit(as_json, view, lines)


@node_group.command("verify")
@home_option
@json_option
def node_verify(home: Path, as_json: bool) -> None:
    """Replay the stopped node's database from genesis under every rule and check its state.

    Every block must be present, linked, finalized by its commit and re-executable to the same
    state root; every stored state record must match the head's state root.
    """
    from chain.integrity import replay_store
    from chain.store import ChainStore

    node_home = Home(home)
    genesis_state = load_genesis(node_home.genesis_file)
    if not node_home.db_path.exists():
        raise CliError(f"{home} has no chain database yet", "no_database")
    say = progress(as_json)
    store = ChainStore(str(node_home.db_path))
    try:
        with tempfile.TemporaryDirectory(prefix="gridchain-verify-") as scratch:
            report = replay_store(
                store,
                genesis_state,
                str(Path(scratch) / "replay"),
                lambda done, total: say(f"  block {done}/{total}") if done % 100 == 0 else None,
                runtime=VmRuntime(),
            )
    finally:
        store.close()
    result = {
        "ok": True,
        "height": report.height,
        "blocks": report.blocks,
        "transactions": report.transactions,
        "state_records": report.state_records,
    }
    emit(
        as_json,
        result,
        f"ok: {report.blocks} blocks up to height {report.height}, {report.transactions} "
        f"transactions, {report.state_records} state records all verified",
    )
