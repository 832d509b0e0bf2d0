"""Serving the explorer (node/explorer/): /explorer/ is the built app's index page, every other
file under it comes from web/dist/ as it is. A checkout whose app was never built answers with
a JSON error that says how to build it, not a bare 404."""

from aiohttp import web

from chain.errors import GridchainError
from node.explorer import DIST, explorer_built

PREFIX = "/explorer"


class ExplorerNotBuilt(GridchainError):
    code = "explorer_not_built"


async def explorer_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


async def explorer_index(request: web.Request) -> web.StreamResponse:
    if not explorer_built(DIST):
        raise ExplorerNotBuilt(
            f"the explorer is not built in {DIST}: run `make install` "
            "(npm ci and npm run build in node/explorer/web)"
        )
    return web.FileResponse(DIST / "index.html", headers={"Cache-Control": "no-cache"})


async def explorer_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (DIST / name).resolve()
    if not path.is_relative_to(DIST.resolve()) or not path.is_file():
        raise web.HTTPNotFound(text=f"the explorer has no file {name!r}")
    return web.FileResponse(path)


def add_explorer_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX, explorer_root)
    app.router.add_get(f"{PREFIX}/", explorer_index)
    app.router.add_get(PREFIX + "/{name:.+}", explorer_file)
