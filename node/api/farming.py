"""Farming endpoints: the running epoch with the recent block hashes a farmer answers from,
farms with their nodes, a node's activity this epoch with what it would be paid so far, and a
farm's settled rewards as the blocks carried them; farms and nodes a page at a time (the
explorer's lists), each with what its nodes proved in the last settled epoch and so far in this
one.

Every answer is read from one LevelDB snapshot, so a farmer's view never mixes two blocks, and
in a worker thread (asyncio.to_thread), off the event loop consensus runs on. No answer reads
every node: a node's projection is worked out for it alone (what epoch_rewards would give it),
the last settled epoch's lines come from its settling block's rewards, read once per block
without its transactions (node/api/settled.py), and /v1/nodes looks at MAX_NODE_SCAN ids at
most. The state keeps no list of a farm's nodes (chain/farming/index.py lists them by
capability and place), so /v1/farms shows what the farm records and the settling block hold;
its nodes' statuses and projections are /v1/nodes's (`farm=` pages through one farm's).
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.deployment.records import read_node_load
from chain.errors import present
from chain.farming.liveness import Down, down_to_json, read_down
from chain.farming.records import (
    NO_EPOCH,
    Activity,
    EpochInfo,
    Farm,
    FarmNode,
    activity_to_json,
    farm_to_json,
    node_id_by_key,
    node_to_json,
    read_activity,
    read_counters,
    read_epoch,
    read_farm,
    read_last_seen,
    read_node,
    read_recent_hashes,
)
from chain.farming.rewards import NodeReward, reward_to_json
from chain.farming.rules import epoch_start, node_reward, registered_nodes
from chain.farming.txs import MAX_ID
from chain.keys import PUBLIC_KEY_SIZE
from chain.params import PARAM_NAMES, ChainParams
from chain.state import Overlay
from chain.store import Snapshot
from node.api.context import API
from node.api.paths import head_of, path_id
from node.api.settled import Settled, SettledLines

# What a farm node's agent reads of the parameters: the farming ones (the last fields of
# ChainParams, from epoch_blocks on) and billing_period_blocks, how often its deployer bills the
# replicas it runs (without it the agent billed at the default period, not the chain's).
FARMING_PARAMS = (
    "billing_period_blocks",
    *PARAM_NAMES[PARAM_NAMES.index("epoch_blocks") : PARAM_NAMES.index("farm_slash_bp") + 1],
)
MAX_REWARD_EPOCHS = 1000
MAX_LIST_PAGE = 100  # farms or nodes in one answer of the lists
# Node ids one answer of /v1/nodes looks at: a farm's nodes are spread among every farm's, so a
# page of one farm's may hold fewer than `limit` (or none) while `next_start` goes on.
MAX_NODE_SCAN = 1000


class RewardsSchema(Schema):
    class Meta:
        unknown = RAISE

    epochs = fields.Integer(load_default=10, validate=validate.Range(1, MAX_REWARD_EPOCHS))


class NodeSchema(Schema):
    class Meta:
        unknown = RAISE

    # The last settled epoch's line too (`last_epoch`): a farmer's agent polling its node
    # never reads it, so it is left out unless asked for.
    settled = fields.Boolean(load_default=False)


class PageSchema(Schema):
    class Meta:
        unknown = RAISE

    start = fields.Integer(load_default=1, validate=validate.Range(1, MAX_ID - 1))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIST_PAGE))


class NodesSchema(PageSchema):
    farm = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, MAX_ID - 1)
    )


def epoch_to_json(info: EpochInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"epoch": info.epoch, "start": info.start, "seed": info.seed.hex()}


def farming_params_to_json(params: ChainParams) -> dict[str, int]:
    return {name: getattr(params, name) for name in FARMING_PARAMS}


def activity_view(activity: Activity) -> dict[str, Any]:
    """activity_to_json with what a restarted farmer needs to carry on: its last slot."""
    last_slot = None if activity.last_slot == NO_EPOCH else activity.last_slot
    return activity_to_json(activity) | {"last_slot": last_slot, "root": activity.root.hex()}


@dataclass(frozen=True)
class Figures:
    """What an answer reads once for all its rows: the head's height, the running epoch and the
    parameters (each node's projection is worked out from them) and, when asked for
    (`with_settled`), the last settled epoch's lines as its settling block (the running epoch's
    first) carried them: none on a node that began from a snapshot after that block."""

    height: int
    info: EpochInfo | None
    params: ChainParams
    with_settled: bool
    settled_epoch: int | None = None
    settled: Settled | None = None


def figures_of(snap: Snapshot, state: Overlay, settled: SettledLines | None) -> Figures:
    """The answer's figures; `settled` None: the last settled epoch's lines are not asked for."""
    height, _ = head_of(snap)
    info, params = read_epoch(state), state.params()
    if settled is None or info is None or info.epoch == 0:
        return Figures(height, info, params, settled is not None)
    lines = settled.at(snap, info.start, f"the first of epoch {info.epoch}")
    epoch = None if lines is None else info.epoch - 1
    return Figures(height, info, params, True, epoch, lines)


def projected_line(
    params: ChainParams, node: FarmNode, farm: Farm, activity: Activity
) -> NodeReward | None:
    """What the running epoch would pay the node so far: its line of epoch_rewards (none for a
    node that has done nothing yet), worked out for it alone, not for every registered node."""
    if activity == Activity(activity.epoch):
        return None
    return node_reward(params, node, farm, activity, activity.epoch)


def node_status(last_seen: int | None, down: Down | None) -> str:
    """up (heartbeating), down (marked down: silent for node_down_blocks) or unseen (never sent
    a heartbeat)."""
    if down is not None:
        return "down"
    return "unseen" if last_seen is None else "up"


def node_view(state: Overlay, node: FarmNode, farm: Farm, at: Figures) -> dict[str, Any]:
    """The node, when it was last seen and whether it is marked down (since which height), its
    activity in the running epoch and what that epoch would pay it so far, and (when asked for)
    what the last settled epoch paid it."""
    activity = projected = None
    if at.info is not None:
        current = read_activity(state, node.id, at.info.epoch)
        activity = activity_view(current)
        line = projected_line(at.params, node, farm, current)
        projected = None if line is None else reward_to_json(line)
    last_seen, down = read_last_seen(state, node.id), read_down(state, node.id)
    view = node_to_json(node) | {
        "height": at.height,
        "last_seen": last_seen,
        "down": down_to_json(down),
        "status": node_status(last_seen, down),
        "activity": activity,
        "projected": projected,
    }
    if at.with_settled:
        paid = None if at.settled is None else at.settled.by_node.get(node.id)
        view["last_epoch"] = None if paid is None else reward_to_json(paid)
    return view


def node_answer(
    snap: Snapshot, ref: int | bytes, settled: SettledLines | None
) -> dict[str, Any] | None:
    """GET /v1/nodes/{id} of the node with id (or public key) `ref`; None if there is none."""
    state = Overlay(snap)
    node_id = node_id_by_key(state, ref) if isinstance(ref, bytes) else ref
    node = None if node_id is None else read_node(state, node_id)
    if node is None:
        return None
    farm = present(read_farm(state, node.farm), f"farm {node.farm} of node {node.id}")
    return node_view(state, node, farm, figures_of(snap, state, settled))


def totals(epoch: int | None, lines: tuple[NodeReward, ...]) -> dict[str, int] | None:
    """A farm's nodes' lines of one epoch, summed."""
    if epoch is None:
        return None
    return {
        "epoch": epoch,
        "storage_bytes": sum(r.storage_bytes for r in lines),
        "compute_milli_cores": sum(r.compute_milli_cores for r in lines),
        "amount": sum(r.amount for r in lines),
    }


def farm_row(farm: Farm, at: Figures) -> dict[str, Any]:
    """The farm (`nodes`: how many it has) and what the last settled epoch paid it, summed over
    the lines of its nodes the settling block carried."""
    lines = () if at.settled is None else at.settled.by_farm.get(farm.id, ())
    return farm_to_json(farm) | {"last_epoch": totals(at.settled_epoch, lines)}


def next_start(last: int | None, next_id: int) -> int | None:
    """The `start` of the next page: after the last id looked at, while ids remain."""
    return None if last is None or last + 1 >= next_id else last + 1


def farm_answer(snap: Snapshot, farm_id: int) -> dict[str, Any] | None:
    """GET /v1/farms/{id}: the farm and its node ids (the scan ends at its last node)."""
    state = Overlay(snap)
    farm = read_farm(state, farm_id)
    if farm is None:
        return None
    node_ids: list[int] = []
    if farm.nodes:
        for node in registered_nodes(state):
            if node.farm == farm_id:
                node_ids.append(node.id)
                if len(node_ids) == farm.nodes:
                    break
    return farm_to_json(farm) | {"node_ids": node_ids}


def farms_page(snap: Snapshot, start: int, limit: int, settled: SettledLines) -> dict[str, Any]:
    """Farms by id from `start`, `limit` ids looked at (removed farms are skipped)."""
    state = Overlay(snap)
    at = figures_of(snap, state, settled)
    next_farm, _ = read_counters(state)
    rows = []
    last = None
    for farm_id in range(start, min(next_farm, start + limit)):
        last = farm_id
        farm = read_farm(state, farm_id)
        if farm is not None:
            rows.append(farm_row(farm, at))
    return {
        "height": at.height,
        "epoch": epoch_to_json(at.info),
        "settled_epoch": at.settled_epoch,
        "farms": rows,
        "next_start": next_start(last, next_farm),
    }


def nodes_page(
    snap: Snapshot, start: int, limit: int, farm_id: int | None, settled: SettledLines
) -> dict[str, Any]:
    """Nodes by id from `start` (of farm `farm_id` if given), at most `limit` of them and
    MAX_NODE_SCAN ids looked at, each with its farm's name, its status, this epoch's activity
    and projection, the last settled epoch's line and how many replicas and gateway names it
    holds."""
    state = Overlay(snap)
    at = figures_of(snap, state, settled)
    _, next_node = read_counters(state)
    farms: dict[int, Farm] = {}
    rows: list[dict[str, Any]] = []
    last = None
    for node_id in range(start, min(next_node, start + MAX_NODE_SCAN)):
        last = node_id
        node = read_node(state, node_id)
        if node is None or farm_id not in (None, node.farm):
            continue
        if node.farm not in farms:
            what = f"farm {node.farm} of node {node.id}"
            farms[node.farm] = present(read_farm(state, node.farm), what)
        farm = farms[node.farm]
        load = read_node_load(state, node_id)
        rows.append(
            node_view(state, node, farm, at)
            | {"farm_name": farm.name, "replicas": len(load.replicas), "routes": len(load.routes)}
        )
        if len(rows) == limit:
            break
    return {
        "height": at.height,
        "epoch": epoch_to_json(at.info),
        "settled_epoch": at.settled_epoch,
        "nodes": rows,
        "next_start": next_start(last, next_node),
    }


def farm_rewards(
    snap: Snapshot, farm_id: int, count: int, settled: SettledLines
) -> dict[str, Any] | None:
    """The farm's lines of the last `count` settled epochs (None: no such farm)."""
    state = Overlay(snap)
    if read_farm(state, farm_id) is None:
        return None
    info = read_epoch(state)
    params = state.params()
    wanted = [] if info is None else range(info.epoch - 1, max(-1, info.epoch - 1 - count), -1)
    epochs = []
    for epoch in wanted:
        height = epoch_start(params, epoch + 1)
        block = settled.at(snap, height, f"which settled epoch {epoch}")
        if block is None:
            break  # before the snapshot this node began from: not held
        lines = [reward_to_json(r) for r in block.by_farm.get(farm_id, ())]
        total = sum(line["amount"] for line in lines)
        epochs.append({"epoch": epoch, "height": height, "lines": lines, "total": total})
    return {"farm": farm_id, "epochs": epochs, "complete": len(epochs) == len(wanted)}


# Handlers


async def get_farming(request: web.Request) -> web.Response:
    with request.app[API].node.store.snapshot() as snap:
        height, head_hash = head_of(snap)
        state = Overlay(snap)
        info = read_epoch(state)
        recent = [*read_recent_hashes(state), (height, head_hash)]
        params = state.params()
        next_farm, next_node = read_counters(state)
    return web.json_response(
        {
            "height": height,
            "head_hash": head_hash.hex(),
            "epoch": epoch_to_json(info),
            "recent_hashes": [[h, block_hash.hex()] for h, block_hash in recent],
            "params": farming_params_to_json(params),
            "next_farm": next_farm,
            "next_node": next_node,
        }
    )


async def get_farm(request: web.Request) -> web.Response:
    farm_id = path_id(request, "farm")
    with request.app[API].node.store.snapshot() as snap:
        view = await asyncio.to_thread(farm_answer, snap, farm_id)
    if view is None:
        raise web.HTTPNotFound(text=f"farm {farm_id} does not exist")
    return web.json_response(view)


async def node_of(request: web.Request, ref: int | bytes) -> dict[str, Any] | None:
    """The node `ref` names, with the last settled epoch's line if `settled` is asked for."""
    query = NodeSchema().load(dict(request.query))
    context = request.app[API]
    settled = context.settled if query["settled"] else None
    with context.node.store.snapshot() as snap:
        return await asyncio.to_thread(node_answer, snap, ref, settled)


async def get_node(request: web.Request) -> web.Response:
    node_id = path_id(request, "node")
    view = await node_of(request, node_id)
    if view is None:
        raise web.HTTPNotFound(text=f"node {node_id} does not exist")
    return web.json_response(view)


async def get_node_by_key(request: web.Request) -> web.Response:
    text = request.match_info["public_key"]
    try:
        public_key = bytes.fromhex(text)
    except ValueError:
        public_key = b""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise web.HTTPBadRequest(
            text=f"a node key is {2 * PUBLIC_KEY_SIZE} hex characters, not {text[:80]!r}"
        )
    view = await node_of(request, public_key)
    if view is None:
        raise web.HTTPNotFound(text=f"no node is registered with key {public_key.hex()}")
    return web.json_response(view)


async def get_farms(request: web.Request) -> web.Response:
    q = PageSchema().load(dict(request.query))
    context = request.app[API]
    with context.node.store.snapshot() as snap:
        page = await asyncio.to_thread(farms_page, snap, q["start"], q["limit"], context.settled)
    return web.json_response(page)


async def get_nodes(request: web.Request) -> web.Response:
    q = NodesSchema().load(dict(request.query))
    context = request.app[API]
    with context.node.store.snapshot() as snap:
        page = await asyncio.to_thread(
            nodes_page, snap, q["start"], q["limit"], q["farm"], context.settled
        )
    return web.json_response(page)


async def get_farm_rewards(request: web.Request) -> web.Response:
    """The last settled epochs' reward lines of the farm's nodes, newest first, as carried by
    each epoch's settling block (the first block of the next epoch); a node that began from a
    snapshot holds those of the epochs settled since (`complete` false when more were asked)."""
    farm_id = path_id(request, "farm")
    count: int = RewardsSchema().load(dict(request.query))["epochs"]
    context = request.app[API]
    with context.node.store.snapshot() as snap:
        answer = await asyncio.to_thread(farm_rewards, snap, farm_id, count, context.settled)
    if answer is None:
        raise web.HTTPNotFound(text=f"farm {farm_id} does not exist")
    return web.json_response(answer)


def add_farming_routes(app: web.Application) -> None:
    app.router.add_get("/v1/farming", get_farming)
    app.router.add_get("/v1/farms", get_farms)
    app.router.add_get("/v1/nodes", get_nodes)
    app.router.add_get("/v1/farms/{farm}", get_farm)
    app.router.add_get("/v1/farms/{farm}/rewards", get_farm_rewards)
    app.router.add_get("/v1/nodes/by-key/{public_key}", get_node_by_key)
    app.router.add_get("/v1/nodes/{node}", get_node)
