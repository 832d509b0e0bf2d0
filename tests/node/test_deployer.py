"""The agent's plan: a pure function from what the chain wants on this node and what the
runtime runs to what to do, so every rule of the reconciler is checked without a sandbox."""

import threading
from typing import Any, cast

from chain.deployment.txs import DeploymentPayload
from chain.encoding import encode
from chain.hashing import hash32
from contracts_std.requirement import workload_address
from contracts_std.spec import load_spec, spec_bytes
from node.api.client import ApiError, NodeUnreachable
from node.farmer.deployer import (
    Deployer,
    Pause,
    Resume,
    Send,
    Start,
    Stop,
    plan,
    replica_key,
    wanted_from,
)
from node.farmer.workloads import WorkloadRoles
from node.runtime import Observed, ReplicaInfo, ReplicaSpec, ReplicaState, Runtime

NODE = 7
CONTRACT = str(workload_address())
SPEC = spec_bytes(
    load_spec(
        {
            "name": "web",
            "workloads": [
                {
                    "type": "container",
                    "name": "site",
                    "image": "host",
                    "cpu": 1,
                    "memory_mb": 128,
                    "entrypoint": "python3 -m http.server 8080",
                    "ports": [8080],
                }
            ],
            "budget": 1,
        }
    )
)


def replica(wid: int = 1, state: str = "assigned", **over: Any) -> dict[str, Any]:
    item = {
        "contract": CONTRACT,
        "workload_id": wid,
        "version": 1,
        "workload": "site",
        "index": 0,
        "state": state,
        "message": "",
        "endpoint": None,
        "billed_until": 0,
        "paused": False,
        "spec_hash": hash32(SPEC).hex(),
        "spec": SPEC.hex(),
    }
    return item | over


def key(wid: int = 1, version: int = 1) -> str:
    return replica_key(CONTRACT, wid, "site", 0, version)


def seen(k: str, state: ReplicaState = ReplicaState.RUNNING, code: int | None = None) -> Observed:
    return Observed(k, state, code, "10.213.0.2", "h", 1234, 0)


def decide(replicas: list[dict[str, Any]], observed: list[Observed], height: int = 100) -> list:  # type: ignore[type-arg]
    wanted = wanted_from({"height": height, "replicas": replicas})
    return plan(wanted, {o.key: o for o in observed}, NODE, height, bill_every=20)


def test_a_wanted_replica_is_started_and_then_reported_deployed_with_its_address() -> None:
    started = decide([replica()], [])
    assert len(started) == 1 and isinstance(started[0], Start)
    assert started[0].wanted.spec is not None
    assert started[0].wanted.spec.entrypoint == ("python3", "-m", "http.server", "8080")
    assert started[0].wanted.spec.cpu_millicores == 1000
    (report,) = decide([replica()], [seen(key())])
    assert isinstance(report, Send) and report.what == "deployed"
    assert report.payload.ok and report.payload.endpoint == "10.213.0.2"  # type: ignore[union-attr]
    # Deployed and billed recently: nothing to do; a billing period later: a bill.
    steady = replica(state="deployed", endpoint="10.213.0.2", billed_until=90)
    assert decide([steady], [seen(key())]) == []
    (bill,) = decide([steady | {"billed_until": 70}], [seen(key())])
    assert isinstance(bill, Send) and bill.what == "bill"


def test_what_the_chain_no_longer_wants_is_stopped_whatever_the_reason() -> None:
    # An old version (its key differs), a workload that ended, and one the chain failed.
    actions = decide(
        [replica(version=2), replica(wid=3, state="failed")],
        [seen(key(version=1)), seen(key(wid=2)), seen(key(wid=3))],
    )
    stops = {a.key for a in actions if isinstance(a, Stop)}
    assert stops == {key(version=1), key(wid=2), key(wid=3)}
    assert [a.wanted.version for a in actions if isinstance(a, Start)] == [2]


def test_a_crashed_or_killed_replica_is_reported_failed_with_the_reason() -> None:
    (oom,) = decide([replica(state="deployed")], [seen(key(), ReplicaState.OOM_KILLED, 137)])
    assert isinstance(oom, Send) and oom.what == "failed"
    assert oom.payload.message == "killed: out of memory (limit 128 MB)"  # type: ignore[union-attr]
    (exited,) = decide([replica(state="deployed")], [seen(key(), ReplicaState.EXITED, 3)])
    assert exited.payload.message == "exited with code 3"  # type: ignore[union-attr]


def test_a_paused_deployment_is_frozen_and_thawed_and_not_started_while_paused() -> None:
    assert decide([replica(state="deployed", paused=True)], []) == []
    (pause,) = decide([replica(state="deployed", paused=True)], [seen(key())])
    assert isinstance(pause, Pause)
    (resume,) = decide([replica(state="deployed")], [seen(key(), ReplicaState.PAUSED)])
    assert isinstance(resume, Resume)


def test_a_spec_that_does_not_hash_to_the_authorized_hash_is_never_run() -> None:
    forged = replica(spec=encode({"name": "other"}).hex())
    (report,) = decide([forged], [])
    assert isinstance(report, Send) and report.what == "failed"
    assert "does not hash to the authorized spec hash" in report.payload.message  # type: ignore[union-attr]


class FakeRuntime:
    """The runtime's interface over a dict, recording what the deployer asked of it."""

    def __init__(self, *running: Observed) -> None:
        self.replicas = {o.key: o for o in running}
        self.calls: list[tuple[str, str]] = []

    def observe(self) -> dict[str, Observed]:
        self.calls.append(("observe", ""))
        return dict(self.replicas)

    def start(self, spec: ReplicaSpec) -> ReplicaInfo:
        self.calls.append(("start", spec.key))
        self.replicas[spec.key] = Observed(
            spec.key, ReplicaState.RUNNING, None, "10.213.0.6", spec.hash, 99, 0
        )
        return ReplicaInfo(spec.key, "10.213.0.6", 99, spec.hash)

    def stop(self, key: str) -> None:
        self.calls.append(("stop", key))
        self.replicas.pop(key, None)

    def pause(self, key: str) -> None:
        self.calls.append(("pause", key))

    def resume(self, key: str) -> None:
        self.calls.append(("resume", key))

    def acted(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "observe"]


class Said:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, text: str, **data: Any) -> None:
        self.events.append((event, text))

    def of(self, event: str) -> list[str]:
        return [text for e, text in self.events if e == event]


def deployer_over(
    runtime: FakeRuntime, read: Any, sent: list[DeploymentPayload], say: Said
) -> Deployer:
    return Deployer(NODE, cast(Runtime, runtime), read, sent.extend, say, bill_every=20)


def test_an_agent_cut_off_from_its_node_touches_nothing_and_catches_up_after() -> None:
    """Rounds that cannot read the chain (unreachable, an error answered) leave every replica
    as it is and keep the loop alive; the first round that reads acts as usual."""
    runtime = FakeRuntime(seen(key()), seen(key(wid=2), ReplicaState.EXITED, 1))
    done = threading.Event()
    steady = replica(state="deployed", endpoint="10.213.0.2", billed_until=95)
    answers: list[Exception | dict[str, Any]] = [
        NodeUnreachable("http://127.0.0.1:1", "Connection refused"),
        ApiError("catching_up", "the node is catching up", 503),
        NodeUnreachable("http://127.0.0.1:1", "no answer within 10 s"),
        {"height": 100, "replicas": [steady]},
    ]

    def read() -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        done.set()
        return answer

    sent: list[DeploymentPayload] = []
    say = Said()
    roles = WorkloadRoles(deployer_over(runtime, read, sent, say), None, dict, say)
    roles.run(done, poll=0.001)
    assert len(say.of("error")) == 3 and "catching up" in say.of("error")[1]
    # Nothing was touched while cut off; the round that read stopped only what is not wanted.
    assert runtime.acted() == [("stop", key(wid=2))]
    assert key() in runtime.replicas and sent == []
