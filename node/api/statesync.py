"""The API of a node while it state-syncs (node/statesync/restore.py): its progress at
/v1/status, and for every other route a 503 saying why (the node has no state to answer from
yet). The node's own API (app.py) takes the port over once the state is restored."""

from aiohttp import web

from chain.genesis_state import GenesisState, genesis_hash
from node.api.app import error_response
from node.statesync.restore import Progress


class SyncingContext:
    def __init__(self, genesis: GenesisState, progress: Progress) -> None:
        self.genesis = genesis
        self.progress = progress


SYNCING = web.AppKey("syncing", SyncingContext)


async def get_status(request: web.Request) -> web.Response:
    context = request.app[SYNCING]
    return web.json_response(
        {
            "chain_id": context.genesis.chain_id,
            "genesis_hash": genesis_hash(context.genesis).hex(),
            "height": 0,
            "state_sync": context.progress.to_json(),
        }
    )


async def busy(request: web.Request) -> web.Response:
    progress = request.app[SYNCING].progress
    return error_response(
        503,
        "state_syncing",
        f"this node is starting from a snapshot ({progress.phase}); ask again once it is done",
    )


def make_syncing_app(genesis: GenesisState, progress: Progress) -> web.Application:
    app = web.Application()
    app[SYNCING] = SyncingContext(genesis, progress)
    app.router.add_get("/v1/status", get_status)
    app.router.add_route("*", "/{tail:.*}", busy)
    return app
