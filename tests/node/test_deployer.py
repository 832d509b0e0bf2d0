"""The agent's plan: a pure function from what the chain wants on this node, what the runtime
runs, the time and the agent's memory of crashes and health checks to what to do, so every
rule of the reconciler is checked without a sandbox and without waiting; and the Deployer
driving it over a runtime kept in a dict, with a clock and probes the test sets."""

import threading
from typing import Any, cast

import pytest

from chain.deployment.txs import DeploymentPayload
from chain.encoding import encode
from node.api.client import ApiError, NodeUnreachable
from node.farmer.deployer import (
    RESEND_BLOCKS,
    BehindError,
    Deployer,
    Pause,
    Restart,
    Resume,
    Send,
    Start,
    Stop,
    billable_height,
    plan,
    wanted_from,
)
from node.farmer.workloads import WorkloadRoles
from node.runtime import Observed, ReplicaInfo, ReplicaSpec, ReplicaState, Runtime
from tests.kit.agentkit import NODE, Clock, Said, key, replica, web_spec

CHECKED = web_spec(health={"port": 8080, "path": "/healthz"})


def seen(k: str, state: ReplicaState = ReplicaState.RUNNING, code: int | None = None) -> Observed:
    return Observed(k, state, code, "10.213.0.2", "h", 1234, 0)


def decide(
    replicas: list[dict[str, Any]],
    observed: list[Observed],
    height: int = 100,
    now: float = 1000.0,
    crashes: dict[str, tuple[float, ...]] | None = None,
    unhealthy: dict[str, str] | None = None,
    last_seen: int | None = 100,
) -> list:  # type: ignore[type-arg]
    view = {"height": height, "last_seen": last_seen, "replicas": replicas}
    return plan(
        wanted_from(view),
        {o.key: o for o in observed},
        NODE,
        billable_height(view),
        bill_every=20,
        now=now,
        crashes=crashes or {},
        unhealthy=unhealthy or {},
    )


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


def test_a_replica_is_billed_for_what_the_nodes_heartbeats_proved() -> None:
    """The chain bills only up to the node's latest heartbeat: a period unbilled by height but
    not yet proven is not billed (the chain would refuse it), nor is anything by a node never
    seen; an older node that does not say bills by height."""
    steady = replica(state="deployed", endpoint="10.213.0.2", billed_until=70)
    assert decide([steady], [seen(key())], last_seen=85) == []
    assert decide([steady], [seen(key())], last_seen=None) == []
    (bill,) = decide([steady], [seen(key())], last_seen=90)
    assert isinstance(bill, Send) and bill.what == "bill"
    assert billable_height({"height": 100, "last_seen": 120}) == 100
    assert billable_height({"height": 100}) == 100


def test_what_the_chain_no_longer_wants_is_stopped_whatever_the_reason() -> None:
    # An old version (its key differs), a workload that ended, and one the chain failed.
    actions = decide(
        [replica(version=2), replica(wid=3, state="failed")],
        [seen(key(version=1)), seen(key(wid=2)), seen(key(wid=3))],
    )
    stops = {a.key for a in actions if isinstance(a, Stop)}
    assert stops == {key(version=1), key(wid=2), key(wid=3)}
    assert [a.wanted.version for a in actions if isinstance(a, Start)] == [2]


def test_a_crashed_or_killed_replica_is_restarted_here_with_the_reason() -> None:
    (oom,) = decide([replica(state="deployed")], [seen(key(), ReplicaState.OOM_KILLED, 137)])
    assert oom == Restart(oom.wanted, "killed: out of memory (limit 128 MB)")
    (exited,) = decide([replica(state="deployed")], [seen(key(), ReplicaState.EXITED, 3)])
    assert exited == Restart(exited.wanted, "exited with code 3")
    (early,) = decide([replica()], [seen(key(), ReplicaState.EXITED, None)])
    assert early == Restart(early.wanted, "exited before it started (see the replica's log)")


def crash_loop(every: float, crashes: int) -> list[Any]:
    """What plan says at each of `crashes` crashes `every` seconds apart, the agent counting a
    crash each time it restarts (as Deployer.start does)."""
    history: tuple[float, ...] = ()
    said = []
    for n in range(crashes):
        now = 1000.0 + n * every
        (action,) = decide(
            [replica(state="deployed")],
            [seen(key(), ReplicaState.EXITED, 1)],
            now=now,
            crashes={key(): history},
        )
        said.append(action)
        if isinstance(action, Restart):
            history += (now,)
    return said


def test_four_restarts_within_the_window_then_the_fifth_crash_is_reported_failed() -> None:
    said = crash_loop(every=29.0, crashes=5)  # the fifth 116 s after the first
    assert [type(a) for a in said] == [Restart] * 4 + [Send]
    failed = said[-1]
    assert failed.what == "failed" and not failed.payload.ok
    assert failed.payload.message == "crashed 5 times in 120 s; last: exited with code 1"
    assert failed.payload.endpoint == ""


def test_crashes_spread_wider_than_the_window_keep_restarting() -> None:
    # Every 30 s: the crash 120 s back no longer counts, so never more than 3 earlier ones.
    assert all(isinstance(a, Restart) for a in crash_loop(every=30.0, crashes=12))


def test_the_failed_report_says_how_often_and_the_last_reason() -> None:
    history = (900.0, 950.0, 990.0, 995.0, 999.0)  # 900 is past the window at 1020
    (oom,) = decide(
        [replica(state="deployed")],
        [seen(key(), ReplicaState.OOM_KILLED, 137)],
        now=1020.0,
        crashes={key(): history},
    )
    assert isinstance(oom, Send) and oom.what == "failed"
    assert (
        oom.payload.message  # type: ignore[union-attr]
        == "crashed 5 times in 120 s; last: killed: out of memory (limit 128 MB)"
    )


def test_a_replica_failing_its_health_check_is_restarted_like_a_crash() -> None:
    why = "health check failed: GET /healthz on 10.213.0.2:8080 answered 500"
    steady = replica(state="deployed", endpoint="10.213.0.2", billed_until=95, raw=CHECKED)
    (restart,) = decide([steady], [seen(key())], unhealthy={key(): why})
    assert restart == Restart(restart.wanted, why)
    assert restart.wanted.health is not None and restart.wanted.health.path == "/healthz"
    (failed,) = decide(
        [steady], [seen(key())], unhealthy={key(): why}, crashes={key(): (999.0,) * 4}
    )
    assert isinstance(failed, Send) and failed.payload.message.endswith("last: " + why)  # type: ignore[union-attr]
    # Paused for funds: frozen, not restarted; failed on chain: stopped, not restarted.
    (pause,) = decide([steady | {"paused": True}], [seen(key())], unhealthy={key(): why})
    assert isinstance(pause, Pause)
    (stop,) = decide([steady | {"state": "failed"}], [seen(key())], unhealthy={key(): why})
    assert isinstance(stop, Stop)


def test_a_replica_that_exits_while_its_deployment_is_paused_waits_for_the_resume() -> None:
    exited = seen(key(), ReplicaState.EXITED, 137)
    assert decide([replica(state="deployed", paused=True)], [exited]) == []
    (restart,) = decide([replica(state="deployed")], [exited])
    assert isinstance(restart, Restart)


def test_a_replica_the_chain_holds_failed_is_never_restarted() -> None:
    for state in (ReplicaState.EXITED, ReplicaState.OOM_KILLED):
        (stop,) = decide([replica(state="failed")], [seen(key(), state, 1)])
        assert stop == Stop(key(), "not wanted here")
    assert decide([replica(state="failed")], []) == []


def test_a_returning_node_stops_what_was_moved_away_before_anything_else() -> None:
    """Fencing on the agent's side: a replica moved off this node while it was down is not in
    its wanted list any more; its stale copy is stopped first, and nothing is sent for it."""
    stale = seen(key(wid=1))  # running since before the outage, billed until then
    actions = decide(
        [replica(wid=2), replica(wid=3, state="deployed", endpoint="10.213.0.2")],
        [stale, seen(key(wid=3))],
        height=10_000,
    )
    assert actions[0] == Stop(key(wid=1), "not wanted here")
    assert [type(a) for a in actions[1:]] == [Start, Send]  # wid 2 started, wid 3 billed
    assert all(a.wanted.wid != 1 for a in actions[1:])  # type: ignore[union-attr]


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

    def __init__(self, *running: Observed, exits: bool = False) -> None:
        self.replicas = {o.key: o for o in running}
        self.calls: list[tuple[str, str]] = []
        self.exits = exits  # what it starts exits at once, with code 1

    def observe(self) -> dict[str, Observed]:
        self.calls.append(("observe", ""))
        return dict(self.replicas)

    def start(self, spec: ReplicaSpec) -> ReplicaInfo:
        self.calls.append(("start", spec.key))
        state, code = (ReplicaState.EXITED, 1) if self.exits else (ReplicaState.RUNNING, None)
        self.replicas[spec.key] = Observed(spec.key, state, code, "10.213.0.6", spec.hash, 99, 0)
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


def deployer_over(
    runtime: FakeRuntime, read: Any, sent: list[DeploymentPayload], say: Said, **more: Any
) -> Deployer:
    return Deployer(NODE, cast(Runtime, runtime), read, sent.extend, say, bill_every=20, **more)


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
    # Nothing was looked at or touched while cut off (the exited replica was not restarted);
    # the round that read stopped only what is not wanted.
    assert runtime.calls == [("observe", ""), ("stop", key(wid=2))]
    assert key() in runtime.replicas and sent == []


def test_an_answer_from_a_lower_height_than_already_read_touches_nothing() -> None:
    """A node re-syncing from scratch answers from an old height that may not list a replica
    placed since: the round acts on nothing until the node is back where the agent was."""
    runtime = FakeRuntime(seen(key()))
    answers = [
        {"height": 100, "replicas": [replica(state="deployed", endpoint="10.213.0.6")]},
        {"height": 40, "replicas": []},
    ]
    deployer = deployer_over(runtime, lambda: answers.pop(0), [], Said())
    deployer.round()
    with pytest.raises(BehindError, match="height 40, below 100"):
        deployer.round()
    assert runtime.acted() == [] and key() in runtime.replicas


def test_the_deployer_restarts_a_crash_loop_four_times_then_reports_it_failed_once() -> None:
    runtime = FakeRuntime(exits=True)
    clock, say, sent = Clock(), Said(), []  # type: ignore[var-annotated]
    height = 100

    def read() -> dict[str, Any]:
        return {"height": height, "replicas": [replica()]}

    deployer = deployer_over(runtime, read, sent, say, clock=clock)
    for _ in range(RESEND_BLOCKS + 3):  # a round a second and a block
        deployer.round()
        clock.now += 1
        height += 1
    k = key()
    assert runtime.acted() == [("start", k)] + [("stop", k), ("start", k)] * 4
    restarted = say.of("restarted")
    assert len(restarted) == 4
    assert restarted[0] == f"{k} at 10.213.0.6: exited with code 1 (restart 1 of 4 within 120 s)"
    assert restarted[3].endswith("(restart 4 of 4 within 120 s)")
    # The fifth crash is reported once (not again while the report is in flight), and the
    # replica is left as it is for the chain to release.
    (failed,) = sent
    assert failed.message == "crashed 5 times in 120 s; last: exited with code 1"  # type: ignore[attr-defined]
    assert runtime.replicas[k].state == ReplicaState.EXITED


def test_the_deployer_probes_after_a_grace_and_restarts_after_three_failures() -> None:
    steady = replica(state="deployed", endpoint="10.213.0.2", billed_until=95, raw=CHECKED)
    runtime = FakeRuntime(seen(key()))
    clock, say, sent = Clock(), Said(), []  # type: ignore[var-annotated]
    probed: list[float] = []

    def probe(targets: dict[str, tuple[str, Any]]) -> dict[str, str]:
        probed.extend(clock.now - 1000 for _ in targets)
        for k, (ip, check) in targets.items():  # at the replica's address, as the spec says
            assert ip == runtime.replicas[k].ip and check.port == 8080 and check.path == "/healthz"
        return {k: "GET /healthz on 10.213.0.2:8080 answered 500" for k in targets}

    read = lambda: {"height": 100, "replicas": [steady]}  # noqa: E731
    deployer = deployer_over(runtime, read, sent, say, clock=clock, probe=probe)
    for _ in range(8):
        deployer.round()
        clock.now += 5
    # Seen running at 0: a 10 s grace, then a probe every 5 s; the third failure in a row is a
    # crash (restarted at 20), and the restarted replica gets a grace of its own (from 25).
    assert probed == [10, 15, 20, 35]
    assert runtime.acted() == [("stop", key()), ("start", key())]
    (restarted,) = say.of("restarted")
    assert "health check failed: GET /healthz on 10.213.0.2:8080 answered 500" in restarted
    # Its new address is reported (the fake runtime gives another one).
    assert [p.endpoint for p in sent] == ["10.213.0.6"]  # type: ignore[attr-defined]


def test_a_restarted_agent_stops_a_moved_replica_and_never_bills_or_reports_it() -> None:
    """The agent (a new Deployer: no memory) on a node that was down: the chain moved
    workload 1 away meanwhile, so its copy here is stopped; workload 2 is still wanted."""
    moved, kept = seen(key(wid=1)), seen(key(wid=2))
    runtime = FakeRuntime(moved, kept)
    say, sent = Said(), []  # type: ignore[var-annotated]
    still = replica(wid=2, state="deployed", endpoint="10.213.0.2", billed_until=100)
    height = 200  # long past a billing period of both

    def read() -> dict[str, Any]:
        return {"height": height, "replicas": [still]}

    deployer = deployer_over(runtime, read, sent, say)
    for _ in range(3):
        deployer.round()
        height += RESEND_BLOCKS
    assert runtime.acted() == [("stop", key(wid=1))]
    assert sent and all(p.wid == 2 for p in sent)  # type: ignore[attr-defined]
