"""`gridchain workload ...` and `gridchain contract ...`: IT contracts from the command line.

A workload spec is validated here (contracts_std/spec.py) before anything is signed; approving
shows what is approved and checks, on this machine, that the hash the signer signs is the hash
of that spec, version and requirement (the node is not trusted to say what is being signed).
"""

from pathlib import Path
from typing import Any

import click

from chain.address import AddressType, key_address, parse_address
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.ledger.transactions import Call, Deploy, Payload, TxBody, Value, arg_to_json, sign_tx
from contracts_std.requirement import (
    RequiredSigner,
    Requirement,
    decode_requirement,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import InvalidSpec, load_spec_file, spec_bytes, spec_hash
from node.api.client import NodeClient
from node.cli.common import (
    CliError,
    answer_field,
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

MAX_SPEC_BYTES = 8192
DEFAULT_GAS = 300_000


# Shared pieces


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


def query(client: NodeClient, contract: str, function: str, *args: Value) -> Any:
    """A read-only call; returns the decoded value or raises with the contract's message."""
    answer = client.query(contract, function, [arg_to_json(a) for a in args])
    if not answer.get("ok"):
        raise CliError(f"{function}: {answer.get('status')}: {answer.get('message')}", "query")
    value = answer.get("value")
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


def public_key_of(store: Keystore, text: str) -> bytes:
    """A keystore key name or 64 hex characters."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return bytes.fromhex(store.show(text).public_key)


def parse_requirement(
    store: Keystore, items: tuple[str, ...], threshold: int | None
) -> Requirement:
    if not items:
        raise CliError("give the signers with --require KEY[:WEIGHT][:required]")
    signers = []
    for item in items:
        parts = item.split(":")
        if not 1 <= len(parts) <= 3 or (len(parts) == 3 and parts[2] != "required"):
            raise CliError(f"--require {item!r}: expected KEY[:WEIGHT][:required]")
        weight = 1
        if len(parts) >= 2 and parts[1] != "required":
            if not parts[1].isdigit():
                raise CliError(f"--require {item!r}: weight {parts[1]!r} is not a number")
            weight = int(parts[1])
        required = parts[-1] == "required" and len(parts) > 1
        signers.append(RequiredSigner(public_key_of(store, parts[0]), weight, required))
    total = sum(s.weight for s in signers)
    return make_requirement(signers, total if threshold is None else threshold)


def requirement_to_json(requirement: Requirement) -> dict[str, Any]:
    return {
        "threshold": requirement.threshold,
        "signers": [
            {"public_key": s.public_key.hex(), "weight": s.weight, "required": s.required}
            for s in requirement.signers
        ],
    }


def load_spec_bytes(path: Path) -> tuple[dict[str, Any], bytes]:
    spec = load_spec_file(path)
    data = spec_bytes(spec)
    if len(data) > MAX_SPEC_BYTES:
        raise InvalidSpec(f"spec is {len(data)} bytes encoded; the limit is {MAX_SPEC_BYTES}")
    return spec, data


def workload_view(client: NodeClient, wid: int) -> dict[str, Any]:
    contract = str(workload_address())
    state = query(client, contract, "status", wid)
    if not state:
        raise CliError(f"there is no workload {wid}", "not_found")
    version = query(client, contract, "version_of", wid)
    requirement_bytes = query(client, contract, "requirement_of", wid)
    requirement = decode_requirement(requirement_bytes)
    spec = query(client, contract, "spec_of", wid)
    signers = []
    for s in requirement.signers:
        signed = query(client, contract, "has_signed", wid, version, s.public_key)
        signers.append(
            {
                "public_key": s.public_key.hex(),
                "weight": s.weight,
                "required": s.required,
                "signed": bool(signed),
            }
        )
    owner = query(client, contract, "owner_of", wid)
    return {
        "id": wid,
        "state": state,
        "version": version,
        "owner": owner.hex(),
        "spec_hash": hash32(spec).hex(),
        "threshold": requirement.threshold,
        "signed_weight": query(client, contract, "signed_weight", wid),
        "missing_required": query(client, contract, "missing_required", wid),
        "signers": signers,
        "signing_hash": query(client, contract, "signing_hash", wid).hex(),
    }


# workload


@click.group()
def workload() -> None:
    """Submit, approve and follow multisig workload specs (the `workload` standard contract)."""


@workload.command("submit")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--require",
    "requires",
    multiple=True,
    metavar="KEY[:WEIGHT][:required]",
    help="A signer: keystore name or hex public key, weight (default 1), ':required' if it "
    "must sign. Repeat for each signer.",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    help="Total weight of signatures needed [default: every signer's weight].",
)
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_submit(
    spec_file: Path,
    requires: tuple[str, ...],
    threshold: int | None,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Submit SPEC (JSON) with its signature requirement; prints the workload id."""
    spec, data = load_spec_bytes(spec_file)
    store = open_keystore(keystore)
    requirement = parse_requirement(store, requires, threshold)
    req = encode_requirement(requirement)
    client = node_client(node_url)
    key = unlock(store, sender, passphrase_file)
    height = answer_field(client.status(), "height", int)
    expiry = height + int(spec["expiry_blocks"])
    call = Call(workload_address(), "submit", (data, req, expiry), 0, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    wid = sent["receipt"].get("return_value")
    if not isinstance(wid, int):
        raise CliError(f"the contract answered no workload id: {wid!r}", "bad_response")
    result = {
        "id": wid,
        "tx": sent["id"],
        "block": sent["block"],
        "spec_hash": spec_hash(spec).hex(),
        "requirement": requirement_to_json(requirement),
        "expires_after_height": expiry,
        "signing_hash": signing_hash(workload_address(), wid, 1, data, req).hex(),
        "gas_used": sent["receipt"].get("gas_used"),
    }
    emit(
        as_json,
        result,
        [
            f"workload {wid} submitted (pending) in block {(sent['block'] or {}).get('height')}",
            f"spec hash {result['spec_hash']}",
            f"signers sign {result['signing_hash']}: `gridchain workload approve {wid} --key NAME`",
        ],
    )


@workload.command("approve")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--key", "key_name", required=True, metavar="KEY", help="Keystore key that signs.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_approve(
    wid: int,
    key_name: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Sign workload ID's pending version (or pending update) with KEY and send the signature."""
    client = node_client(node_url)
    contract = workload_address()
    version = query(client, str(contract), "version_of", wid)
    pending_spec = query(client, str(contract), "pending_spec_of", wid)
    if pending_spec:
        spec = pending_spec
        requirement = query(client, str(contract), "pending_requirement_of", wid)
        version += 1
    else:
        spec = query(client, str(contract), "spec_of", wid)
        requirement = query(client, str(contract), "requirement_of", wid)
    if not spec:
        raise CliError(f"there is no workload {wid}", "not_found")
    expected = signing_hash(contract, wid, version, spec, requirement)
    told = query(client, str(contract), "signing_hash", wid)
    if told != expected:
        raise CliError(
            "the node's signing hash does not match the spec and requirement it returned; "
            "refusing to sign",
            "hash_mismatch",
        )
    store = open_keystore(keystore)
    key = unlock(store, key_name, passphrase_file)
    signature = key.sign(expected)
    call = Call(contract, "approve", (wid, key.public_key, signature), 0, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    state = sent["receipt"].get("return_value")
    result = {
        "id": wid,
        "version": version,
        "signer": key.public_key.hex(),
        "signing_hash": expected.hex(),
        "state": state,
        "tx": sent["id"],
        "block": sent["block"],
        "gas_used": sent["receipt"].get("gas_used"),
    }
    emit(as_json, result, f"signed version {version} of workload {wid}; it is now {state}")


@workload.command("status")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@node_option
@json_option
def workload_status(wid: int, node_url: str | None, as_json: bool) -> None:
    """State, version and signatures of workload ID."""
    view = workload_view(node_client(node_url), wid)
    lines = [
        f"workload {wid}: {view['state']} (version {view['version']})",
        f"signed weight {view['signed_weight']} of threshold {view['threshold']}, "
        f"{view['missing_required']} required signer(s) missing",
    ]
    for s in view["signers"]:
        flags = "required" if s["required"] else "optional"
        mark = "signed" if s["signed"] else "not signed"
        lines.append(f"  {s['public_key']} weight {s['weight']} {flags}: {mark}")
    emit(as_json, view, lines)


@workload.command("update")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--require", "requires", multiple=True, metavar="KEY[:WEIGHT][:required]")
@click.option("--threshold", type=click.IntRange(min=1))
@click.option("--from", "sender", required=True, metavar="KEY", help="The owner's key.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_update(
    wid: int,
    spec_file: Path,
    requires: tuple[str, ...],
    threshold: int | None,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Propose version + 1 of workload ID; both the old and the new requirement must sign it."""
    _, data = load_spec_bytes(spec_file)
    store = open_keystore(keystore)
    req = encode_requirement(parse_requirement(store, requires, threshold))
    client = node_client(node_url)
    key = unlock(store, sender, passphrase_file)
    version = query(client, str(workload_address()), "version_of", wid)
    call = Call(workload_address(), "update", (wid, version + 1, data, req), 0, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    new_hash = signing_hash(workload_address(), wid, version + 1, data, req).hex()
    emit(
        as_json,
        {"id": wid, "version": version + 1, "signing_hash": new_hash, "tx": sent["id"]},
        f"proposed version {version + 1} of workload {wid}; signers sign {new_hash}",
    )


@workload.command("cancel")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--from", "sender", required=True, metavar="KEY", help="The owner's key.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_cancel(
    wid: int,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Cancel workload ID (owner only)."""
    client = node_client(node_url)
    key = unlock(open_keystore(keystore), sender, passphrase_file)
    sent = send(
        client, key, Call(workload_address(), "cancel", (wid,), 0, gas_limit), timeout, as_json
    )
    emit(as_json, {"id": wid, "state": "cancelled", "tx": sent["id"]}, f"workload {wid} cancelled")


# contract


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
    answer = client.query(address, function, [arg_to_json(parse_arg(a)) for a in args], caller)
    if not answer.get("ok"):
        raise CliError(f"{function}: {answer.get('status')}: {answer.get('message')}", "query")
    emit(as_json, answer, f"{answer.get('value')!r} (gas {answer.get('gas_used')})")
