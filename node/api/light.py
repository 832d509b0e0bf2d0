"""Light client endpoints: a height's light block (header, the set that signed it, its
certificate) in canonical bytes, which a light client checks with nothing but what it already
trusts (chain/light/verify.py)."""

from aiohttp import web

from chain.blocks.commit import commit_to_json
from chain.blocks.header import header_to_json
from chain.errors import RuleViolation
from chain.light.blocks import encode_light_block, light_block_at
from chain.store import Snapshot
from node.api.context import API


def _height(snap: Snapshot, ref: str) -> int:
    if ref == "latest":
        head = snap.head()
        return 0 if head is None else head.height
    if ref.isdigit() and len(ref) < 20:
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


def add_light_routes(app: web.Application) -> None:
    app.router.add_get("/v1/light/{ref}", get_light_block)
