"""Local restarts and health checks on the real machine: the Deployer over a real sandbox
Runtime (bubblewrap, cgroups, a network namespace per replica), told by a stand-in for its
node's API what to run, with a clock the test moves so the restart window and the health
check's grace and interval pass without waiting for them.

- a replica whose program exits with code 1 is restarted here four times, then reported
  failed with the count and the reason, and stopped once the chain holds it failed;
- a replica that fails its health check (an HTTP server answering 500, or nothing listening
  on the checked port) is restarted with that reason;
- an agent cut off from its node's API leaves a running replica exactly as it is.

Runtime roots are under /tmp (see tests/node/test_sandbox.py for why); each fixture stops
every replica and removes its root.
"""

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.deployment.spec import Health
from chain.deployment.txs import DeploymentPayload
from node.api.client import NodeUnreachable
from node.farmer.deployer import Deployer
from node.farmer.health import GRACE, probe
from node.farmer.workloads import WorkloadRoles
from node.runtime import ReplicaState, Runtime
from tests.kit.agentkit import NODE, Clock, Said, key, replica, web_spec
from tests.kit.netkit import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform != "linux" or os.geteuid() != 0, reason="the sandbox runs as root on Linux"
    ),
]


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    root = Path(tempfile.mkdtemp(prefix="gc-restarts-test-", dir="/tmp"))
    yield Runtime(root)
    cleanup = Runtime(root)
    for k in cleanup.observe():
        cleanup.stop(k)
    shutil.rmtree(root)


class Chain:
    """What the node's API answers the agent: one replica, in a state the test sets."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.height = 100
        self.state = "assigned"
        self.endpoint: str | None = None

    def read(self) -> dict[str, Any]:
        self.height += 1
        item = replica(raw=self.raw, state=self.state, endpoint=self.endpoint)
        return {"height": self.height, "replicas": [item | {"billed_until": self.height}]}


def agent(runtime: Runtime, chain: Chain, clock: Clock, say: Said) -> tuple[Deployer, list[Any]]:
    sent: list[DeploymentPayload] = []
    deployer = Deployer(NODE, runtime, chain.read, sent.extend, say, bill_every=20, clock=clock)
    return deployer, sent


def state(runtime: Runtime) -> ReplicaState | None:
    found = runtime.observe().get(key())
    return None if found is None else found.state


def test_a_replica_that_exits_is_restarted_four_times_then_reported_failed(
    runtime: Runtime,
) -> None:
    chain, clock, say = Chain(web_spec(entrypoint="sh -c 'exit 1'")), Clock(), Said()
    deployer, sent = agent(runtime, chain, clock, say)
    for _ in range(6):  # a start, four restarts, the report: each round after it exited
        deployer.round()
        wait_until(lambda: state(runtime) != ReplicaState.RUNNING, 15, "the replica to exit")
    assert len(say.of("started")) == 1
    restarted = say.of("restarted")
    assert len(restarted) == 4
    assert all(": exited with code 1 (restart" in line for line in restarted)
    (failed,) = sent
    assert not failed.ok
    assert failed.message == "crashed 5 times in 120 s; last: exited with code 1"
    assert state(runtime) == ReplicaState.EXITED  # left for the chain to decide
    # Once the chain holds it failed, it is stopped, and not started again.
    chain.state = "failed"
    deployer.round()
    deployer.round()
    assert runtime.observe() == {}
    assert len(say.of("started")) == 1 and len(say.of("restarted")) == 4


HTTP_500 = (
    "python3 -c \"import http.server as s; h = type('H', (s.BaseHTTPRequestHandler,), "
    "{'do_GET': lambda r: (r.send_response(500), r.end_headers())}); "
    "s.HTTPServer(('', 8080), h).serve_forever()\""
)


@pytest.mark.parametrize(
    ("entrypoint", "health", "failure"),
    [
        (HTTP_500, {"port": 8080, "path": "/healthz"}, "GET /healthz on {ip}:8080 answered 500"),
        ("sleep 600", {"port": 8080}, "connect to {ip}:8080: Connection refused"),
    ],
    ids=["http-500", "no-listener"],
)
def test_a_replica_failing_its_health_check_is_restarted(
    runtime: Runtime, entrypoint: str, health: dict[str, Any], failure: str
) -> None:
    chain, clock, say = Chain(web_spec(entrypoint=entrypoint, health=health)), Clock(), Said()
    deployer, sent = agent(runtime, chain, clock, say)
    deployer.round()  # started
    first = runtime.observe()[key()]
    check = Health(health["port"], health.get("path", ""))
    expected = failure.format(ip=first.ip)
    # The program is up when it answers as it will (the HTTP server takes a moment).
    wait_until(lambda: probe(first.ip, check) == expected, 15, "the replica to answer")
    deployer.round()  # seen running: its grace starts
    clock.now += GRACE
    for _ in range(3):  # three probes, 5 s apart, fail
        deployer.round()
        clock.now += 5
    (restarted,) = say.of("restarted")
    assert f"health check failed: {expected} (restart 1 of 4 within 120 s)" in restarted
    again = runtime.observe()[key()]
    assert again.state == ReplicaState.RUNNING and again.pid != first.pid
    assert all(p.ok for p in sent)  # reported deployed, never failed


def test_an_agent_cut_off_from_its_node_leaves_a_running_replica_alone(
    runtime: Runtime,
) -> None:
    chain, clock, say = (
        Chain(web_spec(entrypoint="sleep 600", health={"port": 8080})),
        Clock(),
        Said(),
    )
    deployer, sent = agent(runtime, chain, clock, say)
    deployer.round()
    running = runtime.observe()[key()]
    chain.state, chain.endpoint = "deployed", running.ip
    deployer.round()
    # Cut off for long enough that a check (which this replica would fail) and a bill fall due.
    clock.now += 10 * GRACE
    cut_off = 5
    done = threading.Event()
    reads = chain.read

    def read() -> dict[str, Any]:
        nonlocal cut_off
        if cut_off:
            cut_off -= 1
            clock.now += 60
            raise NodeUnreachable("http://127.0.0.1:1", "Connection refused")
        done.set()
        return reads()

    deployer.read = read
    WorkloadRoles(deployer, None, dict, say).run(done, poll=0.001)
    assert len(say.of("error")) == 5
    assert say.of("stopped") == say.of("restarted") == []
    assert runtime.observe()[key()] == running  # the same process, untouched
    assert len(say.of("started")) == 1 and sent == []
