"""The web explorer: a static single-page app (web/, built by `make install` with npm and
esbuild into web/dist/) that a node serves at /explorer/ over its own HTTP API
(node/api/explorer.py), so seeing the grid needs no second server."""

from pathlib import Path

DIST = Path(__file__).parent / "web" / "dist"


def explorer_built(dist: Path = DIST) -> bool:
    """The build's index page and bundle are both there."""
    return (dist / "index.html").is_file() and (dist / "app.js").is_file()
