"""`gridchain tx`: sign and send transfers and unjails, and wait for them."""

from pathlib import Path
from typing import Any

import click

from chain.address import key_address, parse_address
from chain.ledger.transactions import Transfer, TxBody, Unjail, sign_tx
from node.api.client import answer_field
from node.cli.common import (
    keystore_options,
    node_client,
    node_option,
    open_keystore,
    wait_for_commit,
)
from node.cli.output import emit, json_option, progress
from node.config import (
    Home,
    load_validator_key,
)
from node.keystore import read_passphrase


@click.group()
def tx() -> None:
    """Build, sign and send transactions."""


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
