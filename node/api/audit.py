"""Audit log endpoints: entries by range and by contract, inclusion and consistency proofs,
each with the header that commits to the tree size the proof is for, so a client can check it
offline (`gridchain audit verify`) against a header it trusts."""

from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.address import parse_address
from chain.blocks.header import header_to_json
from chain.errors import RuleViolation
from chain.ledger.audit import encode_entry, entry_leaf, entry_to_json
from chain.store import MAX_AUDIT_RANGE, Snapshot
from node.api.context import API

INDEX = fields.Integer(strict=False, validate=validate.Range(min=0, max=2**63 - 1))


class RangeSchema(Schema):
    class Meta:
        unknown = RAISE

    start = fields.Integer(load_default=0, validate=validate.Range(min=0))
    end = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_AUDIT_RANGE))


class SizeSchema(Schema):
    class Meta:
        unknown = RAISE

    size = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


class ConsistencySchema(Schema):
    class Meta:
        unknown = RAISE

    first = fields.Integer(required=True, validate=validate.Range(min=1))
    second = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


def _query(request: web.Request, schema: Schema) -> dict[str, Any]:
    data: dict[str, Any] = schema.load(dict(request.query))
    return data


def _entry_view(snap: Snapshot, index: int) -> dict[str, Any]:
    entry = snap.audit_entry(index)
    if entry is None:
        raise web.HTTPNotFound(text=f"the audit log has no entry {index}")
    return {"index": index, **entry_to_json(entry), "leaf_hash": entry_leaf(entry).hex()}


def _committed_header(snap: Snapshot, size: int) -> dict[str, Any]:
    block = snap.header_with_audit_size(size)
    if block is None:
        raise RuleViolation(f"no header commits to an audit log of exactly {size} entries")
    return header_to_json(block.header)


async def get_audit(request: web.Request) -> web.Response:
    node = request.app[API].node
    head = node.head
    return web.json_response(
        {"size": head.audit_size, "root": head.audit_root.hex(), "height": head.height}
    )


async def get_entries(request: web.Request) -> web.Response:
    q = _query(request, RangeSchema())
    start = q["start"]
    end = start + q["limit"] if q["end"] is None else q["end"]
    with request.app[API].node.store.snapshot() as snap:
        size = snap.audit_size()
        views = [
            _entry_view(snap, i) for i in range(start, min(end, size, start + MAX_AUDIT_RANGE))
        ]
    return web.json_response({"size": size, "entries": views})


async def get_contract_entries(request: web.Request) -> web.Response:
    address = parse_address(request.match_info["address"])
    q = _query(request, RangeSchema())
    with request.app[API].node.store.snapshot() as snap:
        indexes = snap.audit_indexes_by_contract(address.raw, q["start"], q["limit"])
        views = [_entry_view(snap, i) for i in indexes]
    return web.json_response({"contract": str(address), "entries": views})


async def get_inclusion_proof(request: web.Request) -> web.Response:
    index = INDEX.deserialize(request.match_info["index"])
    q = _query(request, SizeSchema())
    node = request.app[API].node
    with node.store.snapshot() as snap:
        size = snap.audit_size() if q["size"] is None else q["size"]
        if index >= size:
            raise RuleViolation(f"entry {index} is not in a log of {size} entries")
        header = _committed_header(snap, size)  # first: refuses a size the log never had
        view = _entry_view(snap, index)
        proof = snap.audit_inclusion_proof(index, size)
        entry = snap.audit_entry(index)
    assert entry is not None
    return web.json_response(
        {
            "kind": "inclusion",
            "entry": view,
            "index": index,
            "size": size,
            "entry_bytes": encode_entry(entry).hex(),
            "proof": [p.hex() for p in proof],
            "header": header,
        }
    )


async def get_consistency_proof(request: web.Request) -> web.Response:
    q = _query(request, ConsistencySchema())
    with request.app[API].node.store.snapshot() as snap:
        second = snap.audit_size() if q["second"] is None else q["second"]
        first = q["first"]
        if first > second:
            raise RuleViolation(f"first size {first} is larger than second size {second}")
        first_header = _committed_header(snap, first)  # first: refuse sizes the log never had
        second_header = _committed_header(snap, second)
        proof = snap.audit_consistency_proof(first, second)
    return web.json_response(
        {
            "kind": "consistency",
            "first": first,
            "second": second,
            "proof": [p.hex() for p in proof],
            "first_header": first_header,
            "second_header": second_header,
        }
    )


def add_audit_routes(app: web.Application) -> None:
    app.router.add_get("/v1/audit", get_audit)
    app.router.add_get("/v1/audit/entries", get_entries)
    app.router.add_get("/v1/audit/entries/{index}/proof", get_inclusion_proof)
    app.router.add_get("/v1/audit/contracts/{address}/entries", get_contract_entries)
    app.router.add_get("/v1/audit/consistency", get_consistency_proof)
