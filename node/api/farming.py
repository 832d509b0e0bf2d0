"""Farming endpoints: the running epoch with the recent block hashes a farmer answers from,
farms with their nodes, a node's activity this epoch with what it would be paid so far, and a
farm's settled rewards as the blocks carried them; farms and nodes a page at a time (the
explorer's lists), each with what its nodes proved in the last settled epoch and so far in this
one.

Every answer is read from one LevelDB snapshot, so a farmer's view never mixes two blocks.
"""

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
from chain.farming.rules import epoch_rewards, epoch_start, registered_nodes
from chain.farming.txs import MAX_ID
from chain.keys import PUBLIC_KEY_SIZE
from chain.params import PARAM_NAMES, ChainParams
from chain.state import Overlay
from chain.store import Snapshot
from node.api.context import API
from node.api.paths import head_of, path_id

# What a farm node's agent reads of the parameters: the farming ones (the last fields of
# ChainParams, from epoch_blocks on) and billing_period_blocks, how often its deployer bills the
# replicas it runs (without it the agent billed at the default period, not the chain's).
FARMING_PARAMS = (
    "billing_period_blocks",
    *PARAM_NAMES[PARAM_NAMES.index("epoch_blocks") : PARAM_NAMES.index("farm_slash_bp") + 1],
)
MAX_REWARD_EPOCHS = 1000
MAX_LIST_PAGE = 100  # farms or nodes in one answer of the lists


class RewardsSchema(Schema):
    class Meta:
        unknown = RAISE

    epochs = fields.Integer(load_default=10, validate=validate.Range(1, MAX_REWARD_EPOCHS))


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
class EpochFigures:
    """What the nodes proved, read once for a whole answer: the running epoch's reward lines so
    far, and the last settled epoch's as its settling block (the running epoch's first) carried
    them (none on a node that began from a snapshot after that block)."""

    info: EpochInfo | None
    projected: dict[int, NodeReward]
    settled_epoch: int | None
    settled: dict[int, NodeReward]


def epoch_figures(snap: Snapshot, state: Overlay) -> EpochFigures:
    info = read_epoch(state)
    if info is None:
        return EpochFigures(None, {}, None, {})
    projected = {r.node: r for r in epoch_rewards(state, state.params(), info.epoch)}
    if info.epoch == 0 or info.start < snap.base_height():
        return EpochFigures(info, projected, None, {})
    block = present(snap.block_at(info.start), f"block {info.start}, the epoch's first")
    return EpochFigures(info, projected, info.epoch - 1, {r.node: r for r in block.rewards})


def node_status(last_seen: int | None, down: Down | None) -> str:
    """up (heartbeating), down (marked down: silent for node_down_blocks) or unseen (never sent
    a heartbeat)."""
    if down is not None:
        return "down"
    return "unseen" if last_seen is None else "up"


def node_view(
    snap: Snapshot, node: FarmNode, figures: EpochFigures | None = None
) -> dict[str, Any]:
    """The node, when it was last seen and whether it is marked down (since which height), its
    activity in the running epoch and what that epoch would pay it so far, and what the last
    settled epoch paid it."""
    state = Overlay(snap)
    height, _ = head_of(snap)
    figures = figures or epoch_figures(snap, state)
    activity = projected = last = None
    if figures.info is not None:
        activity = activity_view(read_activity(state, node.id, figures.info.epoch))
        if node.id in figures.projected:
            projected = reward_to_json(figures.projected[node.id])
    if node.id in figures.settled:
        last = reward_to_json(figures.settled[node.id])
    last_seen, down = read_last_seen(state, node.id), read_down(state, node.id)
    return node_to_json(node) | {
        "height": height,
        "last_seen": last_seen,
        "down": down_to_json(down),
        "status": node_status(last_seen, down),
        "activity": activity,
        "projected": projected,
        "last_epoch": last,
    }


def totals(epoch: int | None, lines: list[NodeReward]) -> dict[str, int] | None:
    """A farm's nodes' lines of one epoch, summed."""
    if epoch is None:
        return None
    return {
        "epoch": epoch,
        "storage_bytes": sum(r.storage_bytes for r in lines),
        "compute_milli_cores": sum(r.compute_milli_cores for r in lines),
        "amount": sum(r.amount for r in lines),
    }


def farm_row(
    state: Overlay, farm: Farm, nodes: list[FarmNode], figures: EpochFigures
) -> dict[str, Any]:
    """The farm, its nodes by status, and what they proved and earned: so far in the running
    epoch (projected) and in the last settled one."""
    ids = [n.id for n in nodes]
    statuses = [node_status(read_last_seen(state, i), read_down(state, i)) for i in ids]
    running = None if figures.info is None else figures.info.epoch
    projected = [figures.projected[i] for i in ids if i in figures.projected]
    settled = [figures.settled[i] for i in ids if i in figures.settled]
    return farm_to_json(farm) | {
        "node_ids": ids,
        "nodes_up": statuses.count("up"),
        "nodes_down": statuses.count("down"),
        "projected": totals(running, projected),
        "last_epoch": totals(figures.settled_epoch, settled),
    }


def page_end(scanned: int, limit_reached: bool, next_id: int) -> int | None:
    """The `start` of the next page: after the last id looked at, while ids remain."""
    return scanned + 1 if limit_reached and scanned + 1 < next_id else None


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
        state = Overlay(snap)
        farm = read_farm(state, farm_id)
        if farm is None:
            raise web.HTTPNotFound(text=f"farm {farm_id} does not exist")
        node_ids = [n.id for n in registered_nodes(state) if n.farm == farm_id]
    return web.json_response(farm_to_json(farm) | {"node_ids": node_ids})


async def get_node(request: web.Request) -> web.Response:
    node_id = path_id(request, "node")
    with request.app[API].node.store.snapshot() as snap:
        node = read_node(snap, node_id)
        if node is None:
            raise web.HTTPNotFound(text=f"node {node_id} does not exist")
        view = node_view(snap, node)
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
    with request.app[API].node.store.snapshot() as snap:
        node_id = node_id_by_key(snap, public_key)
        node = None if node_id is None else read_node(snap, node_id)
        if node is None:
            raise web.HTTPNotFound(text=f"no node is registered with key {public_key.hex()}")
        view = node_view(snap, node)
    return web.json_response(view)


async def get_farms(request: web.Request) -> web.Response:
    """Farms by id from `start`, at most `limit` ids looked at (removed farms are skipped)."""
    q = PageSchema().load(dict(request.query))
    with request.app[API].node.store.snapshot() as snap:
        height, _ = head_of(snap)
        state = Overlay(snap)
        next_farm, _ = read_counters(state)
        figures = epoch_figures(snap, state)
        by_farm: dict[int, list[FarmNode]] = {}
        for node in registered_nodes(state):
            by_farm.setdefault(node.farm, []).append(node)
        ids = range(q["start"], min(next_farm, q["start"] + q["limit"]))
        rows = []
        for farm_id in ids:
            farm = read_farm(state, farm_id)
            if farm is not None:
                rows.append(farm_row(state, farm, by_farm.get(farm_id, []), figures))
    last = ids[-1] if ids else q["start"]
    return web.json_response(
        {
            "height": height,
            "epoch": epoch_to_json(figures.info),
            "settled_epoch": figures.settled_epoch,
            "farms": rows,
            "next_start": page_end(last, len(ids) == q["limit"], next_farm),
        }
    )


async def get_nodes(request: web.Request) -> web.Response:
    """Nodes by id from `start` (of farm `farm` if given), at most `limit` of them, each with
    its farm's name, its status, this epoch's activity and projection, the last settled epoch's
    line and how many replicas and gateway names it holds."""
    q = NodesSchema().load(dict(request.query))
    with request.app[API].node.store.snapshot() as snap:
        height, _ = head_of(snap)
        state = Overlay(snap)
        _, next_node = read_counters(state)
        figures = epoch_figures(snap, state)
        farms: dict[int, Farm | None] = {}
        rows: list[dict[str, Any]] = []
        node_id = q["start"] - 1
        for node_id in range(q["start"], next_node):
            node = read_node(state, node_id)
            if node is None or q["farm"] not in (None, node.farm):
                continue
            if node.farm not in farms:
                farms[node.farm] = read_farm(state, node.farm)
            farm = farms[node.farm]
            load = read_node_load(state, node_id)
            rows.append(
                node_view(snap, node, figures)
                | {
                    "farm_name": None if farm is None else farm.name,
                    "replicas": len(load.replicas),
                    "routes": len(load.routes),
                }
            )
            if len(rows) == q["limit"]:
                break
    return web.json_response(
        {
            "height": height,
            "epoch": epoch_to_json(figures.info),
            "settled_epoch": figures.settled_epoch,
            "nodes": rows,
            "next_start": page_end(node_id, len(rows) == q["limit"], next_node),
        }
    )


async def get_farm_rewards(request: web.Request) -> web.Response:
    """The last settled epochs' reward lines of the farm's nodes, newest first, as carried by
    each epoch's settling block (the first block of the next epoch); a node that began from a
    snapshot holds those of the epochs settled since (`complete` false when more were asked)."""
    farm_id = path_id(request, "farm")
    count: int = RewardsSchema().load(dict(request.query))["epochs"]
    with request.app[API].node.store.snapshot() as snap:
        state = Overlay(snap)
        if read_farm(state, farm_id) is None:
            raise web.HTTPNotFound(text=f"farm {farm_id} does not exist")
        info = read_epoch(state)
        params = state.params()
        settled = [] if info is None else range(info.epoch - 1, max(-1, info.epoch - 1 - count), -1)
        base = snap.base_height()
        epochs = []
        for epoch in settled:
            height = epoch_start(params, epoch + 1)
            if height < base:
                break  # before the snapshot this node began from: not held
            block = present(snap.block_at(height), f"block {height}, which settled epoch {epoch}")
            lines = [reward_to_json(r) for r in block.rewards if r.farm == farm_id]
            total = sum(line["amount"] for line in lines)
            epochs.append({"epoch": epoch, "height": height, "lines": lines, "total": total})
    complete = len(epochs) == len(settled)
    return web.json_response({"farm": farm_id, "epochs": epochs, "complete": complete})


def add_farming_routes(app: web.Application) -> None:
    app.router.add_get("/v1/farming", get_farming)
    app.router.add_get("/v1/farms", get_farms)
    app.router.add_get("/v1/nodes", get_nodes)
    app.router.add_get("/v1/farms/{farm}", get_farm)
    app.router.add_get("/v1/farms/{farm}/rewards", get_farm_rewards)
    app.router.add_get("/v1/nodes/by-key/{public_key}", get_node_by_key)
    app.router.add_get("/v1/nodes/{node}", get_node)
