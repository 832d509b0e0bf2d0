"""State sync endpoints: the snapshots this node keeps, for nodes that join late.

Manifests, chunks and the snapshot's block are served in their canonical bytes
(application/cbor): the joining node checks every byte against a header its light client
verified (chain/snapshot/), so nothing here needs trust.
"""

import asyncio

from aiohttp import web

from chain.blocks.header import MAX_HEIGHT
from chain.errors import RuleViolation
from chain.snapshot.manifest import (
    EARLIER_HEADERS,
    MAX_BITS,
    Manifest,
    decode_manifest,
    encode_headers,
)
from chain.store import ChainReads
from node.api.context import API
from node.api.paths import path_int
from node.statesync.snapshots import SnapshotDir

CBOR = "application/cbor"


def _directory(request: web.Request) -> SnapshotDir | None:
    maker = request.app[API].node.snapshots
    return None if maker is None else maker.directory


def _manifests(directory: SnapshotDir) -> list[Manifest]:
    found = []
    for height in directory.heights():
        raw = directory.manifest(height)
        if raw is None:
            continue  # pruned meanwhile
        try:
            found.append(decode_manifest(raw))
        except RuleViolation:
            continue  # not ours to serve: the maker never writes one that does not decode
    return found


async def list_snapshots(request: web.Request) -> web.Response:
    directory = _directory(request)
    manifests = [] if directory is None else await asyncio.to_thread(_manifests, directory)
    return web.json_response(
        {
            "snapshots": [
                {
                    "height": m.height,
                    "hash": m.hash.hex(),
                    "state_root": m.state_root.hex(),
                    "bits": m.bits,
                    "chunks": len(m.chunks),
                    "records": m.records,
                }
                for m in manifests
            ]
        }
    )


def _cbor(data: bytes | None, what: str) -> web.Response:
    if data is None:
        raise web.HTTPNotFound(text=f"no {what}")
    return web.Response(body=data, content_type=CBOR)


async def get_manifest(request: web.Request) -> web.Response:
    height = path_int(request, "height", 0, MAX_HEIGHT)
    directory = _directory(request)
    raw = None if directory is None else await asyncio.to_thread(directory.manifest, height)
    return _cbor(raw, f"snapshot of height {height}")


async def get_chunk(request: web.Request) -> web.Response:
    height = path_int(request, "height", 0, MAX_HEIGHT)
    index = path_int(request, "index", 0, (1 << MAX_BITS) - 1)
    directory = _directory(request)
    raw = None if directory is None else await asyncio.to_thread(directory.chunk, height, index)
    return _cbor(raw, f"chunk {index} of a snapshot of height {height}")


async def get_snapshot_block(request: web.Request) -> web.Response:
    """The block a snapshot is the state after (a joining node starts with it as its head)."""
    height = path_int(request, "height", 0, MAX_HEIGHT)
    directory = _directory(request)
    raw = None
    if directory is not None and height in await asyncio.to_thread(directory.heights):
        store = request.app[API].node.store
        block_hash = store.block_hash_at(height)
        if block_hash is not None:
            raw = await asyncio.to_thread(store.block_bytes, block_hash)
    return _cbor(raw, f"snapshot of height {height}")


async def get_earlier_headers(request: web.Request) -> web.Response:
    """The headers of the EARLIER_HEADERS blocks before a snapshot's, oldest first: a joining
    node checks them as a chain ending at the snapshot's verified header, for the hashes the
    proposer election reads."""
    height = path_int(request, "height", 0, MAX_HEIGHT)
    directory = _directory(request)
    raw = None
    if directory is not None and height in await asyncio.to_thread(directory.heights):
        raw = await asyncio.to_thread(_earlier_headers, request.app[API].node.store, height)
    return _cbor(raw, f"headers before a snapshot of height {height}")


def _earlier_headers(store: ChainReads, height: int) -> bytes | None:
    blocks = [store.block_at(h) for h in range(max(0, height - EARLIER_HEADERS), height)]
    if any(block is None for block in blocks):
        return None  # a node that began from a snapshot less than 256 blocks before
    return encode_headers([block.header for block in blocks if block is not None])


def add_snapshot_routes(app: web.Application) -> None:
    app.router.add_get("/v1/snapshots", list_snapshots)
    app.router.add_get("/v1/snapshots/{height}/manifest", get_manifest)
    app.router.add_get("/v1/snapshots/{height}/chunks/{index}", get_chunk)
    app.router.add_get("/v1/snapshots/{height}/block", get_snapshot_block)
    app.router.add_get("/v1/snapshots/{height}/headers", get_earlier_headers)
