"""The `gridchain` command line: keys, genesis files, running a node, transactions and queries.

Every command takes --json for machine-readable output. Failures never show a stack trace: the
root group renders every known error as one line on stderr (exit 1), or with --json as
{"error": {"code", "message"}} on stdout.
"""

import importlib.metadata
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from chain.address import key_address, parse_address
from chain.errors import GridchainError, LocalFault
from chain.genesis_state import GenesisState, genesis_hash
from chain.keys import KeyPair, generate_keypair
from chain.ledger.transactions import Transfer, TxBody, Unjail, sign_tx
from chain.params import PARAM_NAMES
from devnet.cli import devnet
from devnet.network import default_devnet_url
from genesis.schema import (
    GenesisFileError,
    field_errors,
    genesis_document,
    load_genesis,
    parse_genesis,
)
from node.client import ApiError, NodeClient, verify_account
from node.config import (
    DEFAULT_API_PORT,
    Home,
    load_config,
    load_validator_key,
    write_config,
    write_file_atomically,
    write_validator_key,
)
from node.keystore import Keystore, default_keystore_dir, read_passphrase
from node.output import emit, json_option, progress
from vm.runtime import VmRuntime

DEFAULT_NODE_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"
NODE_ENV = "GRIDCHAIN_NODE"

F = TypeVar("F", bound=Callable[..., Any])


class CliError(LocalFault):
    """Bad input caught by the CLI itself (the chain's own errors carry their own codes)."""

    def __init__(self, message: str, code: str = "invalid_argument") -> None:
        super().__init__(message)
        self.code = code


# Output and errors


def _fail(as_json: bool, code: str, message: str, exit_code: int = 1, exc: Any = None) -> NoReturn:
    fields = [
        {"field": path, "message": text}
        for path, text in field_errors(getattr(exc, "errors", None) or {})
    ]
    if as_json:
        error: dict[str, Any] = {"code": code, "message": message}
        if fields:
            error["fields"] = fields
        click.echo(json.dumps({"error": error}, indent=2))
    else:
        click.echo(f"error: {message}", err=True)
        for item in fields:
            click.echo(f"  {item['field']}: {item['message']}", err=True)
    sys.exit(exit_code)


def _wants_json(argv: list[str]) -> bool:
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


class GridchainGroup(click.Group):
    """The root group: turns every expected failure into a clean message and exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        as_json = _wants_json(argv)
        try:
            result = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            if as_json:
                _fail(True, "usage_error", exc.format_message(), exc.exit_code)
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            _fail(as_json, "aborted", "aborted")
        except KeyboardInterrupt:
            _fail(as_json, "interrupted", "interrupted", 130)
        except (GridchainError, ApiError) as exc:
            _fail(as_json, exc.code, exc.message, exc=exc)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(as_json, "os_error", f"{where}{exc.strerror or exc}")
        sys.exit(result if isinstance(result, int) else 0)


# Shared options


def node_option(f: F) -> F:
    return click.option(
        "--node",
        "node_url",
        envvar=NODE_ENV,
        metavar="URL",
        help=f"Node API URL [default: ${NODE_ENV}, else the first node of ./.devnet, "
        f"else {DEFAULT_NODE_URL}].",
    )(f)


def keystore_option(f: F) -> F:
    return click.option(
        "--keystore",
        type=click.Path(file_okay=False, path_type=Path),
        help="Keystore directory [default: $GRIDCHAIN_KEYSTORE, else ~/.gridchain/keys].",
    )(f)


def keystore_options(f: F) -> F:
    """--keystore and --passphrase-file, for commands that unlock a key."""
    f = click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the passphrase from FILE [default: $GRIDCHAIN_PASSPHRASE, else prompt].",
    )(f)
    return keystore_option(f)


def home_option(f: F) -> F:
    return click.option(
        "--home",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The node's home directory.",
    )(f)


def node_client(node_url: str | None, timeout: float = 10.0) -> NodeClient:
    """The node named by --node / $GRIDCHAIN_NODE, the local devnet, or the default port."""
    return NodeClient(node_url or default_devnet_url() or DEFAULT_NODE_URL, timeout)


T = TypeVar("T")


def answer_field(view: dict[str, Any], name: str, kind: type[T]) -> T:
    """A field the CLI relies on; a node answering without it gets a clear error."""
    value = view.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ApiError("bad_response", f"the node's answer has no valid {name!r}: {value!r}")
    return value


def open_keystore(directory: Path | None) -> Keystore:
    return Keystore(directory or default_keystore_dir())


# The root


def _version() -> str:
    try:
        return importlib.metadata.version("gridchain")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0.1.0+source"


@click.group(cls=GridchainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), message="%(prog)s %(version)s")
def cli() -> None:
    """gridchain: a permissioned proof-of-stake chain for IT infrastructure."""


def main() -> None:
    cli()


# keys


@cli.group()
def keys() -> None:
    """Account keys in an encrypted keystore."""


@keys.command("new")
@click.argument("name")
@keystore_options
@json_option
def keys_new(name: str, keystore: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Create a key NAME, encrypted with a passphrase (asked twice if prompted)."""
    store = open_keystore(keystore)
    store.check_new(name)  # before prompting: do not ask for a passphrase only to refuse
    info = store.new(name, read_passphrase(passphrase_file, confirm=True))
    emit(
        as_json,
        info.to_json(),
        [
            f"created key {info.name}",
            f"address:    {info.address}",
            f"public key: {info.public_key}",
            f"file:       {info.path}",
        ],
    )


@keys.command("list")
@keystore_option
@json_option
def keys_list(keystore: Path | None, as_json: bool) -> None:
    """List the keys: names, addresses and public keys (no passphrase needed)."""
    store = open_keystore(keystore)
    infos = store.list()
    text = [f"{i.name:<16} {i.address}  public key {i.public_key}" for i in infos]
    emit(
        as_json,
        {"keystore": str(store.directory), "keys": [i.to_json() for i in infos]},
        text or f"no keys in {store.directory}",
    )


@keys.command("show")
@click.argument("name")
@keystore_option
@json_option
def keys_show(name: str, keystore: Path | None, as_json: bool) -> None:
    """Show the address and public key of key NAME."""
    info = open_keystore(keystore).show(name)
    emit(
        as_json,
        info.to_json(),
        [
            f"name:       {info.name}",
            f"address:    {info.address}",
            f"public key: {info.public_key}",
            f"file:       {info.path}",
        ],
    )


# genesis


@cli.group()
def genesis() -> None:
    """Create and check genesis files."""


def _parts(spec: str, option: str, shape: str, low: int, high: int) -> list[str]:
    parts = spec.split(":")
    if not low <= len(parts) <= high or not all(parts[:low]):
        raise CliError(f"{option} {spec!r} must look like {shape}")
    return parts


def _integer(text: str, option: str, spec: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise CliError(f"{option} {spec!r}: {text!r} is not a whole number") from None


def _genesis_time(text: str | None) -> datetime:
    if text is None:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--genesis-time {text!r} is not an ISO 8601 time (e.g. 2025-01-01T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_genesis(
    chain_id: str,
    genesis_time: datetime,
    validators: Sequence[str],
    balances: Sequence[str],
    council: Sequence[str],
    threshold: int | None,
    params: Sequence[str],
) -> tuple[dict[str, Any], GenesisState]:
    """The genesis document for `genesis new`'s options, validated by parse_genesis."""
    validator_docs = []
    for i, spec in enumerate(validators):
        parts = _parts(spec, "--validator", "PUBKEY_HEX:BLOCKSTAKE[:NAME]", 2, 3)
        validator_docs.append(
            {
                "name": parts[2] if len(parts) == 3 else f"validator{i}",
                "public_key": parts[0].lower(),
                "blockstake": _integer(parts[1], "--validator", spec),
            }
        )
    balance_docs = []
    for spec in balances:
        parts = _parts(spec, "--balance", "ADDRESS:AMOUNT", 2, 2)
        balance_docs.append({"address": parts[0], "amount": _integer(parts[1], "--balance", spec)})
    signers: list[dict[str, Any]] = []
    for spec in council:
        parts = _parts(spec, "--council", "PUBKEY_HEX:WEIGHT[:required]", 2, 3)
        if len(parts) == 3 and parts[2] != "required":
            raise CliError(f"--council {spec!r}: the third part can only be 'required'")
        signers.append(
            {
                "public_key": parts[0].lower(),
                "weight": _integer(parts[1], "--council", spec),
                "required": len(parts) == 3,
            }
        )
    if not validator_docs:
        raise CliError("at least one --validator PUBKEY_HEX:BLOCKSTAKE[:NAME] is needed")
    if not signers:
        raise CliError("at least one --council PUBKEY_HEX:WEIGHT[:required] is needed")
    param_values: dict[str, int] = {}
    for spec in params:
        name, sep, value = spec.partition("=")
        if not sep or name not in PARAM_NAMES:
            raise CliError(f"--param {spec!r} must be NAME=VALUE with NAME one of {PARAM_NAMES}")
        param_values[name] = _integer(value, "--param", spec)
    total_weight = sum(s["weight"] for s in signers)
    document = genesis_document(
        chain_id,
        genesis_time,
        validator_docs,
        {"signers": signers, "threshold": total_weight if threshold is None else threshold},
        balance_docs,
        param_values,
    )
    try:
        state = parse_genesis(document)
    except GenesisFileError as exc:
        raise GenesisFileError(
            "the genesis these options describe is invalid", exc.errors
        ) from None
    return document, state


def write_genesis(path: Path, document: dict[str, Any], force: bool = False) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} already exists (use --force to overwrite)", "file_exists")
    write_file_atomically(path, json.dumps(document, indent=2) + "\n")


def load_genesis_file(path: Path) -> GenesisState:
    """load_genesis, with the file named in the message when fields are wrong."""
    try:
        return load_genesis(path)
    except GenesisFileError as exc:
        if exc.errors:
            raise GenesisFileError(f"{path} is not a valid genesis file", exc.errors) from None
        raise


def genesis_summary(state: GenesisState) -> dict[str, Any]:
    return {
        "chain_id": state.chain_id,
        "genesis_hash": genesis_hash(state).hex(),
        "genesis_time_ms": state.genesis_time_ms,
        "validators": len(state.validators.validators),
        "accounts": len(state.balances),
    }


@genesis.command("new")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the genesis file.",
)
@click.option("--chain-id", required=True, help="The chain's name, e.g. acme-infra-1.")
@click.option(
    "--validator",
    "validators",
    multiple=True,
    metavar="PUBKEY_HEX:BLOCKSTAKE[:NAME]",
    help="A validator (repeat for more).",
)
@click.option(
    "--balance",
    "balances",
    multiple=True,
    metavar="ADDRESS:AMOUNT",
    help="An initial balance in base units (repeat for more).",
)
@click.option(
    "--council",
    multiple=True,
    metavar="PUBKEY_HEX:WEIGHT[:required]",
    help="A governance council signer (repeat for more).",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    help="Council weight needed to act [default: the total weight].",
)
@click.option("--genesis-time", metavar="ISO", help="Chain start time [default: now].")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help=f"A chain parameter ({', '.join(PARAM_NAMES)}).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
def genesis_new(
    output: Path,
    chain_id: str,
    validators: tuple[str, ...],
    balances: tuple[str, ...],
    council: tuple[str, ...],
    threshold: int | None,
    genesis_time: str | None,
    params: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Write a new genesis file (validated before it is written)."""
    document, state = build_genesis(
        chain_id, _genesis_time(genesis_time), validators, balances, council, threshold, params
    )
    write_genesis(output, document, force)
    summary = genesis_summary(state)
    emit(
        as_json,
        {"file": str(output), **summary},
        [
            f"wrote {output}",
            f"chain id:     {state.chain_id}",
            f"genesis hash: {summary['genesis_hash']}",
        ],
    )


@genesis.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def genesis_validate(file: Path, as_json: bool) -> None:
    """Check a genesis file; every problem is listed by field path (exit 1 if any)."""
    summary = genesis_summary(load_genesis_file(file))
    emit(
        as_json,
        {"valid": True, "file": str(file), **summary},
        [
            f"OK: {file}",
            f"chain id:     {summary['chain_id']}",
            f"genesis hash: {summary['genesis_hash']}",
            f"validators:   {summary['validators']}",
            f"accounts:     {summary['accounts']}",
        ],
    )


# node


@dataclass(frozen=True)
class InitResult:
    home: Path
    chain_id: str
    genesis_hash: str
    validator: str
    created_key: bool
    in_validator_set: bool
    api_port: int

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "validator": self.validator,
            "created_key": self.created_key,
            "in_validator_set": self.in_validator_set,
            "api_port": self.api_port,
        }


def init_home(home: Home, genesis_file: Path | None, api_port: int | None = None) -> InitResult:
    """Prepare a node home; safe to repeat. It never replaces a key, nor the genesis of a chain
    that already has data. Without a genesis file it only makes the key and settings, so the
    validator key can go into a genesis written afterwards."""
    state = None
    if genesis_file is not None:
        state = load_genesis_file(genesis_file)
        _install_genesis(home, genesis_file, state)
    key, created = _ensure_validator_key(home)
    config = load_config(home)
    if api_port is not None:
        config = replace(config, api_port=api_port)
    write_config(home, config)
    return InitResult(
        home=home.root,
        chain_id="" if state is None else state.chain_id,
        genesis_hash="" if state is None else genesis_hash(state).hex(),
        validator=key.public_key.hex(),
        created_key=created,
        in_validator_set=state is not None and state.validators.power_of(key.public_key) > 0,
        api_port=config.api_port,
    )


def _install_genesis(home: Home, genesis_file: Path, state: GenesisState) -> None:
    current = load_genesis_file(home.genesis_file) if home.genesis_file.exists() else None
    if current is not None and genesis_hash(current) == genesis_hash(state):
        return
    if home.db_path.exists():
        raise CliError(
            f"{home.root} already holds chain data of a different genesis "
            f"({home.genesis_file}); use a new --home",
            "genesis_mismatch",
        )
    write_file_atomically(home.genesis_file, genesis_file.read_text())


def _ensure_validator_key(home: Home) -> tuple[KeyPair, bool]:
    """The home's validator key, created on first use; never replaced."""
    if home.validator_key_file.exists():
        return load_validator_key(home), False
    key = generate_keypair()
    write_validator_key(home, key)
    return key, True


@cli.group("node")
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
        f"API port:      {result.api_port}",
    ]
    if genesis_file is not None and not result.in_validator_set:
        lines.append(
            "note: this key is not a validator in the genesis; add it with "
            f"`gridchain genesis new --validator {result.validator}:BLOCKSTAKE`"
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


@node_group.command("show-validator")
@home_option
@json_option
def node_show_validator(home: Path, as_json: bool) -> None:
    """Print this node's validator public key."""
    node_home = Home(home)
    key = load_validator_key(node_home)
    in_set = None
    if node_home.genesis_file.exists():
        in_set = load_genesis_file(node_home.genesis_file).validators.power_of(key.public_key) > 0
    lines = [key.public_key.hex()]
    if in_set is False:
        lines.append("note: not a validator in this home's genesis")
    emit(as_json, {"public_key": key.public_key.hex(), "in_validator_set": in_set}, lines)


@node_group.command("verify")
@home_option
@json_option
def node_verify(home: Path, as_json: bool) -> None:
    """Replay the stopped node's database from genesis under every rule and check its state.

    Every block must be present, linked, finalized by its commit and re-executable to the same
    state root; every stored state record must match the head's state root.
    """
    from chain.integrity import verify_store
    from chain.store import ChainStore

    node_home = Home(home)
    genesis_state = load_genesis_file(node_home.genesis_file)
    if not node_home.db_path.exists():
        raise CliError(f"{home} has no chain database yet", "no_database")
    say = progress(as_json)
    store = ChainStore(str(node_home.db_path))
    try:
        with tempfile.TemporaryDirectory(prefix="gridchain-verify-") as scratch:
            report = verify_store(
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


# tx


@cli.group()
def tx() -> None:
    """Build, sign and send transactions."""


def wait_for_commit(
    client: NodeClient, tx_id: str, timeout: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Poll GET /v1/txs/{id} until committed; a tx the node forgets was dropped."""
    start = time.monotonic()
    missing = 0
    last_report = start
    while True:
        try:
            view = client.tx(tx_id)
            missing = 0
        except ApiError as exc:
            if exc.code != "not_found":
                raise
            missing += 1
            if missing >= 3:
                raise CliError(
                    f"transaction {tx_id} was dropped by the node (not pending, not committed)",
                    "tx_dropped",
                ) from None
            view = {"status": "unknown"}
        if view.get("status") == "committed":
            return view
        if view.get("status") == "rejected":
            error = view.get("error") or {}
            raise CliError(
                f"transaction {tx_id} was left out of the block: {error.get('message')}",
                str(error.get("code", "rejected")),
            )
        now = time.monotonic()
        if now - start >= timeout:
            raise CliError(
                f"transaction {tx_id} is not committed after {timeout:g} s "
                f"(status {view.get('status')}); check it with `gridchain query tx {tx_id}`",
                "timeout",
            )
        if now - last_report >= 2:
            say(f"  still {view.get('status')} after {now - start:.0f} s")
            last_report = now
        time.sleep(0.25)


@tx.command("transfer")
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@click.option("--to", "recipient", required=True, metavar="ADDR", help="Recipient address.")
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Base units to send.")
@click.option("--fee", default=1, show_default=True, type=click.IntRange(min=0), help="Fee.")
@click.option(
    "--nonce", type=click.IntRange(min=0), help="Sender nonce [default: fetched from the node]."
)
@click.option("--wait", is_flag=True, help="Wait until the transaction is committed.")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds --wait waits.",
)
@keystore_options
@node_option
@json_option
def tx_transfer(
    sender: str,
    recipient: str,
    amount: int,
    fee: int,
    nonce: int | None,
    wait: bool,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Send AMOUNT base units from key KEY to ADDR."""
    to = parse_address(recipient)
    client = node_client(node_url)
    store = open_keystore(keystore)
    info = store.show(sender)
    key = store.load(sender, read_passphrase(passphrase_file))  # local checks before the network
    from_address = parse_address(info.address)
    chain_id = answer_field(client.status(), "chain_id", str)
    if nonce is None:
        nonce = answer_field(client.account(info.address), "next_nonce", int)
    signed = sign_tx(TxBody(chain_id, from_address, nonce, fee, Transfer(to, amount)), [key])
    answer = client.submit_tx(signed.encoded)
    tx_id = str(answer.get("id", signed.id.hex()))
    result: dict[str, Any] = {
        "id": tx_id,
        "status": answer.get("status", "pending"),
        "from": info.address,
        "to": str(to),
        "amount": amount,
        "fee": fee,
        "nonce": nonce,
    }
    lines = [f"submitted {tx_id} ({amount} from {sender} to {to}, fee {fee}, nonce {nonce})"]
    if wait:
        say = progress(as_json)
        say(f"waiting for {tx_id} to be committed...")
        view = wait_for_commit(client, tx_id, timeout, say)
        result.update(status="committed", block=view.get("block"), receipt=view.get("receipt"))
        block = view.get("block") or {}
        lines.append(f"committed in block {block.get('height')} ({block.get('hash')})")
    emit(as_json, result, lines)


@tx.command("unjail")
@click.option(
    "--home",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Node home whose validator key signs (and whose key address pays the fee).",
)
@click.option("--fee", default=1, show_default=True, type=click.IntRange(min=0), help="Fee.")
@click.option("--wait", is_flag=True, help="Wait until the transaction is committed.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0))
@node_option
@json_option
def tx_unjail(
    home: Path, fee: int, wait: bool, timeout: float, node_url: str | None, as_json: bool
) -> None:
    """Bring this home's validator back into the set after its downtime jail has ended."""
    key = load_validator_key(Home(home))
    client = node_client(node_url)
    chain_id = answer_field(client.status(), "chain_id", str)
    sender = key_address(key.public_key)
    nonce = answer_field(client.account(str(sender)), "next_nonce", int)
    signed = sign_tx(TxBody(chain_id, sender, nonce, fee, Unjail(key.public_key)), [key])
    answer = client.submit_tx(signed.encoded)
    tx_id = str(answer.get("id", signed.id.hex()))
    result: dict[str, Any] = {"id": tx_id, "status": answer.get("status", "pending")}
    lines = [f"submitted unjail {tx_id} for validator {key.public_key.hex()}"]
    if wait:
        view = wait_for_commit(client, tx_id, timeout, progress(as_json))
        result.update(status="committed", block=view.get("block"))
        lines.append(f"committed in block {(view.get('block') or {}).get('height')}")
    emit(as_json, result, lines)


# query


@cli.group()
def query() -> None:
    """Read accounts, blocks and transactions from a node."""


def _format_time(ms: Any) -> str:
    if not isinstance(ms, int):
        return str(ms)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _format_policy(policy: Any) -> str:
    if not policy:
        return "none"
    signers = ", ".join(
        f"{s['public_key'][:16]}… weight {s['weight']}" + (" (required)" if s["required"] else "")
        for s in policy["signers"]
    )
    return f"threshold {policy['threshold']} of [{signers}]"


@query.command("account")
@click.argument("address")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check the Merkle proof against the block's state root.",
)
@node_option
@json_option
def query_account(address: str, verify: bool, node_url: str | None, as_json: bool) -> None:
    """Show an account's balance, nonce and policy, proven against a block."""
    parsed = parse_address(address)
    client = node_client(node_url)
    view = client.account(str(parsed))
    lines = [
        f"address: {view.get('address')}",
        f"exists:  {'yes' if view.get('exists') else 'no'}",
        f"balance: {view.get('balance')}",
        f"nonce:   {view.get('nonce')}",
        f"policy:  {_format_policy(view.get('policy'))}",
    ]
    result = dict(view)
    if verify:
        block = client.block(answer_field(view, "height", int))
        proven = verify_account(str(parsed), view, block)
        result["verified"] = {
            "height": proven.height,
            "block_hash": proven.block_hash.hex(),
            "state_root": proven.state_root.hex(),
        }
        lines.append(
            f"proof verified against block {proven.height} state root {proven.state_root.hex()}"
        )
    else:
        result["verified"] = None
        lines.append(f"as of block {view.get('height')} (proof not checked)")
    emit(as_json, result, lines)


def _tx_line(view: dict[str, Any]) -> str:
    payload = view.get("payload") or {}
    what = view.get("type")
    if what == "transfer":
        what = f"transfer {payload.get('amount')} to {payload.get('to')}"
    return f"{view.get('id')}  {view.get('sender')} nonce {view.get('nonce')}: {what}"


def _block_ref(ref: str) -> str:
    ref = ref.strip().lower()
    if (
        ref == "latest"
        or ref.isdigit()
        or (len(ref) == 64 and all(c in "0123456789abcdef" for c in ref))
    ):
        return ref
    raise CliError(f"{ref!r} is neither a height, a 64-hex block hash nor 'latest'")


@query.command("block")
@click.argument("ref", metavar="HEIGHT|HASH|latest")
@node_option
@json_option
def query_block(ref: str, node_url: str | None, as_json: bool) -> None:
    """Show a block by height, hash or `latest`."""
    view = node_client(node_url).block(_block_ref(ref))
    header = view.get("header") or {}
    txs = view.get("txs") or []
    lines = [
        f"height:     {header.get('height')}",
        f"hash:       {header.get('hash')}",
        f"time:       {_format_time(header.get('time_ms'))}",
        f"prev hash:  {header.get('prev_hash')}",
        f"proposer:   {header.get('proposer')}",
        f"state root: {header.get('state_root')}",
        f"txs:        {len(txs)}",
        *(f"  {_tx_line(t)}" for t in txs),
    ]
    emit(as_json, view, lines)


@query.command("tx")
@click.argument("tx_id", metavar="ID")
@node_option
@json_option
def query_tx(tx_id: str, node_url: str | None, as_json: bool) -> None:
    """Show a transaction and where it was committed."""
    tx_id = tx_id.strip().lower()
    if len(tx_id) != 64 or any(c not in "0123456789abcdef" for c in tx_id):
        raise CliError(f"transaction id {tx_id!r} must be 64 hex characters")
    view = node_client(node_url).tx(tx_id)
    body = view.get("tx") or {}
    block = view.get("block")
    lines = [
        f"id:     {view.get('id')}",
        f"status: {view.get('status')}",
        f"tx:     {_tx_line(body)}",
        f"fee:    {body.get('fee')}",
    ]
    if block:
        lines.append(f"block:  {block.get('height')} ({block.get('hash')})")
    emit(as_json, view, lines)


# status


@cli.command("status")
@node_option
@json_option
def status(node_url: str | None, as_json: bool) -> None:
    """Show the node's chain, head block and mempool."""
    client = node_client(node_url)
    view = client.status()
    mempool = view.get("mempool") or {}
    lines = [
        f"node:         {client.url}",
        f"chain id:     {view.get('chain_id')}",
        f"genesis hash: {view.get('genesis_hash')}",
        f"height:       {view.get('height')}",
        f"block hash:   {view.get('block_hash')}",
        f"block time:   {_format_time(view.get('time_ms'))}",
        f"state root:   {view.get('state_root')}",
        f"mempool:      {mempool.get('txs')} txs, {mempool.get('bytes')} bytes",
        f"validator:    {view.get('validator')}",
        f"version:      {view.get('version')}",
    ]
    emit(as_json, {"node": client.url, **view}, lines)


cli.add_command(devnet)

__all__ = ["CliError", "cli", "emit", "init_home", "main"]


# Benchmarks


@cli.group()
def bench() -> None:
    """Measure throughput on this machine (figures go to docs/benchmarks.md)."""


@bench.command("chain")
@click.option("--txs", type=click.IntRange(1000, 10_000_000), default=40_000, show_default=True)
@click.option("--accounts", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--block-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=2,
    show_default=True,
    help="Signature-checking processes (0: check in the main process).",
)
@json_option
def bench_chain_command(
    txs: int, accounts: int, block_size: int, workers: int, as_json: bool
) -> None:
    """Signed transfers decoded, verified, applied and committed to LevelDB per second."""
    from node.bench import bench_chain

    result = bench_chain(txs, accounts, block_size, workers, progress(as_json)).to_json()
    rates = result["tx_per_s"]
    emit(
        as_json,
        result,
        [
            f"{txs} transfers from {accounts} accounts, blocks of {block_size}, "
            f"{workers} verify workers",
            f"end to end: {rates['end_to_end']:,} tx/s (wall {result['seconds']['wall']} s)",
            f"stages: decode {rates['decode']:,}/s, apply+state root "
            f"{rates['apply_and_state_root']:,}/s, commit {rates['commit']:,}/s, "
            f"waiting for signatures {result['seconds']['verify_wait']} s",
        ],
    )


@bench.command("consensus")
@click.option("--seconds", type=click.FloatRange(5), default=60, show_default=True)
@click.option(
    "--rate",
    type=click.IntRange(10),
    default=2000,
    show_default=True,
    help="Transfers offered per second.",
)
@click.option("--validators", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--senders", type=click.IntRange(1, 100_000), default=400, show_default=True)
@json_option
def bench_consensus_command(
    seconds: float, rate: int, validators: int, senders: int, as_json: bool
) -> None:
    """Finalized transfers/s and submit-to-final latency on a local multi-validator devnet."""
    from node.bench_consensus import bench_consensus

    result = bench_consensus(seconds, rate, validators, senders, progress(as_json)).to_json()
    latency = result["latency_s"]
    emit(
        as_json,
        result,
        [
            f"{validators} validators, {rate} tx/s offered for {result['load_seconds']} s "
            f"({result['accepted']} accepted)",
            f"finalized: {result['finalized_tx_per_s']:,} tx/s during the load "
            f"({result['finalized']} in all, {result['blocks']} blocks, "
            f"{result['mean_block_txs']} txs per block)",
            f"submit to final: p50 {latency['p50']} s, p99 {latency['p99']} s, "
            f"max {latency['max']} s",
        ],
    )


@bench.command("smt")
@click.option("--keys", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option("--batch", type=click.IntRange(100), default=10_000, show_default=True)
@json_option
def bench_smt_command(keys: int, batch: int, as_json: bool) -> None:
    """State-root updates per second on a LevelDB-backed sparse Merkle tree."""
    from node.bench import bench_smt

    result = bench_smt(keys, batch, progress(as_json))
    emit(
        as_json,
        result,
        f"{result['updates_per_s']:,} state-root updates/s "
        f"(batches of {batch} into a tree of {keys} keys)",
    )


@bench.command("sync")
@click.option("--blocks", type=click.IntRange(10, 1_000_000), default=10_000, show_default=True)
@click.option(
    "--txs-per-block",
    type=click.IntRange(0, 5_000),
    default=10,
    show_default=True,
    help="Transfers in every generated block (0: empty blocks).",
)
@click.option(
    "--breakdown",
    "breakdown_blocks",
    type=click.IntRange(0),
    default=2_000,
    show_default=True,
    help="Blocks replayed offline afterwards to time each step of the sync path (0: skip).",
)
@json_option
def bench_sync_command(
    blocks: int, txs_per_block: int, breakdown_blocks: int, as_json: bool
) -> None:
    """Catch-up speed: blocks/s for a node that many blocks behind a 4-validator devnet."""
    from node.bench_sync import bench_sync

    result = bench_sync(blocks, txs_per_block, breakdown_blocks, progress(as_json)).to_json()
    node3 = result["node3"]
    lines = [
        f"{blocks} blocks of {txs_per_block} transfers, generated in "
        f"{result['generate']['seconds']} s; 4 validators, node3 starts empty",
        f"catch-up: {result['blocks_per_s']} blocks/s from node3's API answering "
        f"({node3['api_to_target_s']} s, height {node3['height_at_api']} at that moment); "
        f"{result['blocks_per_s_including_start']} blocks/s including process start "
        f"({node3['spawn_to_target_s']} s); steady {result['steady_blocks_per_s']} blocks/s",
        f"synced_blocks {node3['synced_blocks']}, headers match node0: {result['headers_match']}; "
        f"node3 CPU {node3['cpu_s']} s ({result['blocks_per_cpu_s']} blocks per CPU-second), "
        f"load average {result['load_average_at_start']} at its start",
    ]
    if result["breakdown"] is not None:
        steps = result["breakdown"]["ms_per_block"]
        lines.append(
            f"offline replay of {result['breakdown']['blocks']} blocks, ms per block: "
            + ", ".join(f"{name} {ms}" for name, ms in steps.items())
        )
    emit(as_json, result, lines)


@bench.command("vm")
@click.option("--iterations", default=2_000_000, show_default=True, type=click.IntRange(1000))
@click.option(
    "--evm-iterations",
    default=200_000,
    show_default=True,
    type=click.IntRange(0),
    help="The same loop on py-evm (needs `pip install 'gridchain[bench]'`; 0 skips).",
)
@click.option("--approvals", default=300, show_default=True, type=click.IntRange(10))
@json_option
def bench_vm_command(iterations: int, evm_iterations: int, approvals: int, as_json: bool) -> None:
    """VM ops/s on a counting loop beside py-evm, and the cost of one multisig approval."""
    from node.bench_vm import bench_vm

    result = bench_vm(iterations, approvals, evm_iterations, progress(as_json))
    vm, evm, approval = result["vm"], result["evm"], result["approval"]
    lines = [f"VM: {vm['ops_per_second']:,} metered ops/s ({vm['ops']:,} ops in {vm['seconds']} s)"]
    if evm is not None:
        lines.append(
            f"py-evm {evm['py_evm_version']}: {int(evm['ops_per_s']):,} ops/s; "
            f"the VM is {result['ratio']}x faster on this loop"
        )
    lines.append(
        f"multisig approval: {approval['gas_per_approval']} gas, median "
        f"{approval['median_us']} us (p90 {approval['p90_us']} us), "
        f"{approval['approvals_per_s']:,} approvals/s on one core"
    )
    emit(as_json, result, lines)


@bench.command("farming")
@click.option("--nodes", type=click.IntRange(1, 100_000), default=1_000, show_default=True)
@click.option(
    "--payout-nodes", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True
)
@click.option("--k", type=click.IntRange(18, 32), default=18, show_default=True)
@click.option(
    "--plots",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Real plots made (one owner each); the nodes' proofs are drawn from them.",
)
@json_option
def bench_farming_command(nodes: int, payout_nodes: int, k: int, plots: int, as_json: bool) -> None:
    """Checking one epoch's farming proofs, and building the block that pays an epoch."""
    from node.bench_farming import bench_farming

    result = bench_farming(nodes, payout_nodes, k, plots, progress(as_json)).to_json()
    v, pay = result["verification"], result["payouts"]
    storage, heartbeats = v["storage"], v["heartbeats"]
    boundary, ordinary = pay["boundary_block"], pay["ordinary_block"]
    emit(
        as_json,
        result,
        [
            f"one epoch for {nodes:,} nodes ({v['epoch_wall_s']:g} s of blocks):",
            f"  storage: {storage['proofs_verified']:,} proofs, {storage['verify_us_per_proof']} "
            f"us each (drawn from {storage['proof_pool']} real proofs of {plots} k={k} plots); "
            f"the rule: {storage['rule_us_per_proof']} us each, {storage['epoch_s']} s",
            f"  compute: {v['compute_mainnet']['units']:,} scrypt units, "
            f"{v['compute_mainnet']['epoch_s']} s at mainnet size (16 MiB), "
            f"{v['compute_devnet']['epoch_s']} s at devnet size",
            f"  heartbeats: {heartbeats['ed25519_verifies']:,} ed25519 verifies "
            f"({heartbeats['verifies_per_s']:,}/s) {heartbeats['epoch_verify_s']} s, "
            f"rule {heartbeats['epoch_rule_s']} s",
            f"  total {v['total_s']} s: {v['share_of_epoch_pct']}% of the epoch",
            f"payouts for {payout_nodes:,} nodes in {pay['farms']:,} farms: settle "
            f"{pay['settle_ms']} ms; the epoch's first block builds in {boundary['build_ms']} ms, "
            f"validates in {boundary['validate_ms']} ms, {boundary['encoded_bytes']:,} bytes "
            f"({pay['reward_lines']:,} reward lines); an ordinary block {ordinary['build_ms']} + "
            f"{ordinary['validate_ms']} ms",
            f"  build + validate {pay['build_plus_validate_ms']} ms of a "
            f"{pay['block_interval_ms']} ms block interval "
            f"({'fits' if pay['fits_in_interval'] else 'does not fit'}); "
            f"propose timeout {pay['propose_timeout_ms']} ms",
        ],
    )


# Command groups defined in their own modules register themselves on `cli` when imported.
import node.cli_audit  # noqa: E402
import node.cli_farmer  # noqa: E402
import node.cli_workload  # noqa: E402, F401
