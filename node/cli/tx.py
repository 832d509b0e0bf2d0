"""`gridchain tx`: sign and send transfers, unjails and the council's validator changes, and
wait for them."""

import json
from pathlib import Path
from typing import Any

import click

from chain.address import Address, AddressType, key_address, parse_address
from chain.errors import RuleViolation
from chain.genesis_state import COUNCIL_ADDRESS
from chain.keys import KeyPair
from chain.ledger.transactions import (
    PAYLOAD_NAMES,
    SignedTx,
    Transfer,
    TxBody,
    Unjail,
    sign_tx,
    tx_to_json,
)
from chain.staking.txs import (
    ValidatorChange,
    ValidatorRemove,
    ValidatorSetStake,
    validator_change_to_json,
)
from node.api.client import NodeClient, answer_field
from node.cli.common import (
    CliError,
    F,
    keystore_options,
    node_client,
    node_option,
    open_keystore,
    wait_for_commit,
    wait_options,
)
from node.cli.output import emit, json_option, progress
from node.cli.specs import VALIDATOR_SHAPE, validator_add_from_spec, validator_key_from_hex
from node.cli.txfile import combined, read_tx_file, signed_by, write_tx_file
from node.config import (
    Home,
    load_validator_key,
)
from node.keystore import read_passphrase


@click.group()
def tx() -> None:
    """Build, sign and send transactions."""


@tx.command("transfer")
@click.option(
    "--from",
    "sender",
    required=True,
    metavar="KEY|ADDR",
    help="Keystore key that pays, or a multisig account's address (with --signer or --out).",
)
@click.option("--to", "recipient", required=True, metavar="ADDR", help="Recipient address.")
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Base units to send.")
@click.option("--fee", default=1, show_default=True, type=click.IntRange(min=0), help="Fee.")
@click.option(
    "--nonce", type=click.IntRange(min=0), help="Sender nonce [default: fetched from the node]."
)
@wait_options
@click.option(
    "--signer",
    "signers",
    multiple=True,
    metavar="KEY",
    help="From a multisig account: a member's keystore key (repeat until its policy is met).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to a transaction file instead of sending it, for the other signers "
    "(`tx sign`, `tx combine`, `tx send`).",
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
    signers: tuple[str, ...],
    out: Path | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Send AMOUNT base units from key KEY (or from the multisig account ADDR) to ADDR."""
    to = parse_address(recipient)
    client = node_client(node_url)
    store = open_keystore(keystore)
    multisig = _multisig_address(sender)
    if multisig is None:
        if signers:
            raise CliError("--signer is for a multisig --from; a key signs for itself")
        info = store.show(sender)
        keys = [store.load(sender, read_passphrase(passphrase_file))]  # checked before the network
        from_address = parse_address(info.address)
    else:
        if not signers and out is None:
            raise CliError("a multisig --from needs --signer KEY (its members) or --out FILE")
        keys = load_keys(signers, keystore, passphrase_file)
        from_address = multisig
    chain_id = answer_field(client.status(), "chain_id", str)
    if nonce is None:
        nonce = answer_field(client.account(str(from_address)), "next_nonce", int)
    signed = sign_tx(TxBody(chain_id, from_address, nonce, fee, Transfer(to, amount)), keys)
    if out is not None:
        write_tx_file(out, signed)
        written = _file_view(out, signed)
        emit(as_json, written, f"wrote {out}: {signed.id.hex()}, {len(keys)} signature(s)")
        return
    answer = client.submit_tx(signed.encoded)
    tx_id = str(answer.get("id", signed.id.hex()))
    result: dict[str, Any] = {
        "id": tx_id,
        "status": answer.get("status", "pending"),
        "from": str(from_address),
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
@wait_options
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


# The council's validator changes


def _send_council_change(
    change: ValidatorChange,
    signers: tuple[str, ...],
    fee: int,
    wait: bool,
    timeout: float,
    out: Path | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Sign `change` as the council's multisig account with the keystore keys `signers` (as
    many as its policy needs) and send it; the set changes two blocks after it commits. With
    `out`, write it to a transaction file instead, for the other members to sign."""
    if not signers and out is None:
        raise CliError("at least one --signer (a council member's keystore key) is needed")
    keys = load_keys(signers, keystore, passphrase_file) if signers else []
    client = node_client(node_url)
    chain_id = answer_field(client.status(), "chain_id", str)
    nonce = answer_field(client.account(str(COUNCIL_ADDRESS)), "next_nonce", int)
    signed = sign_tx(TxBody(chain_id, COUNCIL_ADDRESS, nonce, fee, change), keys)
    if out is not None:
        write_tx_file(out, signed)
        written = _file_view(out, signed)
        emit(as_json, written, f"wrote {out}: {signed.id.hex()}, {len(keys)} signature(s)")
        return
    answer = client.submit_tx(signed.encoded)
    tx_id = str(answer.get("id", signed.id.hex()))
    kind = PAYLOAD_NAMES[type(change)]
    result: dict[str, Any] = {
        "id": tx_id,
        "status": answer.get("status", "pending"),
        "type": kind,
        "change": validator_change_to_json(change),
    }
    lines = [f"submitted {kind} {tx_id} for validator {change.public_key.hex()}"]
    if wait:
        view = wait_for_commit(client, tx_id, timeout, progress(as_json))
        height = (view.get("block") or {}).get("height")
        result.update(status="committed", block=view.get("block"))
        if isinstance(height, int):
            result["effective_height"] = height + 2
            lines.append(f"committed in block {height}; the set changes from block {height + 2}")
    emit(as_json, result, lines)


def council_options(f: F) -> F:
    """What every council transaction takes: its signers, fee, waiting, keystore and node."""
    for option in reversed(
        (
            click.option(
                "--signer",
                "signers",
                multiple=True,
                metavar="KEY",
                help="A council member's keystore key (repeat until the council's policy is met).",
            ),
            click.option(
                "--fee", default=1, show_default=True, type=click.IntRange(min=0), help="Fee."
            ),
            wait_options,
            click.option(
                "--out",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write it to a transaction file instead of sending it, for the other "
                "members to sign (`tx sign`, `tx combine`, `tx send`).",
            ),
            keystore_options,
            node_option,
            json_option,
        )
    ):
        f = option(f)
    return f


@tx.command("validator-add")
@click.argument("spec", metavar=VALIDATOR_SHAPE)
@council_options
def tx_validator_add(spec: str, signers: tuple[str, ...], **common: Any) -> None:
    """Add the validator SPEC (the spec `gridchain node show-validator` prints, then
    :BLOCKSTAKE[:NAME]), signed by the council; it votes from the second block after this
    one commits."""
    _send_council_change(validator_add_from_spec(spec, "SPEC"), signers, **common)


@tx.command("validator-remove")
@click.argument("public_key", metavar="PUBKEY_HEX")
@council_options
def tx_validator_remove(public_key: str, signers: tuple[str, ...], **common: Any) -> None:
    """Remove the validator PUBKEY_HEX (active or jailed), signed by the council."""
    change = ValidatorRemove(validator_key_from_hex(public_key, "PUBKEY_HEX"))
    _send_council_change(change, signers, **common)


@tx.command("validator-stake")
@click.argument("public_key", metavar="PUBKEY_HEX")
@click.argument("blockstake", type=click.IntRange(min=1))
@council_options
def tx_validator_stake(
    public_key: str, blockstake: int, signers: tuple[str, ...], **common: Any
) -> None:
    """Give the validator PUBKEY_HEX the voting power BLOCKSTAKE, signed by the council."""
    change = ValidatorSetStake(validator_key_from_hex(public_key, "PUBKEY_HEX"), blockstake)
    _send_council_change(change, signers, **common)


def load_keys(
    names: tuple[str, ...], keystore: Path | None, passphrase_file: Path | None
) -> list[KeyPair]:
    store = open_keystore(keystore)
    passphrase = read_passphrase(passphrase_file)
    return [store.load(name, passphrase) for name in names]


# Transaction files: signing a multisig transaction without a shared machine


def _file_view(path: Path, tx: SignedTx) -> dict[str, Any]:
    return {
        "file": str(path),
        "id": tx.id.hex(),
        "signers": [s.public_key.hex() for s in tx.signatures],
        "transaction": tx_to_json(tx),
    }


@tx.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "keys", multiple=True, required=True, metavar="KEY", help="Keystore key.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the signed file here [default: FILE itself].",
)
@keystore_options
@json_option
def tx_sign(
    file: Path,
    keys: tuple[str, ...],
    out: Path | None,
    keystore: Path | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Add the signatures of KEYs to the transaction in FILE (offline: no node needed).

    Shows what was signed as decoded from the transaction's canonical body (never the file's
    readable view, which anyone could have edited)."""
    signed = signed_by(read_tx_file(file), load_keys(keys, keystore, passphrase_file))
    target = out or file
    write_tx_file(target, signed)
    view = _file_view(target, signed)
    emit(
        as_json,
        view,
        [
            f"{target}: {signed.id.hex()}, {len(signed.signatures)} signature(s)",
            "signed (decoded from the body):",
            json.dumps(view["transaction"], indent=2),
        ],
    )


@tx.command("combine")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option
def tx_combine(files: tuple[Path, ...], out: Path, as_json: bool) -> None:
    """Merge the signatures in FILES, all of one transaction, into OUT (offline)."""
    merged = combined([(path, read_tx_file(path)) for path in files])
    write_tx_file(out, merged)
    view = _file_view(out, merged)
    emit(as_json, view, f"{out}: {merged.id.hex()}, {len(merged.signatures)} signature(s)")


@tx.command("send")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@wait_options
@node_option
@json_option
def tx_send(file: Path, wait: bool, timeout: float, node_url: str | None, as_json: bool) -> None:
    """Send the transaction in FILE once it has the signatures its sender's policy needs."""
    signed = read_tx_file(file)
    result = submit(node_client(node_url), signed, wait, timeout, as_json)
    emit(as_json, result, [f"submitted {result['id']} from {file}", *committed_line(result)])


def _multisig_address(text: str) -> Address | None:
    """`text` as a multisig account's address; None if it is no address (a key's name)."""
    try:
        address = parse_address(text)
    except RuleViolation:
        return None
    if address.type != AddressType.MULTISIG:
        raise CliError(f"--from {text!r}: a key address pays as its keystore key (--from NAME)")
    return address


def submit(
    client: NodeClient, signed: SignedTx, wait: bool, timeout: float, as_json: bool
) -> dict[str, Any]:
    """Send `signed` and, with `wait`, wait until it is committed: its id, status, and then
    its block and receipt."""
    answer = client.submit_tx(signed.encoded)
    tx_id = str(answer.get("id", signed.id.hex()))
    result: dict[str, Any] = {"id": tx_id, "status": answer.get("status", "pending")}
    if wait:
        view = wait_for_commit(client, tx_id, timeout, progress(as_json))
        result.update(status="committed", block=view.get("block"), receipt=view.get("receipt"))
    return result


def committed_line(result: dict[str, Any]) -> list[str]:
    block = result.get("block")
    return [f"committed in block {block.get('height')}"] if isinstance(block, dict) else []
