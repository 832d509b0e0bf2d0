"""Health checks: the counting (grace, interval, failures in a row) as pure functions of the
time, and the probes themselves against servers on loopback (a listener, HTTP answers of each
kind, one that accepts and never answers, a closed port)."""

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from chain.deployment.spec import Health
from node.farmer.health import (
    EVERY,
    FAILURES,
    GRACE,
    ProbeState,
    after_probe,
    probe,
    probe_all,
    tracked,
)


def test_a_replica_is_probed_after_its_grace_then_every_interval() -> None:
    state = ProbeState(since=100.0)
    assert not state.due(100.0) and not state.due(100.0 + GRACE - 0.1)
    assert state.due(100.0 + GRACE)
    state = after_probe(state, 100.0 + GRACE, "")
    assert not state.due(100.0 + GRACE + EVERY - 0.1)
    assert state.due(100.0 + GRACE + EVERY)


def test_only_failures_in_a_row_count_and_the_verdict_says_the_last() -> None:
    state = ProbeState(since=0.0)
    for n in range(FAILURES - 1):
        state = after_probe(state, 10.0 + n, f"failure {n}")
        assert state.verdict == ""
    state = after_probe(state, 20.0, "")  # one pass starts the count over
    assert state.failures == 0 and state.verdict == ""
    for n in range(FAILURES):
        state = after_probe(state, 30.0 + n, f"connect to 10.213.0.2:80: refused {n}")
    assert state.verdict == f"health check failed: connect to 10.213.0.2:80: refused {FAILURES - 1}"


def test_what_stops_running_is_forgotten_and_starts_over_with_a_grace() -> None:
    failing = ProbeState(since=0.0, last=20.0, failures=2, what="x")
    probes = tracked({"a": failing, "b": failing}, ["a", "c"], now=50.0)
    assert probes == {"a": failing, "c": ProbeState(since=50.0)}
    assert tracked(probes, ["c"], now=60.0) == {"c": ProbeState(since=50.0)}
    assert tracked({}, ["a"], now=70.0)["a"].due(70.0 + GRACE)


class Answer(http.server.BaseHTTPRequestHandler):
    """GET /<status> answers that status."""

    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.send_header("Location", "/200")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_tcp_check_passes_on_a_listener_and_fails_on_a_closed_port(http_port: int) -> None:
    assert probe("127.0.0.1", Health(http_port)) == ""
    port = closed_port()
    assert probe("127.0.0.1", Health(port)) == f"connect to 127.0.0.1:{port}: Connection refused"


@pytest.mark.parametrize(
    ("status", "passes"), [(200, True), (302, True), (404, False), (500, False)]
)
def test_an_http_check_passes_on_2xx_and_3xx_only(
    http_port: int, status: int, passes: bool
) -> None:
    failure = probe("127.0.0.1", Health(http_port, f"/{status}"))
    assert failure == (
        "" if passes else f"GET /{status} on 127.0.0.1:{http_port} answered {status}"
    )


def test_a_check_of_a_server_that_never_answers_ends_at_its_timeout(silent_port: int) -> None:
    where = f"127.0.0.1:{silent_port}"
    assert probe("127.0.0.1", Health(silent_port, "/"), timeout=0.2) == (
        f"GET / on {where}: no answer within 0.2 s"
    )
    assert probe("127.0.0.1", Health(silent_port)) == ""  # it does accept: TCP passes


def test_a_check_of_something_that_is_not_http_says_so() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def greet() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        threading.Thread(target=greet, daemon=True).start()
        assert probe("127.0.0.1", Health(port, "/")) == (
            f"GET / on 127.0.0.1:{port}: the answer is not HTTP"
        )


def test_probes_run_together_and_each_says_its_own(http_port: int) -> None:
    port = closed_port()
    results = probe_all(
        {
            "ok": ("127.0.0.1", Health(http_port, "/204")),
            "bad": ("127.0.0.1", Health(http_port, "/503")),
            "down": ("127.0.0.1", Health(port)),
        }
    )
    assert results == {
        "ok": "",
        "bad": f"GET /503 on 127.0.0.1:{http_port} answered 503",
        "down": f"connect to 127.0.0.1:{port}: Connection refused",
    }
    assert probe_all({}) == {}
