"""Following work that takes a while: the one loop behind `gridchain status --watch` (a node
syncing toward its peers' height) and `gridchain workload status ID --watch` (a workload on its
way to deployed).

Each command gives a `poll` that reads the node once and says what it saw as a `Sample` (a count
done toward a total, whether the goal is reached or can no longer be), and a `render` that turns
it into a line for people. The loop measures the rate and the time left from successive samples
and prints: one JSON object per line with --json; else a line rewritten in place on a terminal, or
one line per sample when the output is a file or a pipe (a log keeps every line). A watch that
prints changes only prints a line per change either way, so its history stays on screen.

A transient failure (the node unreachable, or failing with a 5xx, as state sync's `transient`
says) is shown and asked again at the next interval: a node restarting under a watch does not end
it. Any other error (the node refusing, the workload gone) ends the watch with exit 1, as every
command's errors do, but in the watch's own form: with --json one last JSON line
({"event": "error", "error": {"code", "message"}}), so the output stays one JSON object per line.

--timeout is a deadline: the wait between two reads never passes it, so a watch ends at most one
read after it, however long --interval is.

The rate and time-left math are pure functions of (time, count) points, tested without a clock.
"""

import json
import math
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from chain.errors import GridchainError
from node.api.client import ApiError
from node.statesync.restore import transient

RATE_WINDOW_S = 10.0  # the rate is measured over the samples of the last this many seconds

EXIT_REACHED = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130  # as the shell reports a process ended by Ctrl-C

F = TypeVar("F", bound=Callable[..., Any])

_UNSEEN = object()  # the change "printed" before the first sample: equal to none


# The math


@dataclass(frozen=True)
class Point:
    """A count (`done`) seen at a moment (`at`, monotonic seconds)."""

    at: float
    done: int


def recent(points: Sequence[Point], span: float = RATE_WINDOW_S) -> list[Point]:
    """The points a rate is measured over: those of the last `span` seconds (and always the one
    before the last, so a slow poll still gives a rate), none from before the count last went
    down. A count that goes down is a new count (a node that restarted from a snapshot), and a
    rate across it would be meaningless."""
    if not points:
        return []
    kept = [points[-1]]
    for point in reversed(points[:-1]):
        if point.done > kept[-1].done:
            break
        if points[-1].at - point.at > span and len(kept) >= 2:
            break
        kept.append(point)
    kept.reverse()
    return kept


def rate(points: Sequence[Point]) -> float | None:
    """Units per second from the first point to the last; None with fewer than two points or no
    time between them (nothing measured yet)."""
    if len(points) < 2:
        return None
    seconds = points[-1].at - points[0].at
    if seconds <= 0:
        return None
    return (points[-1].done - points[0].done) / seconds


def time_left(done: int, total: int | None, per_second: float | None) -> float | None:
    """Seconds until `done` reaches `total` at `per_second`: 0 once there; None when it cannot be
    told (no total, no rate yet, or not moving)."""
    if total is None:
        return None
    if done >= total:
        return 0.0
    if per_second is None or per_second <= 0:
        return None
    return (total - done) / per_second


def format_duration(seconds: float | None) -> str:
    """`42 s`, `3 min 05 s`, `2 h 07 min`, rounded up (a time left never reads 0 before the
    end); `unknown` for None."""
    if seconds is None:
        return "unknown"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = math.ceil(whole / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_rate(per_second: float | None, unit: str) -> str:
    """`412 blocks/s`, `1.5 chunks/s` (a decimal below 10), `? blocks/s` before a rate."""
    if per_second is None:
        return f"? {unit}/s"
    shown = f"{per_second:,.1f}" if abs(per_second) < 10 else f"{per_second:,.0f}"
    return f"{shown} {unit}/s"


def format_count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


# One poll


@dataclass(frozen=True)
class Sample:
    """What one poll saw, as the watching command reads it."""

    view: dict[str, Any]  # the fields of its JSON line
    done: int | None = None  # units done toward the goal (None: nothing to count yet)
    total: int | None = None  # units once there (None: not known yet)
    unit: str = ""  # what is counted: blocks, chunks, replicas
    reached: bool = False  # the goal is reached: the watch ends, exit 0
    failed: str | None = None  # why the goal can no longer be reached: the watch ends, exit 1
    change: Hashable = None  # for watches of changes: printed when this differs from the last


@dataclass(frozen=True)
class Measure:
    """The rate and the time left at a sample, with the time since the watch began."""

    elapsed: float
    rate: float | None
    left: float | None

    def to_json(self, unit: str) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed, 3),
            "rate": None if self.rate is None else round(self.rate, 3),
            "rate_unit": f"{unit}/s" if unit else None,
            "eta_s": None if self.left is None else round(self.left, 3),
        }


class Tracker:
    """The points of one count, kept to the rate window; a new unit starts a new count."""

    def __init__(self, started: float, span: float = RATE_WINDOW_S) -> None:
        self.started = started
        self.span = span
        self.unit = ""
        self.points: list[Point] = []

    def measure(self, sample: Sample, at: float) -> Measure:
        if sample.unit != self.unit:
            self.unit, self.points = sample.unit, []
        if sample.done is None:
            return Measure(at - self.started, None, None)
        self.points = recent([*self.points, Point(at, sample.done)], self.span)
        per_second = rate(self.points)
        return Measure(
            at - self.started, per_second, time_left(sample.done, sample.total, per_second)
        )


# Printing


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _now_ms() -> int:
    return int(time.time() * 1000)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


@dataclass
class Screen:
    """Where a watch prints. On a terminal the sample line is rewritten in place (carriage
    return, then clear to the end of the line); anywhere else every line stays."""

    as_json: bool
    terminal: bool
    changes_only: bool = False
    write: Callable[[str], None] = _write
    write_err: Callable[[str], None] = _write_err
    wall_ms: Callable[[], int] = _now_ms
    line_open: bool = False  # a rewritten line is on screen without its newline

    def sample(self, sample: Sample, measure: Measure, text: str) -> None:
        if self.as_json:
            line = {"event": "sample", "time_ms": self.wall_ms(), **sample.view}
            self.write(json.dumps(line | measure.to_json(sample.unit)) + "\n")
        elif self.terminal and not self.changes_only:
            self.write(f"\r{text}\x1b[K")
            self.line_open = True
        else:
            self.write(text + "\n")

    def retrying(self, exc: ApiError, interval: float) -> None:
        """A transient failure: shown, not fatal (the loop asks again after `interval`)."""
        if self.as_json:
            error = {"code": exc.code, "message": exc.message}
            line = {"event": "retry", "time_ms": self.wall_ms(), "error": error}
            self.write(json.dumps(line | {"retry_in_s": interval}) + "\n")
            return
        text = f"{exc.message}; asking again in {interval:g} s"
        if self.terminal and not self.changes_only:
            self.write(f"\r{text}\x1b[K")
            self.line_open = True
        else:
            self.close()
            self.write_err(text + "\n")

    def end(self, event: str, message: str, code: str | None = None) -> None:
        """The watch ends without its goal: one last JSON line (its `event`; the error's `code`,
        the event's unless given), or an error line on stderr."""
        self.close()
        if self.as_json:
            error = {"code": code or event, "message": message}
            self.write(json.dumps({"event": event, "error": error}) + "\n")
        else:
            self.write_err(f"error: {message}\n")

    def close(self) -> None:
        if self.line_open:
            self.write("\n")
            self.line_open = False


# The loop


@dataclass(frozen=True)
class Watch:
    """How to follow: every `interval` seconds, for at most `timeout`, toward `goal` (what is
    awaited, for messages: "synced", "deployed"; None when the watch has no goal and ends with
    Ctrl-C or its timeout, both then a normal end)."""

    interval: float = 1.0
    timeout: float | None = None
    goal: str | None = None


def follow(
    poll: Callable[[], Sample],
    render: Callable[[Sample, Measure], str],
    watch: Watch,
    screen: Screen,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll, measure and print until the goal is reached (exit 0), can no longer be (1), a
    read fails in a way asking again cannot fix (1, or its error's own exit status), the
    timeout passes before the goal (3) or Ctrl-C (130). A watch without a goal ends with Ctrl-C
    or its timeout, both exit 0: ending it is all it waits for. Returns the exit status."""
    started = clock()
    tracker = Tracker(started)
    shown: Hashable = _UNSEEN  # the change last printed
    last = "the node never answered"  # what the last read saw, for the message that ends it
    try:
        while True:
            began = clock()
            try:
                sample = poll()
            except ApiError as exc:
                if not transient(exc):
                    return _ended_by(exc, screen)
                screen.retrying(exc, watch.interval)
                last = exc.message
            except GridchainError as exc:
                return _ended_by(exc, screen)
            else:
                measure = tracker.measure(sample, clock())
                last = render(sample, measure)
                if not screen.changes_only or sample.change != shown:
                    screen.sample(sample, measure, last)
                    shown = sample.change
                if sample.failed is not None:
                    screen.end("failed", sample.failed)
                    return EXIT_FAILED
                if sample.reached:
                    screen.close()
                    return EXIT_REACHED
            if watch.timeout is not None and clock() - started >= watch.timeout:
                if watch.goal is None:  # a watch for a while, as asked
                    screen.close()
                    return EXIT_REACHED
                message = f"not {watch.goal} after {watch.timeout:g} s (last: {last.strip()})"
                screen.end("timeout", message)
                return EXIT_TIMEOUT
            now = clock()
            pause = watch.interval - (now - began)
            if watch.timeout is not None:  # never past the deadline: one last read at it
                pause = min(pause, watch.timeout - (now - started))
            sleep(max(0.0, pause))
    except KeyboardInterrupt:
        screen.close()
        if watch.goal is None:
            return EXIT_REACHED
        screen.end("interrupted", f"stopped before {watch.goal} (last: {last.strip()})")
        return EXIT_INTERRUPTED


def _ended_by(exc: ApiError | GridchainError, screen: Screen) -> int:
    """An error asking again cannot fix ends the watch: said in the watch's own form (one JSON
    line with --json), with the exit status the command's errors have (node/cli/common.py)."""
    screen.end("error", exc.message, exc.code)
    exit_code = getattr(exc, "exit_code", EXIT_FAILED)
    return exit_code if isinstance(exit_code, int) else EXIT_FAILED


def watch_options(watch_help: str) -> Callable[[F], F]:
    """--watch (its help: what following this command shows), --interval and --timeout, as
    every command that follows work takes them."""

    def decorate(f: F) -> F:
        f = click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            help="With --watch: stop after this many seconds; exit 3 if what it waits for has "
            "not happened by then [default: never].",
        )(f)
        f = click.option(
            "--interval",
            default=1.0,
            show_default=True,
            type=click.FloatRange(min=0.05),
            help="With --watch: seconds between two reads of the node.",
        )(f)
        return click.option("--watch", is_flag=True, help=watch_help)(f)

    return decorate
