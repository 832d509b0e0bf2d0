"""`gridchain keys`: the encrypted keystore (new, list, show)."""

from pathlib import Path

import click

from node.cli.common import keystore_option, keystore_options, open_keystore
from node.cli.output import emit, json_option
from node.keystore import read_passphrase


@click.group()
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
