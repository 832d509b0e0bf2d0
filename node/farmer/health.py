"""Health checks of running replicas, from the host, as the spec's `health` field asks.

A replica that runs is not necessarily one that serves: a process stuck in a loop, a server
that lost its listener or answers 500 to everything still shows as running. The agent probes
each replica whose spec has a check at its address (the replica's end of its /30, which the
host reaches as the gateway does): a TCP connect to the port, or an HTTP GET of the path that
must answer 2xx or 3xx. FAILURES consecutive failures count as a crash, which the deployer's
restart policy handles like an exit.

The bookkeeping is pure (ProbeState and the functions over it, driven by the caller's clock);
only `probe` and `probe_all` touch the network. A probe is bounded by its own deadline (the
connect, the request and the status line together), so a replica that accepts and never
answers costs a round about a second, never more; only replicas due for a probe are probed,
all at once on a few threads.
"""

import socket
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from chain.deployment.spec import Health

GRACE = 10.0  # seconds after a replica is (re)started, or first seen by this agent, before probing
EVERY = 5.0  # seconds between two probes of one replica
FAILURES = 3  # consecutive failed probes that count as a crash
TIMEOUT = 1.0  # seconds one probe may take, all of it
MAX_THREADS = 16
STATUS_LINE_BYTES = 1024


@dataclass(frozen=True)
class ProbeState:
    """What the agent knows of one running replica's health, in memory only."""

    since: float  # when this agent (re)started it or first saw it running
    last: float | None = None  # when it was last probed
    failures: int = 0  # consecutive failed probes
    what: str = ""  # what the last failed probe met

    def due(self, now: float) -> bool:
        if now - self.since < GRACE:
            return False
        return self.last is None or now - self.last >= EVERY

    @property
    def verdict(self) -> str:
        """Empty while it passes; the crash reason once it failed FAILURES probes in a row."""
        if self.failures < FAILURES:
            return ""
        return f"health check failed: {self.what}"


def tracked(
    probes: Mapping[str, ProbeState], running: Iterable[str], now: float
) -> dict[str, ProbeState]:
    """The states of the replicas to check now: each running one keeps its state or starts a
    fresh one (its grace from `now`); any other is forgotten, so a replica that stopped,
    paused or was restarted starts over with a grace when it runs again."""
    return {key: probes.get(key) or ProbeState(since=now) for key in running}


def after_probe(state: ProbeState, now: float, failure: str) -> ProbeState:
    """The state after a probe at `now` that met `failure` ("" when it passed)."""
    if not failure:
        return replace(state, last=now, failures=0, what="")
    return replace(state, last=now, failures=state.failures + 1, what=failure)


def probe(ip: str, check: Health, timeout: float = TIMEOUT) -> str:
    """Probe `ip` as `check` says; "" if it passed, else what it met. Never longer than
    `timeout` seconds, whatever the other end does."""
    deadline = time.monotonic() + timeout
    where = f"{ip}:{check.port}"
    what = f"GET {check.path} on {where}" if check.path else f"connect to {where}"
    try:
        with socket.create_connection((ip, check.port), timeout=timeout) as sock:
            if not check.path:
                return ""
            status = http_status(sock, where, check.path, deadline)
    except TimeoutError:
        return f"{what}: no answer within {timeout:g} s"
    except OSError as exc:
        return f"{what}: {exc.strerror or exc}"
    if status is None:
        return f"{what}: the answer is not HTTP"
    if not 200 <= status < 400:
        return f"{what} answered {status}"
    return ""


def http_status(sock: socket.socket, host: str, path: str, deadline: float) -> int | None:
    """Send a GET of `path` and read the status code off the answer's first line (None if it
    is not an HTTP status line); TimeoutError at `deadline`."""
    request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: gridchain-agent\r\n"
    sock.settimeout(left(deadline))
    sock.sendall((request + "Connection: close\r\n\r\n").encode("ascii"))
    answer = b""
    while b"\r\n" not in answer and len(answer) < STATUS_LINE_BYTES:
        sock.settimeout(left(deadline))
        chunk = sock.recv(STATUS_LINE_BYTES)
        if not chunk:
            break
        answer += chunk
    parts = answer.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def left(deadline: float) -> float:
    """Seconds until `deadline`; TimeoutError if it has passed (a zero timeout would make the
    socket non-blocking, not expired)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining


def probe_all(
    targets: Mapping[str, tuple[str, Health]], timeout: float = TIMEOUT
) -> dict[str, str]:
    """Probe each key's (ip, check) at once; each key's failure, "" if it passed."""
    if not targets:
        return {}
    with ThreadPoolExecutor(min(MAX_THREADS, len(targets)), "health") as pool:
        futures = {
            key: pool.submit(probe, ip, check, timeout) for key, (ip, check) in targets.items()
        }
        return {key: future.result() for key, future in futures.items()}
