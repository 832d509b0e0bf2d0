"""Farming endpoints: the running epoch with the recent block hashes a farmer answers from,
farms with their nodes, a node's activity this epoch with what it would be paid so far, and a
farm's settled rewards as the blocks carried them.

Every answer is read from one LevelDB snapshot, so a farmer's view never mixes two blocks.
"""

from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.errors import present
from chain.farming.liveness import down_to_json, read_down
from chain.farming.records import (
    NO_EPOCH,
    Activity,
    EpochInfo,
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
from chain.farming.rewards import reward_to_json
from chain.farming.rules import epoch_rewards, epoch_start, registered_nodes
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


class RewardsSchema(Schema):
    class Meta:
        unknown = RAISE

    epochs = fields.Integer(load_default=10, validate=validate.Range(1, MAX_REWARD_EPOCHS))


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


def node_view(snap: Snapshot, node: FarmNode) -> dict[str, Any]:
    """The node, when it was last seen and whether it is marked down (since which height), its
    activity in the running epoch and what that epoch would pay it so far."""
    state = Overlay(snap)
    height, _ = head_of(snap)
    info = read_epoch(state)
    activity = projected = None
    if info is not None:
        activity = activity_view(read_activity(state, node.id, info.epoch))
        lines = epoch_rewards(state, state.params(), info.epoch)
        projected = next((reward_to_json(r) for r in lines if r.node == node.id), None)
    return node_to_json(node) | {
        "height": height,
        "last_seen": read_last_seen(state, node.id),
        "down": down_to_json(read_down(state, node.id)),
        "activity": activity,
        "projected": projected,
    }


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
    app.router.add_get("/v1/farms/{farm}", get_farm)
    app.router.add_get("/v1/farms/{farm}/rewards", get_farm_rewards)
    app.router.add_get("/v1/nodes/by-key/{public_key}", get_node_by_key)
    app.router.add_get("/v1/nodes/{node}", get_node)
