"""Contract endpoints of the HTTP API: what is deployed where, and read-only queries.

A query runs a public function against the head state as if `caller` called it, without a
transaction: nothing it writes is kept and no fee is paid, but it is metered like a call, so a
query cannot run for ever.
"""

import hashlib
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from chain.address import Address, AddressType, parse_address
from chain.blockchain import env_for
from chain.errors import RuleViolation
from chain.ledger.contracts import OK, contract_code
from chain.ledger.transactions import MAX_ARG_BYTES, MAX_CALL_ARGS, Value, arg_to_json
from chain.state import Overlay, read_account
from node.api.body import read_json
from node.api.context import API
from vm.disasm import disassemble
from vm.isa import TYPE_NAMES, decode_module
from vm.runtime import query

MAX_QUERY_GAS = 10_000_000


class ArgField(fields.Field):  # type: ignore[type-arg]
    """A call argument in JSON: int, bool, string, or {"hex": "..."} for bytes."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Value:
        return arg_from_json(value)


def arg_from_json(value: Any) -> Value:
    if isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value.encode()) > MAX_ARG_BYTES:
            raise ValidationError(f"string argument is longer than {MAX_ARG_BYTES} bytes")
        return value
    if isinstance(value, dict) and set(value) == {"hex"} and isinstance(value["hex"], str):
        try:
            data = bytes.fromhex(value["hex"])
        except ValueError:
            raise ValidationError("hex argument is not hex") from None
        if len(data) > MAX_ARG_BYTES:
            raise ValidationError(f"bytes argument is longer than {MAX_ARG_BYTES} bytes")
        return data
    raise ValidationError('an argument is an int, a bool, a string or {"hex": "..."}')


class QuerySchema(Schema):
    class Meta:
        unknown = RAISE

    function = fields.String(required=True, validate=validate.Length(1, 64))
    args = fields.List(ArgField(), load_default=list, validate=validate.Length(0, MAX_CALL_ARGS))
    caller = fields.String(load_default=None, allow_none=True)
    gas_limit = fields.Integer(
        load_default=1_000_000, strict=True, validate=validate.Range(1, MAX_QUERY_GAS)
    )


def contract_address_param(request: web.Request) -> Address:
    address = parse_address(request.match_info["address"])
    if address.type != AddressType.CONTRACT:
        raise RuleViolation(f"{address} is not a contract address")
    return address


async def get_contract(request: web.Request) -> web.Response:
    """Code hash and size, balance, public functions and the disassembly of a contract."""
    node = request.app[API].node
    address = contract_address_param(request)
    with node.store.snapshot() as snap:
        code = contract_code(snap, address)
        account = read_account(snap, address)
    if code is None:
        raise web.HTTPNotFound(text=f"no contract is deployed at {address}")
    module = decode_module(code)
    functions = [
        {
            "name": f.name,
            "params": [TYPE_NAMES[p] for p in f.params],
            "returns": None if f.returns is None else TYPE_NAMES[f.returns],
        }
        for f in module.functions
        if f.public
    ]
    return web.json_response(
        {
            "address": str(address),
            "balance": 0 if account is None else account.balance,
            "code_size": len(code),
            "code_sha256": hashlib.sha256(code).hexdigest(),
            "functions": functions,
            "disassembly": disassemble(module),
        }
    )


async def query_contract(request: web.Request) -> web.Response:
    node = request.app[API].node
    address = contract_address_param(request)
    data = await read_json(request, QuerySchema())
    caller = b"\x00" * 33 if data["caller"] is None else parse_address(data["caller"]).raw
    with node.store.snapshot() as snap:
        state = Overlay(snap)
        if contract_code(state, address) is None:
            raise web.HTTPNotFound(text=f"no contract is deployed at {address}")
        head = node.head
        env = env_for(head, state)
        outcome = query(
            env, state, address, data["function"], tuple(data["args"]), caller, data["gas_limit"]
        )
    value = outcome.return_value
    return web.json_response(
        {
            "status": outcome.status,
            "ok": outcome.status == OK,
            "gas_used": outcome.gas_used,
            "value": None if value is None else arg_to_json(value),
            "message": outcome.message,
            "height": head.height,
        }
    )


def add_contract_routes(app: web.Application) -> None:
    app.router.add_get("/v1/contracts/{address}", get_contract)
    app.router.add_post("/v1/contracts/{address}/query", query_contract)
