"""What several API modules read from a request's path or their snapshot: an integer id, and
the head the answer is read at."""

from aiohttp import web

from chain.errors import present
from chain.farming.txs import MAX_ID
from chain.store import Snapshot


def path_int(request: web.Request, name: str, low: int, high: int, what: str = "") -> int:
    """The path's integer `name` in [low, high], or a 400 that says so."""
    text = request.match_info[name]
    digits = len(str(high))
    if not (text.isascii() and text.isdigit() and len(text) <= digits and low <= int(text) <= high):
        raise web.HTTPBadRequest(
            text=f"{what or name} {text[:80]!r} is not an integer {low}..{high}"
        )
    return int(text)


def path_id(request: web.Request, name: str) -> int:
    return path_int(request, name, 1, MAX_ID - 1, f"{name} id")


def head_of(snap: Snapshot) -> tuple[int, bytes]:
    head = present(snap.head(), "the head record (a store holds at least its genesis)")
    return head.height, head.block_hash
