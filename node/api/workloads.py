"""The standard workload contract's workloads (contracts_std/workload.py), newest first, a page
at a time, and one by id: what the contract holds (state, version, owner, the spec's name, its
signers and who has signed the version) and what the chain did with it (the deployment: its
replicas with their nodes, countries and the nodes they left, its gateway names).

Read from the contract's storage in one snapshot, the way its own read-only functions read it
(vm/compiler/storage.py's keys), so a list costs a few reads a workload, not a metered query.
A deployment another contract asked for is served by /v1/deployments/{contract}/{wid}. The
reads run in a worker thread, off the event loop consensus runs on.
"""

import asyncio
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.address import RAW_SIZE, Address
from chain.deployment.records import DeploymentRef, read_deployment
from chain.deployment.spec import decode_spec
from chain.encoding import decode
from chain.errors import EncodingError, RuleViolation
from chain.farming.txs import MAX_ID
from chain.ledger.contracts import read_storage
from chain.ledger.transactions import Value
from chain.store import Snapshot
from contracts_std.requirement import decode_requirement, workload_address
from node.api.context import API
from node.api.deployments import deployment_view
from node.api.paths import head_of, path_id
from vm.compiler.storage import map_key

MAX_WORKLOADS_PAGE = 100


class WorkloadsSchema(Schema):
    class Meta:
        unknown = RAISE

    before = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, MAX_ID))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_WORKLOADS_PAGE))


def _stored(snap: Snapshot, name: str, key: Value) -> Value | None:
    return read_storage(snap, workload_address(), map_key(name, key))


def _int(value: Value | None) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _bytes(value: Value | None) -> bytes:
    return value if isinstance(value, bytes) else b""


def last_workload_id(snap: Snapshot) -> int:
    return _int(_stored(snap, "counter", b"last"))


def jsonable(value: Any) -> Any:
    """A decoded canonical value as JSON: bytes in hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def spec_json(spec: bytes) -> Any:
    """The spec as its submitter wrote it (its canonical bytes are a JSON-like map)."""
    try:
        return jsonable(decode(spec, max_size=max(1, len(spec))))
    except EncodingError:
        return None


def signers_view(snap: Snapshot, wid: int, version: int, requirement: bytes) -> dict[str, Any]:
    """The requirement of the version, with which signers have signed it."""
    try:
        parsed = decode_requirement(requirement)
    except RuleViolation:
        return {"threshold": None, "signers": []}
    head = wid.to_bytes(8, "big") + version.to_bytes(8, "big")
    return {
        "threshold": parsed.threshold,
        "signers": [
            {
                "public_key": s.public_key.hex(),
                "weight": s.weight,
                "required": s.required,
                "signed": _stored(snap, "signed", head + s.public_key) is True,
            }
            for s in parsed.signers
        ],
    }


def workload_view(snap: Snapshot, wid: int, full: bool = False) -> dict[str, Any] | None:
    """The workload as the contract and the chain hold it (None: the contract has no `wid`);
    `full` adds the spec and the signers."""
    state = _stored(snap, "state", wid)
    if not isinstance(state, str) or not state:
        return None
    version = _int(_stored(snap, "version", wid))
    owner = _bytes(_stored(snap, "owner", wid))
    spec = _bytes(_stored(snap, "spec", wid))
    try:
        name: str | None = decode_spec(spec).name
    except RuleViolation:
        name = None
    deployment = read_deployment(snap, DeploymentRef(workload_address(), wid))
    view: dict[str, Any] = {
        "id": wid,
        "contract": str(workload_address()),
        "state": state,
        "version": version,
        "name": name,
        "owner": str(Address(owner)) if len(owner) == RAW_SIZE else None,
        "deposit": _int(_stored(snap, "deposit", wid)),
        "expires": _int(_stored(snap, "expires", wid)),
        "deployment": None if deployment is None else deployment_view(snap, deployment),
    }
    if full:
        requirement = _bytes(_stored(snap, "requirement", wid))
        view["spec"] = spec_json(spec)
        view |= signers_view(snap, wid, version, requirement)
    return view


def workloads_page(snap: Snapshot, before: int | None, limit: int) -> dict[str, Any]:
    """Workloads with ids below `before` (default: all), newest first, `limit` ids looked at."""
    height, _ = head_of(snap)
    last = last_workload_id(snap)
    top = last + 1 if before is None else min(before, last + 1)
    ids = range(top - 1, max(0, top - 1 - limit), -1)
    found = [workload_view(snap, wid) for wid in ids]
    lowest = ids[-1] if ids else top
    return {
        "height": height,
        "contract": str(workload_address()),
        "last_id": last,
        "workloads": [w for w in found if w is not None],
        "next_before": lowest if lowest > 1 else None,
    }


def workload_answer(snap: Snapshot, wid: int) -> dict[str, Any] | None:
    height, _ = head_of(snap)
    view = workload_view(snap, wid, full=True)
    return None if view is None else view | {"height": height}


async def get_workloads(request: web.Request) -> web.Response:
    q = WorkloadsSchema().load(dict(request.query))
    with request.app[API].node.store.snapshot() as snap:
        page = await asyncio.to_thread(workloads_page, snap, q["before"], q["limit"])
    return web.json_response(page)


async def get_workload(request: web.Request) -> web.Response:
    wid = path_id(request, "wid")
    with request.app[API].node.store.snapshot() as snap:
        view = await asyncio.to_thread(workload_answer, snap, wid)
    if view is None:
        raise web.HTTPNotFound(text=f"the workload contract has no workload {wid}")
    return web.json_response(view)


def add_workload_routes(app: web.Application) -> None:
    app.router.add_get("/v1/workloads", get_workloads)
    app.router.add_get("/v1/workloads/{wid}", get_workload)
