"""What every command shares: the error type and its rendering, the root group class, option sets
(node, keystore, home) and small helpers."""

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from chain.errors import GridchainError, LocalFault
from devnet.network import default_devnet_url
from genesis.schema import (
    field_errors,
)
from node.api.client import ApiError, NodeClient
from node.config import (
    DEFAULT_API_PORT,
)
from node.keystore import Keystore, default_keystore_dir

DEFAULT_NODE_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"


NODE_ENV = "GRIDCHAIN_NODE"


F = TypeVar("F", bound=Callable[..., Any])


class CliError(LocalFault):
    """Bad input caught by the CLI itself (the chain's own errors carry their own codes)."""

    def __init__(self, message: str, code: str = "invalid_argument", exit_code: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code


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
            _fail(as_json, exc.code, exc.message, getattr(exc, "exit_code", 1), exc=exc)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(as_json, "os_error", f"{where}{exc.strerror or exc}")
        sys.exit(result if isinstance(result, int) else 0)


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


def open_keystore(directory: Path | None) -> Keystore:
    return Keystore(directory or default_keystore_dir())


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


def wait_options(f: F) -> F:
    """--wait and --timeout, as every command that sends a transaction takes them."""
    f = click.option(
        "--timeout",
        default=30.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds --wait waits.",
    )(f)
    return click.option("--wait", is_flag=True, help="Wait until the transaction is committed.")(f)
