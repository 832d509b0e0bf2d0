"""What several API modules read from a request's path or their snapshot: an integer id, and
the head the answer is read at."""

from aiohttp import web

from chain.errors import present
from chain.farming.txs import MAX_ID
from chain.store import Snapshot


def path_id(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) < MAX_ID):
        raise web.HTTPBadRequest(text=f"{name} id {text[:80]!r} is not an integer 1..{MAX_ID - 1}")
    return int(text)


def head_of(snap: Snapshot) -> tuple[int, bytes]:
    head = present(snap.head(), "the head record (a store holds at least its genesis)")
    return head.height, head.block_hash
