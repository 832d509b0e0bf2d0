"""The API of a node while it starts from a snapshot: its progress at /v1/status (and in
`gridchain status`), every other route a 503 that says why, over a real socket."""

import asyncio
import json

import aiohttp
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from node.api.statesync import make_syncing_app
from node.cli.main import cli
from node.statesync.restore import Progress
from tests.kit.chainkit import make_genesis


async def test_a_syncing_node_shows_its_progress_and_refuses_the_rest() -> None:
    progress = Progress(phase="fetching chunks", height=4000, chunks=128, chunks_done=40)
    progress.records = 31_000
    progress.refused.append("http://10.0.0.9:26657: chunk 3: chunk 3's records make subtree ...")
    server = TestServer(make_syncing_app(make_genesis(), progress))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")

        def status_cli(*extra: str) -> tuple[int, str]:
            out = CliRunner().invoke(cli, ["status", "--node", url, *extra])
            return out.exit_code, out.output

        code, text = await asyncio.to_thread(status_cli)
        assert code == 0, text
        assert "state sync:   fetching chunks" in text
        assert "snapshot:     height 4000" in text
        assert "chunks:       40 of 128, 31000 records" in text
        assert "left out:     http://10.0.0.9:26657: chunk 3" in text
        code, text = await asyncio.to_thread(status_cli, "--json")
        view = json.loads(text)
        assert view["height"] == 0 and view["state_sync"]["chunks_done"] == 40

        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/v1/accounts/x") as response:
                assert response.status == 503
                body = await response.json()
            assert body["error"]["code"] == "state_syncing"
            assert "fetching chunks" in body["error"]["message"]
            async with session.post(f"{url}/v1/txs", json={"tx": "00"}) as response:
                assert response.status == 503
    finally:
        await server.close()
