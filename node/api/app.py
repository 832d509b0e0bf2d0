"""The node's HTTP API (aiohttp): JSON in and out, errors as {"error": {"code", "message"}}.

Everything that enters is validated (marshmallow for bodies, the chain's own parsers for
addresses, ids and transaction bytes) before it reaches the node; reads go through a LevelDB
snapshot so one response never mixes two blocks.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from chain import smt
from chain.address import parse_address
from chain.blocks.block import Block
from chain.blocks.commit import Commit, commit_to_json
from chain.blocks.evidence import evidence_to_json
from chain.blocks.header import header_to_json
from chain.errors import GridchainError, LocalFault, RuleViolation
from chain.governance.upgrade import plan_to_json, running_release, upgrade_plan
from chain.hashing import HASH_SIZE
from chain.ledger.execution import Receipt, created_address, receipt_to_json
from chain.ledger.transactions import MAX_TX_SIZE, tx_to_json
from chain.params import BASIS_POINTS
from chain.staking.council import pending_changes, pending_to_json
from chain.staking.validators import encode_validator_set, validator_set_to_json
from chain.state import (
    Account,
    Overlay,
    SigningInfo,
    account_key,
    account_to_json,
    decode_account,
    jailed_to_json,
    jailed_validators,
    signing_info,
    signing_info_to_json,
)
from chain.store import Snapshot
from genesis.schema import flatten_errors
from node.api.audit import add_audit_routes
from node.api.blocks import add_block_list_routes
from node.api.body import CBOR, MAX_BATCH, read_cbor_batch, read_json
from node.api.context import API, ApiContext
from node.api.contracts import add_contract_routes
from node.api.deployments import add_deployment_routes
from node.api.explorer import add_explorer_routes
from node.api.farming import add_farming_routes
from node.api.governance import add_governance_routes
from node.api.light import add_light_routes
from node.api.openapi import openapi_spec
from node.api.snapshots import add_snapshot_routes
from node.api.workloads import add_workload_routes
from node.consensus.wiring import Consensus
from node.release import VERSION
from node.service import NodeService

log = logging.getLogger("gridchain.api")

HEX = r"^[0-9a-fA-F]*$"


class SubmitTxSchema(Schema):
    class Meta:
        unknown = RAISE

    tx = fields.String(
        required=True,
        validate=[
            validate.Length(2, 2 * MAX_TX_SIZE),
            validate.Regexp(HEX, error="must be hex"),
        ],
    )


class SubmitBatchSchema(Schema):
    class Meta:
        unknown = RAISE

    txs = fields.List(
        fields.String(validate=validate.Regexp(HEX, error="must be hex")),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
    )


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


STATUS_OF_CODE = {
    "mempool_full": 503,
    "catching_up": 503,
    "no_peers": 503,
    "duplicate": 409,
    "nonce_pending": 409,
    "not_found": 404,
    "explorer_not_built": 503,
}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure becomes JSON with a code and a message; never a stack trace."""
    try:
        return await handler(request)
    except LocalFault as exc:
        log.error("local fault on %s %s: %s", request.method, request.path, exc.message)
        return error_response(500, exc.code, exc.message)
    except GridchainError as exc:
        return error_response(STATUS_OF_CODE.get(exc.code, 400), exc.code, exc.message)
    except ValidationError as exc:
        return error_response(
            400, "invalid_request", "; ".join(flatten_errors(exc.normalized_messages()))
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.text or exc.reason)
        if "Allow" in exc.headers:  # a 405 says which methods the resource takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the node log")


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RuleViolation(f"{what} is not hex") from None


def not_found(message: str) -> web.Response:
    return error_response(404, "not_found", message)


# Handlers


def check_relaying(request: web.Request) -> None:
    """Refuse new transactions this node could not get finalized (behind, or no peers)."""
    consensus = request.app[API].consensus
    refusal = consensus.reactor.relay_refusal() if consensus is not None else None
    if refusal is not None:
        raise refusal


async def submit_tx(request: web.Request) -> web.Response:
    body = await read_json(request, SubmitTxSchema())
    check_relaying(request)
    tx_id = request.app[API].node.submit(_hex(body["tx"], "tx"))
    return web.json_response({"id": tx_id.hex(), "status": "pending"}, status=202)


async def submit_batch(request: web.Request) -> web.Response:
    """Up to MAX_BATCH transactions: JSON ({"txs": [hex, ...]}) or, for bulk senders, one
    CBOR array of their bytes (Content-Type: application/cbor); the same answer either way."""
    if request.content_type == CBOR:
        items = await read_cbor_batch(request)
    else:
        body = await read_json(request, SubmitBatchSchema())
        items = [_hex(item, f"txs[{i}]") for i, item in enumerate(body["txs"])]
    check_relaying(request)
    results = await request.app[API].node.submit_many(items)
    out: list[dict[str, Any]] = []
    for r in results:
        if r.error is None:
            out.append({"id": r.tx_id.hex() if r.tx_id else None, "status": "pending"})
        else:
            out.append(
                {
                    "id": r.tx_id.hex() if r.tx_id else None,
                    "error": {"code": r.error.code, "message": r.error.message},
                }
            )
    accepted = sum(1 for r in results if r.error is None)
    return web.json_response({"accepted": accepted, "results": out})


def _tx_id(text: str) -> bytes:
    if len(text) != 64:
        raise RuleViolation("a transaction id is 64 hex characters")
    return _hex(text, "transaction id")


async def get_tx(request: web.Request) -> web.Response:
    node = request.app[API].node
    tx_id = _tx_id(request.match_info["tx_id"])
    pending = node.mempool.get(tx_id)
    with node.store.snapshot() as snap:
        location = snap.tx_location(tx_id)
        if location is None:
            rejected = None if pending is not None else node.rejected.get(tx_id)
            if rejected is not None:
                return web.json_response(
                    {
                        "id": tx_id.hex(),
                        "status": "rejected",
                        "error": {"code": rejected.code, "message": rejected.message},
                    }
                )
            if pending is None:
                return not_found(f"transaction {tx_id.hex()} is unknown")
            return web.json_response(
                {
                    "id": tx_id.hex(),
                    "status": "pending",
                    "tx": tx_to_json(pending),
                    "receipt": None,
                    "block": None,
                }
            )
        height, index = location
        block = snap.block_at(height)
    assert block is not None
    tx = block.txs[index]
    with node.store.snapshot() as snap:
        stored = snap.receipt(tx.id)
    receipt = stored or Receipt(tx.id, height, index, tx.body.fee, created_address(tx))
    return web.json_response(
        {
            "id": tx_id.hex(),
            "status": "committed",
            "final": True,
            "tx": tx_to_json(tx),
            "receipt": receipt_to_json(receipt),
            "block": {"height": height, "hash": block.hash.hex()},
        }
    )


async def get_account(request: web.Request) -> web.Response:
    node = request.app[API].node
    address = parse_address(request.match_info["address"])
    key = account_key(address)
    with node.store.snapshot() as snap:
        head = snap.head()
        assert head is not None
        raw = snap.get_state(key)
        proof = smt.prove(snap, head.state_root, key)
    account = decode_account(raw) if raw is not None else Account()
    view = account_to_json(address, account)
    view.update(
        {
            "exists": raw is not None,
            "next_nonce": node.next_nonce(address),
            "height": head.height,
            "block_hash": head.block_hash.hex(),
            "state_root": head.state_root.hex(),
            "state_key": key.hex(),
            "value": raw.hex() if raw is not None else None,
            "proof": proof.to_dict(),
        }
    )
    return web.json_response(view)


def _find_block(snap: Snapshot, ref: str) -> Block | None:
    if ref == "latest":
        head = snap.head()
        return None if head is None else snap.block(head.block_hash)
    if ref.isascii() and ref.isdigit() and len(ref) < 20:  # "²" is a digit int() refuses
        return snap.block_at(int(ref))
    if len(ref) == 64:
        return snap.block(_hex(ref, "block hash"))
    raise RuleViolation(f"{ref!r} is neither a height, a 64-hex block hash nor 'latest'")


def _commit_view(snap: Snapshot, commit: Commit | None) -> dict[str, Any] | None:
    """The certificate with its signers' keys, read from the set that voted on its block (the
    one that block's header names)."""
    if commit is None:
        return None
    block = snap.block_at(commit.height)
    vset = None if block is None else snap.validator_set(block.header.validators_hash)
    return commit_to_json(commit, vset)


async def get_block(request: web.Request) -> web.Response:
    node = request.app[API].node
    ref = request.match_info["ref"]
    with node.store.snapshot() as snap:
        block = _find_block(snap, ref)
        if block is None:
            return not_found(f"no block {ref}")
        last_commit = _commit_view(snap, block.last_commit)
        commit = _commit_view(snap, snap.commit_at(block.height))
    return web.json_response(
        {
            "header": header_to_json(block.header),
            "txs": [tx_to_json(tx) for tx in block.txs],
            "last_commit": last_commit,
            "commit": commit,
            "evidence": [evidence_to_json(e) for e in block.evidence],
        }
    )


def uptime_view(info: SigningInfo, height: int, window: int) -> dict[str, Any]:
    """How many of the heights in the downtime window up to `height` (the last commit a block
    recorded) were tracked for the validator, how many it missed, and the share it signed."""
    tracked = max(0, min(window, height - info.start_height + 1))
    missed = sum(1 for m in info.missed if m > height - window)
    signed_bp = (tracked - missed) * BASIS_POINTS // tracked if tracked else None
    return {"window": window, "tracked": tracked, "missed": missed, "signed_bp": signed_bp}


async def get_validators(request: web.Request) -> web.Response:
    """The active set (voting on the next block), and the jailed with why they are out."""
    node = request.app[API].node
    with node.store.snapshot() as snap:
        state = Overlay(snap)
        active = state.validator_set()
        jailed = jailed_validators(snap)
        pending = pending_changes(snap)
        infos = {v.public_key: signing_info(snap, v.public_key) for v in active.validators}
        height = snap.head()
        window = state.params().downtime_window
    # Block h records who signed the commit of h - 1: the last height signatures are known for.
    recorded = 0 if height is None else height.height - 1
    validators = []
    for entry in validator_set_to_json(active):
        info = infos[bytes.fromhex(entry["public_key"])]
        entry["signing"] = None if info is None else signing_info_to_json(info)
        entry["uptime"] = None if info is None else uptime_view(info, recorded, window)
        validators.append(entry)
    return web.json_response(
        {
            "height": None if height is None else height.height,
            "downtime_window": window,
            "total_blockstake": active.total_power,
            "validators": validators,
            "jailed": [jailed_to_json(j) for j in jailed],
            "pending": [pending_to_json(p) for p in pending],
        }
    )


async def get_validator_set(request: web.Request) -> web.Response:
    """A set the chain has had, by the hash headers name it with (validators_hash,
    next_validators_hash): its canonical bytes, which hash to it, and a readable view."""
    node = request.app[API].node
    set_hash = _hex(request.match_info["set_hash"], "validator set hash")
    if len(set_hash) != HASH_SIZE:
        raise RuleViolation(f"a validator set hash is {2 * HASH_SIZE} hex characters")
    with node.store.snapshot() as snap:
        vset = snap.validator_set(set_hash)
    if vset is None:
        return not_found(f"no validator set {set_hash.hex()}")
    return web.json_response(
        {
            "hash": set_hash.hex(),
            "encoded": encode_validator_set(vset).hex(),
            "total_blockstake": vset.total_power,
            "validators": validator_set_to_json(vset),
        }
    )


async def get_status(request: web.Request) -> web.Response:
    node = request.app[API].node
    consensus = request.app[API].consensus
    head = node.head
    running, plan = running_release(node.view), upgrade_plan(node.view)
    return web.json_response(
        {
            "chain_id": node.chain_id,
            "genesis_hash": node.genesis_hash.hex(),
            "height": head.height,
            # the first height held: above 0 for a node that began from a snapshot
            "base_height": node.view.base_height(),
            "block_hash": head.hash.hex(),
            "state_root": head.state_root.hex(),
            "time_ms": head.time_ms,
            "mempool": {"txs": len(node.mempool), "bytes": node.mempool.bytes},
            "validator": node.key.public_key.hex(),
            "fees": {
                "min_fee": node.params.min_fee,
                "gas_price": node.params.gas_price,
                "max_tx_gas": node.params.max_tx_gas,
            },
            "consensus": consensus.reactor.status() if consensus is not None else None,
            "version": VERSION,
            "release": {
                "running": None if running is None else running.version,
                "plan": plan_to_json(plan),
            },
        }
    )


async def get_metrics(request: web.Request) -> web.Response:
    body = request.app[API].node.metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec(VERSION))


def node_context(
    node: NodeService, consensus: Consensus | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Runs consensus and peer links for the app's lifetime and closes the node with them."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if consensus is not None:
            await consensus.start()
        try:
            yield
        finally:
            if consensus is not None:
                await consensus.stop()
            node.close()

    return context


def make_app(
    node: NodeService, max_request_bytes: int = 4 * 1024 * 1024, consensus: Consensus | None = None
) -> web.Application:
    """The API over `node`; without `consensus`, tests drive block production themselves."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=max_request_bytes)
    app[API] = ApiContext(node, consensus)
    app.cleanup_ctx.append(node_context(node, consensus))
    app.router.add_post("/v1/txs", submit_tx)
    app.router.add_post("/v1/txs/batch", submit_batch)
    # Not "batch": GET /v1/txs/batch is a method the batch route does not take (405), not an id.
    app.router.add_get("/v1/txs/{tx_id:(?!batch$)[^/]+}", get_tx)
    app.router.add_get("/v1/accounts/{address}", get_account)
    app.router.add_get("/v1/blocks/{ref}", get_block)
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/v1/validators", get_validators)
    app.router.add_get("/v1/validator-sets/{set_hash}", get_validator_set)
    app.router.add_get("/v1/openapi.json", get_openapi)
    app.router.add_get("/metrics", get_metrics)
    add_contract_routes(app)
    add_audit_routes(app)
    add_light_routes(app)
    add_farming_routes(app)
    add_deployment_routes(app)
    add_workload_routes(app)
    add_block_list_routes(app)
    add_governance_routes(app)
    add_snapshot_routes(app)
    add_explorer_routes(app)
    return app
