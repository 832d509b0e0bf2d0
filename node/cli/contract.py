"""`gridchain contract ...`: compile, read, deploy, call and query contracts; and the pieces every
command that sends a contract transaction shares (`workload`, `farmer`): gas options, unlocking
a key, sending a call and waiting for its receipt, a read-only query, parsing arguments.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from chain.address import AddressType, key_address, parse_address
from chain.keys import KeyPair
from chain.ledger.transactions import Call, Deploy, Payload, TxBody, Value, arg_to_json, sign_tx
from node.api.client import NodeClient, answer_field
from node.cli.common import (
    CliError,
    keystore_options,
    node_client,
    node_option,
    open_keystore,
    wait_for_commit,
)
from node.cli.output import emit, json_option, progress
from node.keystore import Keystore, read_passphrase
from vm.compiler import compile_source
from vm.disasm import disassemble
from vm.isa import decode_module, encode_module

DEFAULT_GAS = 300_000


def gas_options(f: Any) -> Any:
    f = click.option(
        "--gas-limit",
        default=DEFAULT_GAS,
        show_default=True,
        type=click.IntRange(min=1),
        help="Most gas the call may use; the fee covers it, only the gas used is charged.",
    )(f)
    return click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0))(
        f
    )


def unlock(store: Keystore, name: str, passphrase_file: Path | None) -> KeyPair:
    store.show(name)  # a clear error for an unknown name before any prompt
    return store.load(name, read_passphrase(passphrase_file))


def send(
    client: NodeClient,
    key: KeyPair,
    payload: Payload,
    timeout: float,
    as_json: bool,
) -> dict[str, Any]:
    """Sign `payload` from key's address with the fee its gas limit needs, send it and wait
    for its receipt; a call that reverts is an error carrying the contract's message."""
    status = client.status()
    chain_id = answer_field(status, "chain_id", str)
    fees = status.get("fees") or {}
    min_fee, gas_price = int(fees.get("min_fee", 1)), int(fees.get("gas_price", 1))
    gas_limit = payload.gas_limit if isinstance(payload, Call | Deploy) else 0
    sender = key_address(key.public_key)
    nonce = answer_field(client.account(str(sender)), "next_nonce", int)
    fee = min_fee + gas_limit * gas_price
    signed = sign_tx(TxBody(chain_id, sender, nonce, fee, payload), [key])
    client.submit_tx(signed.encoded)
    say = progress(as_json)
    say(f"sent {signed.id.hex()}; waiting for it to be committed...")
    view = wait_for_commit(client, signed.id.hex(), timeout, say)
    receipt = view.get("receipt") or {}
    if receipt.get("status", "ok") != "ok":
        raise CliError(
            f"transaction {signed.id.hex()} was committed but the contract said "
            f"{receipt.get('status')}: {receipt.get('message')}",
            str(receipt.get("status")),
        )
    return {"id": signed.id.hex(), "block": view.get("block"), "receipt": receipt}


def query_answer(
    client: NodeClient,
    contract: str,
    function: str,
    args: Sequence[Value],
    caller: str | None = None,
) -> dict[str, Any]:
    """A read-only call's whole answer (value, gas used); raises with the contract's message."""
    answer = client.query(contract, function, [arg_to_json(a) for a in args], caller)
    if not answer.get("ok"):
        raise CliError(f"{function}: {answer.get('status')}: {answer.get('message')}", "query")
    return answer


def query_value(client: NodeClient, contract: str, function: str, *args: Value) -> Any:
    """A read-only call's decoded value."""
    value = query_answer(client, contract, function, args).get("value")
    if isinstance(value, dict) and "hex" in value:
        return bytes.fromhex(value["hex"])
    return value


def parse_arg(text: str) -> Value:
    """int:5, bool:true, hex:00ff, str:text; a bare integer is an int, anything else text."""
    kind, sep, rest = text.partition(":")
    if sep:
        if kind == "int":
            try:
                return int(rest)
            except ValueError:
                raise CliError(f"argument {text!r}: {rest!r} is not an integer") from None
        if kind == "bool":
            if rest not in ("true", "false"):
                raise CliError(f"argument {text!r}: a bool is true or false")
            return rest == "true"
        if kind == "hex":
            try:
                return bytes.fromhex(rest)
            except ValueError:
                raise CliError(f"argument {text!r}: {rest!r} is not hex") from None
        if kind == "str":
            return rest
    try:
        return int(text)
    except ValueError:
        return text


@click.group()
def contract() -> None:
    """Compile, read, deploy, call and query contracts."""


def module_from_file(path: Path) -> bytes:
    """A .py source compiled, or encoded module bytes as written by `contract compile`."""
    if path.suffix == ".py":
        return encode_module(compile_source(path.read_text(), path.name))
    data = path.read_bytes()
    decode_module(data)
    return data


@contract.command("compile")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write code.")
@json_option
def contract_compile(source: Path, out: Path | None, as_json: bool) -> None:
    """Compile SOURCE (the contract language) and report its size and public functions."""
    module = compile_source(source.read_text(), source.name)
    code = encode_module(module)
    if out is not None:
        out.write_bytes(code)
    public = [f.name for f in module.functions if f.public]
    emit(
        as_json,
        {"size": len(code), "functions": public, "out": None if out is None else str(out)},
        f"{source}: {len(code)} bytes, public functions: {', '.join(public)}",
    )


@contract.command("disasm")
@click.argument("target", metavar="ADDRESS|FILE")
@node_option
@json_option
def contract_disasm(target: str, node_url: str | None, as_json: bool) -> None:
    """Disassemble deployed code (by contract address) or a local .py/.bin file."""
    path = Path(target)
    if path.exists():
        text = disassemble(decode_module(module_from_file(path)))
    else:
        text = str(node_client(node_url).contract(target).get("disassembly", ""))
    emit(as_json, {"disassembly": text}, text)


@contract.command("deploy")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@gas_options
@keystore_options
@node_option
@json_option
def contract_deploy(
    source: Path,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Deploy SOURCE (.py compiled here, or compiled code) and print its address."""
    code = module_from_file(source)
    client = node_client(node_url)
    key = unlock(open_keystore(keystore), sender, passphrase_file)
    sent = send(client, key, Deploy(code, gas_limit), timeout, as_json)
    address = sent["receipt"].get("created")
    emit(as_json, {"address": address, **sent}, f"deployed at {address}")


@contract.command("call")
@click.argument("address")
@click.argument("function")
@click.argument("args", nargs=-1)
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@click.option("--value", default=0, type=click.IntRange(min=0), help="Credits sent with the call.")
@gas_options
@keystore_options
@node_option
@json_option
def contract_call(
    address: str,
    function: str,
    args: tuple[str, ...],
    sender: str,
    value: int,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Call FUNCTION of the contract at ADDRESS with ARGS (int:5 bool:true hex:00ff str:x)."""
    target = parse_address(address)
    if target.type != AddressType.CONTRACT:
        raise CliError(f"{address} is not a contract address")
    client = node_client(node_url)
    key = unlock(open_keystore(keystore), sender, passphrase_file)
    call = Call(target, function, tuple(parse_arg(a) for a in args), value, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    receipt = sent["receipt"]
    emit(as_json, sent, f"returned {receipt.get('return_value')!r}, gas {receipt.get('gas_used')}")


@contract.command("query")
@click.argument("address")
@click.argument("function")
@click.argument("args", nargs=-1)
@click.option("--caller", metavar="ADDR", help="Address the call appears to come from.")
@node_option
@json_option
def contract_query(
    address: str,
    function: str,
    args: tuple[str, ...],
    caller: str | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Run FUNCTION read-only on the head state; nothing is written, no fee is paid."""
    client = node_client(node_url)
    answer = query_answer(client, address, function, [parse_arg(a) for a in args], caller)
    emit(as_json, answer, f"{answer.get('value')!r} (gas {answer.get('gas_used')})")
