"""The recent blocks, newest first, a page at a time: each one's header with its transaction
count and size, read without decoding its transactions (a full block of transfers takes
seconds to decode; its header, microseconds): the block's bytes are stepped over to the header
by their CBOR heads (chain/blocks/block.py stored_block_header).

A page is the heights below `before` (default: above the head), at most `limit` of them, never
below the first height this node holds (a node that began from a snapshot holds none before),
and ends early once it has read MAX_PAGE_BYTES of blocks (a full block is tens of megabytes):
`next_before` goes on from its last block. Blocks are read in a worker thread, off the event
loop consensus runs on."""

import asyncio
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.blocks.block import stored_block_header
from chain.blocks.header import MAX_HEIGHT, header_to_json
from chain.store import Snapshot
from node.api.context import API
from node.api.paths import head_of

MAX_BLOCKS_PAGE = 100
MAX_PAGE_BYTES = 16 * 1024 * 1024  # blocks read for one page: at least one, then no more


class BlocksSchema(Schema):
    class Meta:
        unknown = RAISE

    before = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(0, MAX_HEIGHT)
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_BLOCKS_PAGE))


def block_summary(raw: bytes) -> dict[str, Any]:
    return header_to_json(stored_block_header(raw)) | {"size": len(raw)}


def blocks_page(snap: Snapshot, before: int | None, limit: int) -> dict[str, Any]:
    height, _ = head_of(snap)
    base = snap.base_height()
    top = height + 1 if before is None else min(before, height + 1)
    blocks: list[dict[str, Any]] = []
    read = 0
    for h in range(top - 1, max(base, top - limit) - 1, -1):
        block_hash = snap.block_hash_at(h)
        raw = None if block_hash is None else snap.block_bytes(block_hash)
        if raw is None:
            continue
        blocks.append(block_summary(raw))
        read += len(raw)
        if read >= MAX_PAGE_BYTES:
            break
    lowest = blocks[-1]["height"] if blocks else top
    return {
        "height": height,
        "base_height": base,
        "blocks": blocks,
        "next_before": lowest if lowest > base else None,
    }


async def get_blocks(request: web.Request) -> web.Response:
    query = BlocksSchema().load(dict(request.query))
    with request.app[API].node.store.snapshot() as snap:
        page = await asyncio.to_thread(blocks_page, snap, query["before"], query["limit"])
    return web.json_response(page)


def add_block_list_routes(app: web.Application) -> None:
    app.router.add_get("/v1/blocks", get_blocks)
