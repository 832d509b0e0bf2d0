"""Following long work from the CLI (node/cli/follow.py): the rate and time-left math, the watch
loop on a fake clock (rendering, retries, the ways it ends), what `status --watch` and
`workload status --watch` make of what the node answers, and `status --watch` over a real
socket against a node's API, a state-syncing node's API and a node that refuses mid-watch."""

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from node.api.client import ApiError, NodeUnreachable
from node.api.statesync import make_syncing_app
from node.cli.common import CliError
from node.cli.follow import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_REACHED,
    EXIT_TIMEOUT,
    Measure,
    Point,
    Sample,
    Screen,
    Tracker,
    Watch,
    follow,
    format_duration,
    format_rate,
    rate,
    recent,
    time_left,
)
from node.cli.main import cli
from node.cli.query import sync_line, sync_phase, sync_sample
from node.cli.workload import deployment_line, deployment_sample
from node.service import NodeService
from node.statesync.restore import Progress
from tests.kit.chainkit import make_genesis
from tests.kit.support import NodeHome

# The math


def test_rate_is_units_per_second_over_the_points() -> None:
    assert rate([]) is None
    assert rate([Point(5.0, 100)]) is None  # one point measures nothing
    assert rate([Point(5.0, 100), Point(5.0, 120)]) is None  # no time between them
    assert rate([Point(0.0, 0), Point(2.0, 500), Point(4.0, 1000)]) == 250.0
    assert rate([Point(0.0, 7), Point(3.0, 7)]) == 0.0  # not moving


def test_recent_keeps_the_window_and_forgets_a_count_that_went_down() -> None:
    points = [Point(float(t), 10 * t) for t in range(30)]
    kept = recent(points, span=10.0)
    assert kept[0].at == 19.0 and kept[-1].at == 29.0 and len(kept) == 11
    # a slow poll (30 s between reads) still has the point before it
    assert recent([Point(0.0, 0), Point(30.0, 300)], span=10.0) == [
        Point(0.0, 0),
        Point(30.0, 300),
    ]
    # the count went down (a restart): the points before are another count
    restarted = [Point(0.0, 500), Point(1.0, 600), Point(2.0, 3), Point(3.0, 9)]
    assert recent(restarted) == [Point(2.0, 3), Point(3.0, 9)]
    assert rate(recent(restarted)) == 6.0


def test_time_left() -> None:
    assert time_left(1000, 3000, 400.0) == 5.0
    assert time_left(3000, 3000, None) == 0.0  # there: nothing left, rate or not
    assert time_left(3100, 3000, 1.0) == 0.0
    assert time_left(10, 20, None) is None  # no rate yet
    assert time_left(10, 20, 0.0) is None  # not moving: it cannot be told
    assert time_left(10, 20, -2.0) is None
    assert time_left(10, None, 5.0) is None  # no total


def test_formats() -> None:
    assert format_duration(None) == "unknown"
    assert format_duration(0) == "0 s"
    assert format_duration(4.2) == "5 s"  # rounded up: never 0 before the end
    assert format_duration(59.5) == "1 min 00 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(7620) == "2 h 07 min"
    assert format_rate(None, "blocks") == "? blocks/s"
    assert format_rate(1.54, "chunks") == "1.5 chunks/s"
    assert format_rate(1234.4, "blocks") == "1,234 blocks/s"


def test_tracker_starts_a_new_count_with_a_new_unit() -> None:
    tracker = Tracker(started=0.0)
    chunks = [Sample({}, done=d, total=40, unit="chunks") for d in (0, 10, 20)]
    measures = [tracker.measure(s, float(t)) for t, s in enumerate(chunks)]
    assert measures[0].rate is None and measures[2].rate == 10.0 and measures[2].left == 2.0
    # state sync is done: block heights are counted from here, not against the chunks
    blocks = tracker.measure(Sample({}, done=4000, total=4100, unit="blocks"), 3.0)
    assert blocks.rate is None and blocks.elapsed == 3.0
    blocks = tracker.measure(Sample({}, done=4050, total=4100, unit="blocks"), 4.0)
    assert blocks.rate == 50.0 and blocks.left == 1.0
    assert tracker.measure(Sample({}), 5.0) == Measure(5.0, None, None)


# The loop, on a fake clock


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Printed:
    """What a Screen wrote, stdout and stderr apart."""

    def __init__(self, as_json: bool, terminal: bool = False, changes_only: bool = False) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.screen = Screen(
            as_json, terminal, changes_only, self.out.append, self.err.append, lambda: 0
        )

    @property
    def lines(self) -> list[Any]:
        return [json.loads(line) for line in "".join(self.out).splitlines()]


def polls(*answers: Sample | BaseException) -> Callable[[], Sample]:
    """A poll answering `answers` in turn (raising the exceptions among them)."""
    queue: Iterator[Sample | BaseException] = iter(answers)

    def poll() -> Sample:
        answer = next(queue)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return poll


def height(h: int, target: int = 400, reached: bool = False) -> Sample:
    return Sample({"height": h}, done=h, total=target, unit="blocks", reached=reached)


def text(sample: Sample, measure: Measure) -> str:
    return f"h={sample.view['height']} rate={measure.rate} left={measure.left}"


def test_json_lines_carry_rate_and_time_left_until_the_goal() -> None:
    clock, printed = FakeClock(), Printed(as_json=True)
    poll = polls(height(0), height(100), height(200), height(400, reached=True))
    code = follow(poll, text, Watch(1.0, goal="synced"), printed.screen, clock, clock.sleep)
    assert code == EXIT_REACHED
    lines = printed.lines
    assert [line["height"] for line in lines] == [0, 100, 200, 400]
    assert all(line["event"] == "sample" and line["rate_unit"] == "blocks/s" for line in lines)
    assert lines[0]["rate"] is None and lines[0]["eta_s"] is None
    assert lines[2]["rate"] == 100.0 and lines[2]["eta_s"] == 2.0
    assert lines[3]["eta_s"] == 0.0 and lines[3]["elapsed_s"] == 3.0
    assert printed.err == []


def test_a_transient_failure_is_shown_and_asked_again() -> None:
    clock, printed = FakeClock(), Printed(as_json=True)
    down = NodeUnreachable("http://127.0.0.1:1", "Connection refused")
    busy = ApiError("state_syncing", "starting from a snapshot", 503)
    poll = polls(height(5), down, busy, height(400, reached=True))
    assert follow(poll, text, Watch(0.5, goal="synced"), printed.screen, clock, clock.sleep) == 0
    events = [(line["event"], line.get("error", {}).get("code")) for line in printed.lines]
    assert events == [
        ("sample", None),
        ("retry", "node_unreachable"),
        ("retry", "state_syncing"),
        ("sample", None),
    ]
    assert printed.lines[1]["retry_in_s"] == 0.5
    # without --json the retry goes to stderr, the samples stay on stdout
    clock, printed = FakeClock(), Printed(as_json=False)
    poll = polls(down, height(400, reached=True))
    assert follow(poll, text, Watch(1.0, goal="synced"), printed.screen, clock, clock.sleep) == 0
    assert printed.err == [f"{down.message}; asking again in 1 s\n"]
    assert printed.out == ["h=400 rate=None left=0.0\n"]


def test_an_error_that_asking_again_cannot_fix_ends_the_watch_with_one_json_line() -> None:
    clock, printed = FakeClock(), Printed(as_json=True)
    gone = ApiError("not_found", "there is no workload 9", 404)
    code = follow(polls(height(1), gone), text, Watch(), printed.screen, clock, clock.sleep)
    assert code == EXIT_FAILED
    # every line of the output is one JSON object: the stream stays JSON lines to its end
    assert all(line.count("\n") == 1 for line in "".join(printed.out).splitlines(True))
    assert [line["event"] for line in printed.lines] == ["sample", "error"]
    assert printed.lines[-1] == {
        "event": "error",
        "error": {"code": "not_found", "message": "there is no workload 9"},
    }
    assert printed.err == []
    # the CLI's own errors too (watched_view's "no workload"), with their exit status
    clock, printed = FakeClock(), Printed(as_json=True)
    refused = CliError("there is no workload 9", "not_found", exit_code=4)
    assert follow(polls(refused), text, Watch(), printed.screen, clock, clock.sleep) == 4
    assert printed.lines == [
        {"event": "error", "error": {"code": "not_found", "message": "there is no workload 9"}}
    ]
    # without --json: the rewritten line is ended, the error goes to stderr
    clock, printed = FakeClock(), Printed(as_json=False, terminal=True)
    code = follow(polls(height(1), gone), text, Watch(), printed.screen, clock, clock.sleep)
    assert code == EXIT_FAILED
    assert printed.out == ["\rh=1 rate=None left=None\x1b[K", "\n"]
    assert printed.err == ["error: there is no workload 9\n"]


def test_a_failure_ends_it_with_exit_1_and_says_why() -> None:
    clock, printed = FakeClock(), Printed(as_json=True)
    broken = Sample({"height": 3}, failed="replica site/0 of workload 2 failed: out of memory")
    assert follow(polls(height(1), broken), text, Watch(), printed.screen, clock, clock.sleep) == (
        EXIT_FAILED
    )
    assert printed.lines[-1] == {
        "event": "failed",
        "error": {"code": "failed", "message": broken.failed},
    }
    clock, printed = FakeClock(), Printed(as_json=False)
    follow(polls(broken), text, Watch(), printed.screen, clock, clock.sleep)
    assert printed.err == [f"error: {broken.failed}\n"]


def test_the_timeout_ends_a_goal_with_exit_3_and_a_plain_watch_with_0() -> None:
    clock, printed = FakeClock(), Printed(as_json=True)
    poll = polls(*(height(h) for h in range(100)))
    code = follow(poll, text, Watch(1.0, 5.0, "synced"), printed.screen, clock, clock.sleep)
    assert code == EXIT_TIMEOUT
    assert len([line for line in printed.lines if line["event"] == "sample"]) == 6
    end = printed.lines[-1]
    assert end["event"] == "timeout" and end["error"]["message"].startswith("not synced after 5 s")
    assert "h=5" in end["error"]["message"]  # with what it saw last

    clock, printed = FakeClock(), Printed(as_json=True)
    poll = polls(*(height(h) for h in range(100)))
    assert follow(poll, text, Watch(1.0, 5.0), printed.screen, clock, clock.sleep) == 0
    assert {line["event"] for line in printed.lines} == {"sample"}


class SlowPolls:
    """Polls that each take `spent` seconds of the fake clock; the sleeps the loop asks for."""

    def __init__(self, clock: FakeClock, spent: float) -> None:
        self.clock, self.spent = clock, spent
        self.polled: list[float] = []
        self.slept: list[float] = []

    def poll(self) -> Sample:
        self.polled.append(self.clock.now - 100.0)
        self.clock.now += self.spent
        return height(len(self.polled))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.sleep(seconds)


def test_the_timeout_caps_the_wait_between_reads() -> None:
    # --interval 60 --timeout 5: the watch ends at 5 s (one last read at the deadline), not 60
    for goal, expected in (("synced", EXIT_TIMEOUT), (None, EXIT_REACHED)):
        clock, printed = FakeClock(), Printed(as_json=True)
        slow = SlowPolls(clock, spent=0.0)
        code = follow(slow.poll, text, Watch(60.0, 5.0, goal), printed.screen, clock, slow.sleep)
        assert code == expected
        assert slow.slept == [5.0] and slow.polled == [0.0, 5.0]
        assert clock.now - 100.0 == 5.0
    # reads that take 2 s: the first wait is what is left of the 5 s, not of the interval
    clock, printed = FakeClock(), Printed(as_json=True)
    slow = SlowPolls(clock, spent=2.0)
    code = follow(slow.poll, text, Watch(60.0, 5.0, "synced"), printed.screen, clock, slow.sleep)
    assert code == EXIT_TIMEOUT
    assert slow.slept == [3.0] and slow.polled == [0.0, 5.0]
    assert clock.now - 100.0 == 7.0  # the deadline, and the one read begun at it
    assert printed.lines[-1]["error"]["message"].startswith("not synced after 5 s (last: h=2")
    # a short interval is kept: the deadline only shortens the last wait
    clock, printed = FakeClock(), Printed(as_json=True)
    slow = SlowPolls(clock, spent=0.25)
    code = follow(slow.poll, text, Watch(1.0, 2.5, "synced"), printed.screen, clock, slow.sleep)
    assert code == EXIT_TIMEOUT
    assert slow.slept == [0.75, 0.75, 0.25] and slow.polled == [0.0, 1.0, 2.0, 2.5]


def test_ctrl_c_ends_a_plain_watch_with_0_and_a_goal_with_130() -> None:
    for goal, expected in ((None, EXIT_REACHED), ("deployed", EXIT_INTERRUPTED)):
        clock, printed = FakeClock(), Printed(as_json=False, terminal=True)
        poll = polls(height(1), height(2), KeyboardInterrupt())
        assert follow(poll, text, Watch(goal=goal), printed.screen, clock, clock.sleep) == expected
        assert printed.out[-1] == "\n"  # the rewritten line is ended
        if goal is None:
            assert printed.err == []
        else:
            assert printed.err == [
                "error: stopped before deployed (last: h=2 rate=1.0 left=398.0)\n"
            ]


def test_a_terminal_gets_one_line_rewritten_a_pipe_a_line_per_sample() -> None:
    samples = (height(0), height(200), height(400, reached=True))
    clock, printed = FakeClock(), Printed(as_json=False, terminal=True)
    follow(polls(*samples), text, Watch(goal="synced"), printed.screen, clock, clock.sleep)
    assert printed.out == [
        "\rh=0 rate=None left=None\x1b[K",
        "\rh=200 rate=200.0 left=1.0\x1b[K",
        "\rh=400 rate=200.0 left=0.0\x1b[K",
        "\n",
    ]
    clock, printed = FakeClock(), Printed(as_json=False, terminal=False)
    follow(polls(*samples), text, Watch(goal="synced"), printed.screen, clock, clock.sleep)
    assert "".join(printed.out).splitlines() == [
        "h=0 rate=None left=None",
        "h=200 rate=200.0 left=1.0",
        "h=400 rate=200.0 left=0.0",
    ]


def test_a_watch_of_changes_prints_each_change_once_even_on_a_terminal() -> None:
    def state(name: str, reached: bool = False) -> Sample:
        return Sample({"height": name}, reached=reached, change=name)

    clock, printed = FakeClock(), Printed(as_json=False, terminal=True, changes_only=True)
    poll = polls(state("pending"), state("pending"), state("placed"), state("placed"))
    code = follow(poll, text, Watch(1.0, 3.0, "deployed"), printed.screen, clock, clock.sleep)
    assert code == EXIT_TIMEOUT
    assert printed.out == ["h=pending rate=None left=None\n", "h=placed rate=None left=None\n"]
    clock, printed = FakeClock(), Printed(as_json=True, changes_only=True)
    poll = polls(state("placed"), state("placed"), state("deployed", reached=True))
    assert follow(poll, text, Watch(goal="deployed"), printed.screen, clock, clock.sleep) == 0
    assert [line["height"] for line in printed.lines] == ["placed", "deployed"]


# What `status --watch` makes of /v1/status


def consensus(**fields: Any) -> dict[str, Any]:
    base = {
        "height": 101,
        "peers": ["aa", "bb", "cc"],
        "syncing": False,
        "best_peer_height": 101,
        "accepting_txs": True,
    }
    return base | fields


def test_sync_phase_follows_block_syncs_rule() -> None:
    assert sync_phase(100, consensus()) == ("synced", 100)
    # a peer decided first: one height behind is not syncing
    assert sync_phase(100, consensus(best_peer_height=102)) == ("synced", 101)
    assert sync_phase(100, consensus(best_peer_height=103)) == ("block sync", 102)
    assert sync_phase(100, consensus(best_peer_height=3001, syncing=True)) == ("block sync", 3000)
    # peers behind this node: the target is its own height
    assert sync_phase(100, consensus(best_peer_height=40)) == ("synced", 100)
    # no peer answered yet: a node that decides alone is synced, any other waits
    assert sync_phase(100, consensus(best_peer_height=None)) == ("synced", 100)
    waiting = consensus(best_peer_height=None, accepting_txs=False, peers=[])
    assert sync_phase(100, waiting) == ("waiting for peers", None)
    assert sync_phase(7, None) == ("synced", 7)  # no consensus: nobody to follow


def test_sync_sample_and_its_line() -> None:
    view = {"height": 1000, "consensus": consensus(height=1001, best_peer_height=3001)}
    sample = sync_sample("http://n3", view, until_synced=True)
    assert sample.view == {
        "node": "http://n3",
        "phase": "block sync",
        "height": 1000,
        "target_height": 3000,
        "synced": False,
        "peers": 3,
    }
    assert (sample.done, sample.total, sample.unit, sample.reached) == (1000, 3000, "blocks", False)
    line = sync_line(sample, Measure(3.0, 412.0, 4.9))
    assert line == "height 1,000 of 3,000 (block sync), 412 blocks/s, 5 s left"

    caught_up = {"height": 3000, "consensus": consensus(height=3001, best_peer_height=3001)}
    assert sync_sample("u", caught_up, until_synced=True).reached
    assert not sync_sample("u", caught_up).reached  # a plain watch never ends by itself
    line = sync_line(sync_sample("u", caught_up), Measure(9.0, 1.0, 0.0))
    assert line == "height 3,000: synced with 3 peer(s), 1.0 blocks/s"


def test_a_state_syncing_node_is_measured_in_chunks() -> None:
    progress = {"phase": "fetching chunks", "height": 4000, "chunks": 128, "chunks_done": 40}
    sample = sync_sample("u", {"height": 0, "state_sync": progress}, until_synced=True)
    assert (sample.done, sample.total, sample.unit, sample.reached) == (40, 128, "chunks", False)
    assert sample.view["target_height"] == 4000 and sample.view["phase"] == "state sync"
    assert sync_line(sample, Measure(10.0, 4.0, 22.0)) == (
        "state sync (fetching chunks): chunk 40 of 128 of the snapshot at height 4,000, "
        "4.0 chunks/s, 22 s left"
    )
    looking = sync_sample("u", {"height": 0, "state_sync": {"phase": "looking for snapshots"}})
    assert looking.total is None and looking.view["target_height"] is None


# What `workload status --watch` makes of a workload and its deployment


def replica(index: int, state: str, node: int | None, message: str = "") -> dict[str, Any]:
    country = {1: "BE", 2: "NL"}.get(node or 0)
    return {
        "workload": "site",
        "index": index,
        "node": node,
        "country": country,
        "state": state,
        "message": message,
    }


def workload(
    state: str = "authorized",
    deployment_state: str | None = "placed",
    replicas: tuple[dict[str, Any], ...] = (),
    version: int = 1,
    message: str = "",
) -> dict[str, Any]:
    deployment = None
    if deployment_state is not None:
        deployment = {
            "state": deployment_state,
            "message": message,
            "version": version,
            "grace_since": None,
            "replicas": list(replicas),
            "routes": [{"url": "http://web.gw.localhost/"}],
        }
    return {"id": 3, "state": state, "version": 1, "deployment": deployment}


def test_a_workload_is_deployed_once_every_replica_of_its_version_runs() -> None:
    pending = deployment_sample(workload("pending", None))
    assert not pending.reached and pending.failed is None and pending.done is None
    assert deployment_line(pending, Measure(0.5, None, None)) == (
        "[0.5 s] workload 3: pending (waiting for signatures)"
    )
    half = deployment_sample(
        workload(replicas=(replica(0, "deployed", 2), replica(1, "assigned", 1)))
    )
    assert not half.reached and (half.done, half.total, half.unit) == (1, 2, "replicas")
    assert half.view["by_state"] == {"assigned": 1, "deployed": 1}
    assert half.view["nodes"] == [1, 2]
    assert deployment_line(half, Measure(4.0, 0.5, 2.0)) == (
        "[4.0 s] workload 3: placed, 1 assigned, 1 deployed, 2 s left: "
        "site/0 on node 2 (NL) deployed; site/1 on node 1 (BE) assigned"
    )
    done = deployment_sample(
        workload(replicas=(replica(0, "deployed", 2), replica(1, "deployed", 1)))
    )
    assert done.reached and done.view["deployed"] and done.change != half.change
    assert deployment_line(done, Measure(6.0, 0.5, 0.0)) == (
        "[6.0 s] workload 3: deployed, 2 replica(s) on node 1 (BE), node 2 (NL); "
        "http://web.gw.localhost/"
    )
    # an older version running everywhere is not the version asked for
    older = workload(replicas=(replica(0, "deployed", 2),), version=0)
    assert not deployment_sample(older).reached


def test_a_workload_that_cannot_be_deployed_any_more_fails_the_watch() -> None:
    failed = workload(replicas=(replica(0, "failed", None, "failed 3 times in version 1"),))
    assert deployment_sample(failed).failed == (
        "replica site/0 of workload 3 failed: failed 3 times in version 1"
    )
    expired = workload(deployment_state="expired", message="no node meets the constraints")
    assert deployment_sample(expired).failed == (
        "workload 3 was never placed before its request expired: no node meets the constraints"
    )
    assert deployment_sample(workload(deployment_state="ended", message="out of funds")).failed
    assert deployment_sample(workload("cancelled", None)).failed == "workload 3 is cancelled"
    # placing, moving: still on its way
    assert deployment_sample(workload(deployment_state="placing", message="waiting")).failed is None
    moving = workload(replicas=(replica(0, "moving", None, "its node went down"),))
    assert deployment_sample(moving).failed is None


# `status --watch` over a real socket


def run_cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(cli, list(args))
    return out.exit_code, out.stdout


async def test_status_until_synced_against_a_real_node_api(
    api: tuple[TestClient[Any, Any], NodeService, NodeHome],
) -> None:
    client, node, _ = api
    url = str(client.make_url("")).rstrip("/")
    code, out = await asyncio.to_thread(
        run_cli, "status", "--until-synced", "--json", "--node", url, "--interval", "0.1"
    )
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1  # a node without consensus follows nobody: synced at once
    assert lines[0]["event"] == "sample" and lines[0]["synced"] is True
    assert lines[0]["height"] == node.head.height == lines[0]["target_height"]


async def test_status_watch_follows_a_state_syncing_node(tmp_path: Path) -> None:
    progress = Progress(phase="fetching chunks", height=4000, chunks=400, chunks_done=0)
    server = TestServer(make_syncing_app(make_genesis(), progress))
    await server.start_server()
    stop = threading.Event()

    def restore() -> None:  # the restore's thread, fetching a chunk every 10 ms
        while not stop.wait(0.01) and progress.chunks_done < progress.chunks:
            progress.chunks_done += 1

    fetcher = threading.Thread(target=restore)
    fetcher.start()
    try:
        url = str(server.make_url("")).rstrip("/")
        args = ("status", "--until-synced", "--json", "--node", url)
        code, out = await asyncio.to_thread(run_cli, *args, "--interval", "0.2", "--timeout", "1")
    finally:
        stop.set()
        fetcher.join()
        await server.close()
    assert code == EXIT_TIMEOUT, out  # a node still restoring is not synced
    lines = [json.loads(line) for line in out.splitlines()]
    samples = [line for line in lines if line["event"] == "sample"]
    assert len(samples) >= 3 and lines[-1]["event"] == "timeout"
    done = [s["state_sync"]["chunks_done"] for s in samples]
    assert done == sorted(done) and done[-1] > done[0]
    assert all(s["phase"] == "state sync" and s["target_height"] == 4000 for s in samples)
    assert samples[-1]["rate_unit"] == "chunks/s" and samples[-1]["rate"] > 0
    assert samples[-1]["eta_s"] is not None and samples[-1]["eta_s"] > 0


async def test_status_watch_json_ends_with_one_json_line_when_the_node_refuses() -> None:
    """Through the CLI, over a real socket: a node that answers once, then refuses (403)."""
    answers = iter([{"height": 7}])

    async def status(request: web.Request) -> web.Response:
        answer = next(answers, None)
        if answer is None:
            error = {"code": "forbidden", "message": "this API is not for you"}
            return web.json_response({"error": error}, status=403)
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/v1/status", status)

    server = TestServer(app)
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        args = ("status", "--watch", "--json", "--node", url, "--interval", "0.05")
        code, out = await asyncio.to_thread(run_cli, *args)
    finally:
        await server.close()
    assert code == EXIT_FAILED, out
    lines = out.splitlines()
    assert len(lines) == 2, out  # a sample, then the error: one JSON object a line
    assert json.loads(lines[0])["event"] == "sample" and json.loads(lines[0])["height"] == 7
    assert json.loads(lines[1]) == {
        "event": "error",
        "error": {"code": "forbidden", "message": "this API is not for you"},
    }
