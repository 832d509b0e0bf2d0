"""What the web explorer reads beside the endpoints it shares with the CLI, in-process over a real
node and LevelDB: the latest blocks a page at a time, the validators' signed share of the
downtime window; and the explorer itself as the node serves it from its built folder."""

import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chain.blocks.header import header_to_json
from chain.state import SigningInfo
from node.api import blocks as block_list
from node.api.app import uptime_view
from tests.kit.support import transfer

Client = TestClient[Any, Any]


async def get(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


async def test_blocks_newest_first_a_page_at_a_time(api: Any) -> None:
    client, node, th = api
    for nonce in range(3):
        response = await client.post(
            "/v1/txs", json={"tx": transfer(th.alice, th.bob_address, 1, nonce).encoded.hex()}
        )
        assert response.status == 202
    await node.produce_block()  # three transfers at height 1
    for _ in range(4):
        await node.produce_block()

    page = await get(client, "/v1/blocks?limit=2")
    assert (page["height"], page["base_height"]) == (5, 0)
    assert [b["height"] for b in page["blocks"]] == [5, 4] and page["next_before"] == 4
    for summary in page["blocks"]:
        block = node.store.block_at(summary["height"])
        raw = node.store.block_bytes(block.hash)
        assert summary == header_to_json(block.header) | {"size": len(raw)}
    everything = await get(client, "/v1/blocks")
    assert [b["height"] for b in everything["blocks"]] == [5, 4, 3, 2, 1, 0]
    assert everything["next_before"] is None
    assert [b["tx_count"] for b in everything["blocks"]] == [0, 0, 0, 0, 3, 0]
    older = await get(client, "/v1/blocks?before=2&limit=10")
    assert [b["height"] for b in older["blocks"]] == [1, 0] and older["next_before"] is None
    assert (await get(client, "/v1/blocks?before=0"))["blocks"] == []
    beyond = await get(client, "/v1/blocks?before=999999&limit=1")
    assert [b["height"] for b in beyond["blocks"]] == [5]
    for query in ("limit=0", "limit=101", "before=-1", "before=x", "after=3"):
        body = await get(client, f"/v1/blocks?{query}", 400)
        assert body["error"]["code"] == "invalid_request", query


async def test_a_page_of_blocks_ends_once_it_holds_max_page_bytes(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks are tens of megabytes at most: a page stops at the block that brings it to
    MAX_PAGE_BYTES, and next_before goes on from there, each height once. The headers are read
    in a worker thread, off the event loop."""
    client, node, th = api
    for nonce in range(5):
        tx = transfer(th.alice, th.bob_address, 1, nonce)
        response = await client.post("/v1/txs", json={"tx": tx.encoded.hex()})
        assert response.status == 202
        await node.produce_block()  # heights 1..5, one transfer each
    await node.produce_block()
    sizes = {h: len(node.store.block_bytes(node.store.block_hash_at(h))) for h in range(7)}
    threads: list[threading.Thread] = []
    summary = block_list.block_summary

    def spied(raw: bytes) -> dict[str, Any]:
        threads.append(threading.current_thread())
        return summary(raw)

    monkeypatch.setattr(block_list, "block_summary", spied)
    for budget in (1, sizes[6] + sizes[5], sum(sizes.values()) // 2, 10**9):
        monkeypatch.setattr(block_list, "MAX_PAGE_BYTES", budget)
        pages: list[list[int]] = []
        before: int | None = None
        while True:
            query = "limit=100" if before is None else f"limit=100&before={before}"
            page = await get(client, f"/v1/blocks?{query}")
            heights = [b["height"] for b in page["blocks"]]
            assert [b["size"] for b in page["blocks"]] == [sizes[h] for h in heights]
            # under the budget until its last block
            assert sum(sizes[h] for h in heights[:-1]) < budget, (budget, heights)
            pages.append(heights)
            if (before := page["next_before"]) is None:
                break
        assert [h for heights in pages for h in heights] == [6, 5, 4, 3, 2, 1, 0], budget
        if budget == 1:
            assert pages == [[6], [5], [4], [3], [2], [1], [0]]
        if budget == sizes[6] + sizes[5]:
            assert pages[0] == [6, 5]
        if budget == 10**9:
            assert pages == [[6, 5, 4, 3, 2, 1, 0]]
    assert threads and threading.main_thread() not in threads


async def test_validators_show_the_share_of_the_window_they_signed(api: Any) -> None:
    client, node, _ = api
    for _ in range(4):
        await node.produce_block()
    view = await get(client, "/v1/validators")
    (validator,) = view["validators"]
    window = node.params.downtime_window
    assert view["downtime_window"] == window
    signing = validator["signing"]
    assert signing["missed"] == []
    # Block 4 recorded who signed the commit of height 3; tracking began at the first commit.
    tracked = min(window, 3 - signing["start_height"] + 1)
    assert validator["uptime"] == {
        "window": window,
        "tracked": tracked,
        "missed": 0,
        "signed_bp": 10_000,
    }


def test_uptime_counts_the_missed_heights_inside_the_window() -> None:
    info = SigningInfo(start_height=5, missed=(8, 12, 19))
    assert uptime_view(info, 20, 10) == {
        "window": 10,
        "tracked": 10,
        "missed": 2,  # 12 and 19; 8 left the window (heights 11..20)
        "signed_bp": 8_000,
    }
    young = uptime_view(SigningInfo(start_height=18, missed=(19,)), 20, 10)
    assert young == {"window": 10, "tracked": 3, "missed": 1, "signed_bp": 6_666}
    assert uptime_view(SigningInfo(start_height=21), 20, 10)["signed_bp"] is None


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built explorer of two files in a folder of its own, served in place of web/dist/."""
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>explorer</title>")
    (folder / "app.js").write_text("console.log('explorer');")
    (tmp_path / "secret.txt").write_text("not served")
    monkeypatch.setattr("node.api.explorer.DIST", folder)
    return folder


async def test_the_explorer_is_served_from_its_folder(api: Any, dist: Path) -> None:
    client, _, _ = api
    response = await client.get("/explorer", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/explorer/"
    index = await client.get("/explorer/")
    assert index.status == 200 and index.content_type == "text/html"
    assert index.headers["Cache-Control"] == "no-cache"
    assert await index.text() == (dist / "index.html").read_text()
    app = await client.get("/explorer/app.js")
    assert app.status == 200 and "javascript" in app.content_type
    assert await app.text() == "console.log('explorer');"
    for name in ("missing.js", "%2e%2e/secret.txt", "..%2fsecret.txt"):
        response = await client.get(f"/explorer/{name}")
        body = await response.json()
        assert response.status == 404 and body["error"]["code"] == "not_found", name


async def test_an_explorer_never_built_says_how_to_build_it(api: Any, dist: Path) -> None:
    client, _, _ = api
    (dist / "app.js").unlink()
    body = await get(client, "/explorer/", 503)
    assert body["error"]["code"] == "explorer_not_built"
    assert "make install" in body["error"]["message"]
