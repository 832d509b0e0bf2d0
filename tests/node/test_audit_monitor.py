"""The audit monitor against real nodes: each node is a NodeService over its own LevelDB behind
the real API on a loopback port, its chain grown by real workload submissions (one audit entry
each). The monitor speaks HTTP to them with NodeClient from a worker thread, as the CLI does.

Nodes made from the same genesis and fed the same transactions in the same blocks have the
same audit log; fed other transactions, another log. Serving a second node on the first one's
port is how a test shows the monitor a node that changed its history."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from chain.blocks.header import Header
from chain.errors import CorruptRecord, InvalidProof
from devnet.processes import free_port
from node.api.app import make_app
from node.audit.heads import TreeHead
from node.audit.monitor import (
    CONSISTENT,
    EXIT_CODES,
    FOUND,
    INCONSISTENT,
    INVALID_HEAD,
    SPLIT_VIEW,
    UNREACHABLE,
    WARNING,
    Monitor,
    RoundReport,
    run_monitor,
)
from node.audit.state import MonitorBusy, MonitorState, load_state, locked_home, state_file
from node.cli.main import cli
from node.server import build_node
from node.service import NodeService
from tests.kit.support import NodeHome, addr, audit_request, make_home


@dataclass
class Served:
    """A real node served on 127.0.0.1 until stopped."""

    th: NodeHome
    node: NodeService
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return self.th.url

    async def grow(self, *tags: int, empty: int = 0) -> Header:
        """One block per tag, each with one audit entry; then `empty` empty blocks."""
        sender = self.th.alice
        header = self.node.head
        for tag in tags:
            self.node.submit(audit_request(sender, self.node.next_nonce(addr(sender)), tag).encoded)
            header = await self.node.produce_block()
        for _ in range(empty):
            header = await self.node.produce_block()
        return header

    async def stop(self) -> None:
        await self.runner.cleanup()
        self.node.close()


@dataclass
class Nodes:
    root: Path
    running: list[Served] = field(default_factory=list)

    async def start(self, name: str, port: int | None = None) -> Served:
        """A node whose home is ROOT/NAME (reopened if it exists), on `port` or a free one."""
        home = self.root / name
        th = make_home(home, port=port or free_port())
        node = build_node(th.home)
        runner = web.AppRunner(make_app(node), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", th.port).start()
        served = Served(th, node, runner)
        self.running.append(served)
        return served

    async def stop(self, served: Served) -> None:
        self.running.remove(served)
        await served.stop()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    kit = Nodes(tmp_path / "nodes")
    try:
        yield kit
    finally:
        for served in list(kit.running):
            await kit.stop(served)


def monitor_of(tmp_path: Path, *urls: str, **kw: Callable[[Header], None]) -> Monitor:
    return Monitor(urls, state_file(tmp_path / "monitor"), **kw)


async def round_of(monitor: Monitor) -> RoundReport:
    """One round in a worker thread: the nodes answer from this test's event loop."""
    return await asyncio.to_thread(monitor.round)


def kinds(report: RoundReport) -> list[tuple[str, str]]:
    return [(f.kind, f.node) for f in report.findings]


async def test_a_log_that_grows_is_consistent_round_after_round(
    nodes: Nodes, tmp_path: Path
) -> None:
    a = await nodes.start("a")
    await a.grow(1)
    monitor = monitor_of(tmp_path, a.url)
    first = await round_of(monitor)
    assert first.verdict == CONSISTENT and first.findings == ()
    head = first.heads[a.url]
    assert head is not None and (head.height, head.audit_size) == (1, 1)
    assert head.block_hash == a.node.head.hash and head.audit_root == a.node.head.audit_root

    await a.grow(2, 3, empty=2)  # 1 -> 3 entries: a consistency proof from the node
    second = await round_of(monitor)
    assert second.verdict == CONSISTENT
    largest = second.largest
    assert largest is not None and (largest.height, largest.audit_size) == (5, 3)
    unchanged = await round_of(monitor)  # nothing new: still consistent, nothing lost
    assert unchanged.verdict == CONSISTENT and unchanged.largest == second.largest
    assert monitor.state.heads == {a.url: largest}


async def test_a_node_whose_log_shrinks_is_inconsistent(nodes: Nodes, tmp_path: Path) -> None:
    a = await nodes.start("a")
    await a.grow(1, 2, 3)
    monitor = monitor_of(tmp_path, a.url)
    kept = (await round_of(monitor)).largest
    assert kept is not None and kept.audit_size == 3
    # The same node's address now serves an older copy of the same log (a restored backup).
    port = a.th.port
    await nodes.stop(a)
    old = await nodes.start("old", port)
    await old.grow(1, 2)
    report = await round_of(monitor)
    assert report.verdict == FOUND
    assert kinds(report) == [(INCONSISTENT, old.url)]
    assert "went back" in report.findings[0].message
    assert monitor.state.heads[old.url] == kept  # the shrunk head is not kept
    again = await round_of(monitor)  # level-triggered: found every round while it lasts
    assert kinds(again) == [(INCONSISTENT, old.url)]


async def test_the_same_size_with_another_root_is_inconsistent(
    nodes: Nodes, tmp_path: Path
) -> None:
    a = await nodes.start("a")
    await a.grow(1)
    monitor = monitor_of(tmp_path, a.url)
    await round_of(monitor)
    port = a.th.port
    await nodes.stop(a)
    other = await nodes.start("other", port)
    await other.grow(2, empty=1)  # one entry too, another one; a later height
    report = await round_of(monitor)
    assert kinds(report) == [(INCONSISTENT, other.url)]
    assert "roots of equal-size trees differ" in report.findings[0].message


async def test_two_nodes_showing_different_logs_are_a_split_view(
    nodes: Nodes, tmp_path: Path
) -> None:
    a, b = await nodes.start("a"), await nodes.start("b")
    await a.grow(1, 2)  # log of 2 at height 2
    await b.grow(3, empty=2)  # log of 1 at height 3: no height in common with a's head
    monitor = monitor_of(tmp_path, b.url, a.url)
    report = await round_of(monitor)
    assert report.verdict == FOUND
    assert [(f.kind, f.node, f.other) for f in report.findings] == [(SPLIT_VIEW, b.url, a.url)]
    assert "consistency proof" in report.findings[0].message  # a's proof 1 -> 2 fails on b's root
    assert report.largest is not None and report.largest.node == a.url  # the larger log first
    assert set(monitor.state.heads) == {a.url}

    await a.grow(4)
    await b.grow(5, 6, 7)  # b's log is now the larger: b proves, against a's root, and fails
    again = await round_of(monitor)
    assert [(f.kind, f.node) for f in again.findings] == [(SPLIT_VIEW, b.url)]


async def test_two_blocks_at_one_height_are_a_split_view(nodes: Nodes, tmp_path: Path) -> None:
    a, b = await nodes.start("a"), await nodes.start("b")
    await a.grow(empty=2)
    await b.grow(empty=2)  # both logs empty (consistent), but two chains
    monitor = monitor_of(tmp_path, a.url, b.url)
    report = await round_of(monitor)
    assert kinds(report) == [(SPLIT_VIEW, b.url)]
    assert "two blocks at height 2" in report.findings[0].message


async def test_an_unreachable_node_is_a_warning_and_its_proof_is_asked_again(
    nodes: Nodes, tmp_path: Path
) -> None:
    a = await nodes.start("a")
    await a.grow(1, 2)
    dead = f"http://127.0.0.1:{free_port()}"
    monitor = monitor_of(tmp_path, a.url, dead)
    report = await round_of(monitor)
    assert report.verdict == WARNING and kinds(report) == [(UNREACHABLE, dead)]
    assert report.heads[dead] is None and monitor.state.heads.keys() == {a.url}

    # a goes down; b shows a prefix of a's log (same transactions, same blocks): only a node
    # holding a log of 2 can prove it, and none answers. A warning, and b's head waits.
    port = a.th.port
    await nodes.stop(a)
    b = await nodes.start("b")
    await b.grow(1)
    monitor = monitor_of(tmp_path, a.url, b.url)
    report = await round_of(monitor)
    assert report.verdict == WARNING
    assert kinds(report) == [(UNREACHABLE, a.url), (UNREACHABLE, b.url)]
    assert "cannot check" in report.findings[1].message
    assert b.url not in monitor.state.heads

    await nodes.start("a", port)  # the same home: the same chain, back on its port
    report = await round_of(monitor)
    assert report.verdict == CONSISTENT  # a proves b's log of 1 is a prefix of its log of 2
    assert monitor.state.heads.keys() == {a.url, b.url}


async def test_the_state_is_kept_across_runs(nodes: Nodes, tmp_path: Path) -> None:
    a = await nodes.start("a")
    await a.grow(1)
    first_run = monitor_of(tmp_path, a.url)
    await round_of(first_run)
    path = first_run.state_path
    assert load_state(path) == first_run.state
    assert json.loads(path.read_text())["heads"][0]["audit_size"] == 1

    # A later run watches only b, whose log of 2 does not extend the log a showed: found
    # against the head kept from the earlier run, with a no longer watched (or even up).
    await nodes.stop(a)
    b = await nodes.start("b")
    await b.grow(2, 3)
    second_run = monitor_of(tmp_path, b.url)
    assert second_run.state.heads.keys() == {a.url}
    report = await round_of(second_run)
    assert [(f.kind, f.node, f.other) for f in report.findings] == [(SPLIT_VIEW, b.url, a.url)]
    assert load_state(path).heads.keys() == {a.url}


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"version": 1, "heads": [',  # torn
        "\x00\x00\x00",
        '{"version": 2, "heads": [], "largest": null}',
        '{"version": 1, "heads": [{"node": "http://x"}], "largest": null}',
        '{"version": 1, "heads": "none", "largest": null}',
    ],
)
def test_a_corrupt_state_file_is_an_error_naming_it(tmp_path: Path, content: str) -> None:
    path = state_file(tmp_path / "monitor")
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(CorruptRecord, match=str(path)):
        load_state(path)
    with pytest.raises(CorruptRecord, match="move the file away"):
        Monitor(["http://127.0.0.1:9"], path)
    assert path.read_text() == content  # left for the operator to look at


def test_a_missing_state_file_is_an_empty_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "nothing.json") == MonitorState()


async def test_a_header_the_trust_hook_refuses_is_an_invalid_head(
    nodes: Nodes, tmp_path: Path
) -> None:
    a = await nodes.start("a")
    await a.grow(1)

    def no_certificate(header: Header) -> None:
        raise InvalidProof(f"header {header.height} has no finality certificate")

    monitor = monitor_of(tmp_path, a.url, trust_header=no_certificate)
    report = await round_of(monitor)
    assert report.verdict == FOUND and kinds(report) == [(INVALID_HEAD, a.url)]
    assert "no finality certificate" in report.findings[0].message
    assert monitor.state.heads == {}


def test_a_head_round_trips_through_json() -> None:
    head = TreeHead("http://n:1", "c", 3, b"\x01" * 32, 2, b"\x02" * 32)
    assert TreeHead.from_json(head.to_json()) == head
    with pytest.raises(ValueError, match="'audit_root'"):
        TreeHead.from_json({**head.to_json(), "audit_root": "abcd"})


def test_one_monitor_at_a_time_holds_a_home(tmp_path: Path) -> None:
    with (
        locked_home(tmp_path / "m"),
        pytest.raises(MonitorBusy, match="another audit monitor"),
        locked_home(tmp_path / "m"),
    ):
        pass
    with locked_home(tmp_path / "m"):  # released when the first one is done
        pass


async def test_run_monitor_returns_the_worst_verdict_of_its_rounds(
    nodes: Nodes, tmp_path: Path
) -> None:
    a = await nodes.start("a")
    await a.grow(empty=1)
    dead = f"http://127.0.0.1:{free_port()}"
    monitor = monitor_of(tmp_path, a.url, dead)
    seen: list[str] = []
    pauses: list[float] = []
    worst = await asyncio.to_thread(
        run_monitor, monitor, 3, 0.5, lambda r: seen.append(r.verdict), pauses.append
    )
    assert (worst, seen, pauses) == (WARNING, [WARNING] * 3, [0.5, 0.5])


# The command


async def cli_run(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "monitor", *args])
    return result.exit_code, result.stdout


async def test_the_command_exit_status_and_json_lines(nodes: Nodes, tmp_path: Path) -> None:
    a, b = await nodes.start("a"), await nodes.start("b")
    await a.grow(1, 2)
    home = str(tmp_path / "cli-home")
    code, out = await cli_run(
        "--node", a.url, "--home", home, "--rounds", "2", "--interval", "0", "--json"
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_CODES[CONSISTENT] == 0
    assert [(r["event"], r["round"], r["verdict"]) for r in lines] == [
        ("round", 1, CONSISTENT),
        ("round", 2, CONSISTENT),
    ]
    assert lines[-1]["largest"]["audit_size"] == 2

    await b.grow(3, empty=2)
    code, out = await cli_run("--node", a.url, "--node", b.url, "--home", home, "--once")
    assert code == EXIT_CODES[FOUND] == 3
    assert out.startswith("round 1: inconsistent") and f"split_view: {b.url} and {a.url}" in out

    code, out = await cli_run(
        "--node", f"http://127.0.0.1:{free_port()}", "--home", home, "--once", "--json"
    )
    assert code == EXIT_CODES[WARNING] == 4 and json.loads(out)["verdict"] == WARNING


async def test_the_command_refuses_bad_input_clearly(tmp_path: Path) -> None:
    home = tmp_path / "cli-home"
    home.mkdir()
    code, out = await cli_run(
        "--node", "http://127.0.0.1:9", "--home", str(home), "--once", "--rounds", "2", "--json"
    )
    assert code == 2 and "not both" in json.loads(out)["error"]["message"]
    code, out = await cli_run("--node", "nope", "--home", str(home), "--once", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "bad_url"
    state_file(home).write_text("{")
    code, out = await cli_run(
        "--node", "http://127.0.0.1:9", "--home", str(home), "--once", "--json"
    )
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "corrupt_record"
    assert str(state_file(home)) in error["message"]
