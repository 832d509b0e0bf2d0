"""What every API handler reads: the node, and consensus when the node runs it.

One typed key for the whole application (aiohttp's AppKey), set once by the factory in app.py;
route modules read it and never store anything of their own on the app.
"""

from dataclasses import dataclass

from aiohttp import web

from node.consensus.wiring import Consensus
from node.service import NodeService


@dataclass(frozen=True)
class ApiContext:
    node: NodeService
    consensus: Consensus | None  # None where tests drive block production themselves


API = web.AppKey("api", ApiContext)
