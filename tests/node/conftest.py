"""The node's HTTP API in-process: a real node over a real LevelDB behind aiohttp's test client."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.api.app import make_app
from node.server import build_node
from node.service import NodeService
from tests.kit.support import NodeHome, make_home


@pytest.fixture
def genesis_params() -> dict[str, int] | None:
    """Genesis parameters of the `api` node beyond make_home's; a module overrides this."""
    return None


@pytest.fixture
async def api(
    tmp_path: Path, genesis_params: dict[str, int] | None
) -> AsyncIterator[tuple[TestClient[Any, Any], NodeService, NodeHome]]:
    th = make_home(tmp_path / "home", genesis_params)
    node = build_node(th.home)
    client = TestClient(TestServer(make_app(node)))
    await client.start_server()
    try:
        yield client, node, th
    finally:
        await client.close()
