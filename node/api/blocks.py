"""The recent blocks, newest first, a page at a time: each one's header with its transaction
count and size, read without decoding its transactions (a full block of transfers takes
seconds to decode; its header, microseconds).

A page is the heights below `before` (default: above the head), at most `limit` of them, never
below the first height this node holds (a node that began from a snapshot holds none before)."""

from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from chain.blocks.header import MAX_HEIGHT, Header, header_from_value, header_to_json
from chain.encoding import decode_stored, expect_map, stored_record
from chain.store import Snapshot
from node.api.context import API
from node.api.paths import head_of

MAX_BLOCKS_PAGE = 100
BLOCK_FIELDS = ("header", "txs", "last_commit", "evidence", "rewards")  # chain/blocks/block.py


class BlocksSchema(Schema):
    class Meta:
        unknown = RAISE

    before = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(0, MAX_HEIGHT)
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_BLOCKS_PAGE))


@stored_record("block header")
def header_of(raw: bytes) -> Header:
    """The header of a stored block's bytes, its transactions left undecoded."""
    fields = expect_map(decode_stored(raw), "block", BLOCK_FIELDS)
    return header_from_value(fields["header"])


def block_summary(snap: Snapshot, height: int) -> dict[str, Any] | None:
    block_hash = snap.block_hash_at(height)
    raw = None if block_hash is None else snap.block_bytes(block_hash)
    if raw is None:
        return None
    return header_to_json(header_of(raw)) | {"size": len(raw)}


async def get_blocks(request: web.Request) -> web.Response:
    query = BlocksSchema().load(dict(request.query))
    with request.app[API].node.store.snapshot() as snap:
        height, _ = head_of(snap)
        base = snap.base_height()
        top = height + 1 if query["before"] is None else min(query["before"], height + 1)
        heights = range(top - 1, max(base, top - query["limit"]) - 1, -1)
        found = [block_summary(snap, h) for h in heights]
    blocks = [b for b in found if b is not None]
    lowest = blocks[-1]["height"] if blocks else top
    return web.json_response(
        {
            "height": height,
            "base_height": base,
            "blocks": blocks,
            "next_before": lowest if lowest > base else None,
        }
    )


def add_block_list_routes(app: web.Application) -> None:
    app.router.add_get("/v1/blocks", get_blocks)
