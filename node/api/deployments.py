"""Deployment endpoints: a deployment with its replicas and routes, what a farm node is asked to
run (its agent reads this), and what a gateway node is asked to serve.

Every answer comes from one LevelDB snapshot of committed blocks, which are final: an agent
never acts on a block that could still change.
"""

from typing import Any

from aiohttp import web

from chain.address import parse_address
from chain.deployment.records import (
    DEPLOYED,
    Deployment,
    DeploymentRef,
    deployment_to_json,
    read_deployment,
    read_deployment_spec,
    read_node_load,
)
from chain.deployment.spec import backend_workload, decode_spec
from chain.farming.records import read_last_seen, read_node
from chain.state import Overlay
from chain.store import Snapshot
from node.api.context import API
from node.api.paths import head_of, path_id


def _deployment(snap: Snapshot, ref: DeploymentRef) -> Deployment:
    d = read_deployment(snap, ref)
    if d is None:
        raise web.HTTPNotFound(text=f"workload {ref.wid} of {ref.contract} has no deployment")
    return d


def _spec_bytes(snap: Snapshot, ref: DeploymentRef) -> bytes:
    spec = read_deployment_spec(snap, ref)
    if spec is None:
        raise web.HTTPNotFound(text=f"workload {ref.wid} of {ref.contract} has no spec")
    return spec


def deployment_view(snap: Snapshot, d: Deployment) -> dict[str, Any]:
    """The deployment with each replica's node country and the URL of each gateway name."""
    state = Overlay(snap)
    view = deployment_to_json(d)
    for r, replica in zip(d.replicas, view["replicas"], strict=True):
        node = read_node(state, r.node) if r.placed else None
        replica["country"] = None if node is None else node.location.country
    for route in view["routes"]:
        route["url"] = f"http://{route['host']}/" if route["host"] else None
    return view


def routes_of(snap: Snapshot, node_id: int) -> list[dict[str, Any]]:
    """What gateway `node_id` serves: each host with the backends it forwards to now. A
    `workload:port` backend is every deployed replica of that workload at its endpoint; a
    paused deployment serves nothing."""
    routes = []
    for served in read_node_load(snap, node_id).routes:
        d = _deployment(snap, served.deployment)
        spec = decode_spec(_spec_bytes(snap, d.ref))
        route = next(r for r in d.routes if r.name == served.name)
        gateway = next(g for g in spec.gateways if g.name == served.name)
        backends: list[str] = []
        for backend in gateway.backends:
            target = backend_workload(backend)
            if target is None:
                backends.append(backend)
                continue
            name, port = target
            backends += [
                f"http://{r.endpoint}:{port}"
                for r in d.replicas
                if r.workload == name and r.state == DEPLOYED and r.endpoint
            ]
        routes.append(
            {
                "host": route.host,
                "contract": str(d.ref.contract),
                "workload_id": d.ref.wid,
                "version": d.version,
                "backends": [] if d.in_grace else backends,
            }
        )
    return routes


def replicas_of(snap: Snapshot, node_id: int) -> list[dict[str, Any]]:
    """What node `node_id` is asked to run: each replica with the spec it runs (hex of the
    canonical bytes; the agent checks them against spec_hash), and whether it is paused."""
    replicas = []
    for ref in read_node_load(snap, node_id).replicas:
        d = _deployment(snap, ref.deployment)
        replica = next(r for r in d.replicas if (r.workload, r.index) == (ref.workload, ref.index))
        replicas.append(
            {
                "contract": str(d.ref.contract),
                "workload_id": d.ref.wid,
                "version": d.version,
                "workload": replica.workload,
                "index": replica.index,
                "state": replica.state,
                "message": replica.message,
                "endpoint": replica.endpoint or None,
                "billed_until": replica.billed_until,
                "paused": d.in_grace,
                "spec_hash": d.spec_hash.hex(),
                "spec": _spec_bytes(snap, d.ref).hex(),
            }
        )
    return replicas


async def get_deployment(request: web.Request) -> web.Response:
    ref = DeploymentRef(parse_address(request.match_info["contract"]), path_id(request, "wid"))
    with request.app[API].node.store.snapshot() as snap:
        height, _ = head_of(snap)
        view = deployment_view(snap, _deployment(snap, ref))
    return web.json_response(view | {"height": height})


async def get_node_replicas(request: web.Request) -> web.Response:
    node_id = path_id(request, "node")
    with request.app[API].node.store.snapshot() as snap:
        if read_node(snap, node_id) is None:
            raise web.HTTPNotFound(text=f"node {node_id} does not exist")
        height, _ = head_of(snap)
        replicas = replicas_of(snap, node_id)
        last_seen = read_last_seen(snap, node_id)
    return web.json_response(
        {"height": height, "node": node_id, "last_seen": last_seen, "replicas": replicas}
    )


async def get_node_routes(request: web.Request) -> web.Response:
    node_id = path_id(request, "node")
    with request.app[API].node.store.snapshot() as snap:
        node = read_node(snap, node_id)
        if node is None:
            raise web.HTTPNotFound(text=f"node {node_id} does not exist")
        height, _ = head_of(snap)
        routes = routes_of(snap, node_id)
    domain = node.capabilities.gateway or None
    return web.json_response(
        {"height": height, "node": node_id, "domain": domain, "routes": routes}
    )


def add_deployment_routes(app: web.Application) -> None:
    app.router.add_get("/v1/deployments/{contract}/{wid}", get_deployment)
    app.router.add_get("/v1/nodes/{node}/replicas", get_node_replicas)
    app.router.add_get("/v1/nodes/{node}/routes", get_node_routes)
