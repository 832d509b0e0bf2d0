"""Light client endpoints: a height's light block (header, the set that signed it, its
certificate) in canonical bytes, which a light client checks with nothing but what it already
trusts (chain/light/verify.py)."""

import asyncio

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.blocks.commit import commit_to_json
from chain.blocks.header import MAX_HEIGHT, header_to_json
from chain.errors import RuleViolation
from chain.light.blocks import LightBlock, encode_light_block, light_block_at
from chain.light.verify import verify_to
from chain.store import Snapshot
from node.api.context import API


def _height(snap: Snapshot, ref: str) -> int:
    if ref == "latest":
        head = snap.head()
        return 0 if head is None else head.height
    if ref.isascii() and ref.isdigit() and len(ref) < 20:  # "²" is a digit int() refuses
        return int(ref)
    raise RuleViolation(f"{ref!r} is neither a height nor 'latest'")


async def get_light_block(request: web.Request) -> web.Response:
    node = request.app[API].node
    ref = request.match_info["ref"]
    with node.store.snapshot() as snap:
        height = _height(snap, ref)
        block = light_block_at(snap, height)
    if block is None:
        raise web.HTTPNotFound(text=f"no block at height {height}")
    return web.json_response(
        {
            "height": block.height,
            "light_block": encode_light_block(block).hex(),
            "header": header_to_json(block.header),
            "commit": None
            if block.commit is None
            else commit_to_json(block.commit, block.validators),
        }
    )


class PathSchema(Schema):
    class Meta:
        unknown = RAISE

    from_height = fields.Integer(
        data_key="from", load_default=0, validate=validate.Range(min=0, max=MAX_HEIGHT)
    )
    to = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_HEIGHT))


MAX_PATH_BLOCKS = 1_000  # light blocks in one answer; a client asks again from the last


def light_path(snap: Snapshot, chain_id: str, start: int, target: int) -> list[LightBlock]:
    """The light blocks a client trusting height `start` verifies to reach `target`: as few
    as the validator set's changes allow (chain/light/verify.py's bisection, run here on the
    node's own blocks), at most MAX_PATH_BLOCKS of them."""
    if target < start:
        raise RuleViolation(f"to ({target}) is below from ({start})")
    trusted = light_block_at(snap, start)
    if trusted is None or light_block_at(snap, target) is None:
        raise web.HTTPNotFound(text=f"no block at height {max(start, target)}")

    def fetch(height: int) -> LightBlock:
        block = light_block_at(snap, height)
        assert block is not None  # every height up to target is stored
        return block

    path: list[LightBlock] = []
    verify_to(chain_id, trusted, target, fetch, path.append, MAX_PATH_BLOCKS)
    return path


async def get_light_path(request: web.Request) -> web.Response:
    query = PathSchema().load(dict(request.query))
    node = request.app[API].node
    start, target = query["from_height"], query["to"]
    async with request.app[API].light_paths:
        with node.store.snapshot() as snap:
            path = await asyncio.to_thread(light_path, snap, node.chain_id, start, target)
    reached = path[-1].height if path else start
    return web.json_response(
        {
            "from": start,
            "to": target,
            "reached": reached,
            "complete": reached == target,
            "heights": [block.height for block in path],
            "light_blocks": [encode_light_block(block).hex() for block in path],
        }
    )


def add_light_routes(app: web.Application) -> None:
    app.router.add_get("/v1/light/path", get_light_path)
    app.router.add_get("/v1/light/{ref}", get_light_block)
