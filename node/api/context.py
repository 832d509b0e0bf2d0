"""What every API handler reads: the node, and consensus when the node runs it.

One typed key for the whole application (aiohttp's AppKey), set once by the factory in app.py;
route modules read it and never store anything of their own on the app.
"""

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from node.api.settled import SettledLines
from node.consensus.wiring import Consensus
from node.service import NodeService


@dataclass(frozen=True)
class ApiContext:
    node: NodeService
    consensus: Consensus | None  # None where tests drive block production themselves
    # One light path computed at a time: each is pairing checks and block reads in a thread,
    # and a node must not be made to run many at once by anyone who can reach its API.
    light_paths: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The reward lines of the settling blocks read last (the farm and node lists read the
    # latest for every answer of an epoch): read once a block, not once a request.
    settled: SettledLines = field(default_factory=SettledLines)


API = web.AppKey("api", ApiContext)
