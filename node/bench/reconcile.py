"""`gridchain bench deploy`, the agent's part: the CPU of one reconcile round of a farm node's
deployment agent (node/farmer/deployer.py) with 100 replicas, and, on request, real sandbox
starts.

The API's answer for a node holding `replicas` replicas of as many deployments is made by the
API's own replicas_of (node/api/deployments.py) over an in-memory state and sent through JSON as
the client gets it; the runtime's side is `replicas` Observed replicas. A round is wanted_from
(hash and decode every spec) and plan, timed when nothing changes (steady), when some replicas
need a start, and when every replica is due a bill. No sandbox is started unless
--sandbox-starts asks for real ones (root and bubblewrap, from `make install`).
"""

import functools
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from chain.address import Address
from chain.deployment.records import (
    DEPLOYED,
    PLACED,
    Deployment,
    DeploymentRef,
    NodeLoad,
    Replica,
    ReplicaRef,
    deployment_key,
    deployment_spec_key,
    encode_deployment,
    encode_node_load,
    node_load_key,
)
from chain.farming.txs import Resources
from chain.hashing import hash32
from chain.params import ChainParams
from chain.state import Overlay
from chain.store import Snapshot
from contracts_std.spec import load_spec, spec_bytes
from node.api.deployments import replicas_of
from node.bench.timing import ms, summary_ms, timed
from node.farmer.deployer import Start, Wanted, plan, wanted_from
from node.runtime import Observed, ReplicaState

Progress = Callable[[str], None]

PARAMS = ChainParams()  # billing_period_blocks: how often the agent bills a replica
PAYER = Address(bytes([1]) + hash32(b"bench-deploy/payer"))
NODE, HEIGHT = 7, 10_000


class _Empty:
    def get_state(self, key: bytes) -> bytes | None:
        return None


def _agent_spec(i: int) -> bytes:
    """A typical one-container spec (entrypoint, env, a disk, a port), its name made unique."""
    document = {
        "name": f"app-{i}",
        "workloads": [
            {"type": "disk", "name": "data", "size_gb": 10},
            {
                "type": "container",
                "name": "web",
                "image": "host",
                "cpu": 1,
                "memory_mb": 512,
                "entrypoint": "python3 -m http.server 8000 --directory /data",
                "env": {"MODE": "production", "WORKERS": "4", "APP": f"app-{i}"},
                "mounts": [{"disk": "data", "mountpoint": "/data"}],
                "ports": [8000],
            },
        ],
        "placement": {"replicas": 3, "spread": "farm"},
        "budget": 10**9,
    }
    return spec_bytes(load_spec(document))


def _endpoint(i: int) -> str:
    return f"10.213.{(i * 4) // 256}.{(i * 4) % 256 + 2}"


def agent_state(replicas: int, node: int, height: int) -> Overlay:
    """`replicas` deployments, one replica of each deployed on `node`, billed 10 blocks ago."""
    state = Overlay(_Empty())
    refs = []
    for i in range(replicas):
        ref = DeploymentRef(Address(bytes([2]) + hash32(b"bench-deploy/app/%d" % (i % 10))), i)
        raw = _agent_spec(i)
        replica = Replica("web", i % 3, node, DEPLOYED, "running", height - 50, _endpoint(i))
        replica = replace(replica, billed_until=height - 10)
        d = Deployment(
            ref,
            1,
            hash32(raw),
            PLACED,
            "",
            requested=height - 60,
            expires=height + 10**6,
            payer=PAYER,
            seed=hash32(b"seed"),
            replicas=(replica,),
            escrow=10**9,
        )
        state.set_state(deployment_key(ref), encode_deployment(d))
        state.set_state(deployment_spec_key(ref), raw)
        refs.append(ReplicaRef(ref, "web", i % 3))
    state.set_state(
        node_load_key(node), encode_node_load(NodeLoad(Resources(0, 0, 0, 0), tuple(refs)))
    )
    return state


def observed_for(wanted: list[Wanted]) -> dict[str, Observed]:
    """The runtime showing every wanted replica running at the endpoint the chain knows."""
    return {
        w.key: Observed(
            w.key,
            ReplicaState.RUNNING,
            None,
            w.endpoint,
            w.spec.hash if w.spec else "",
            1000 + n,
            0,
        )
        for n, w in enumerate(wanted)
    }


@dataclass(frozen=True)
class AgentBench:
    replicas: int
    missing: int
    rounds: int
    api_s: list[float]  # replicas_of on an in-memory state (the server's share, LevelDB aside)
    body_bytes: int
    json_s: list[float]  # the client decoding the answer
    wanted_s: list[float]
    plan_s: dict[str, list[float]]  # steady, start, bill
    actions: dict[str, int]
    runtime: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        def median_ms(values: list[float]) -> float:
            return ms(statistics.median(values))

        steady = [a + b for a, b in zip(self.wanted_s, self.plan_s["steady"], strict=True)]
        return {
            "replicas": self.replicas,
            "rounds": self.rounds,
            "body_bytes": self.body_bytes,
            "api_replicas_of_ms": summary_ms(self.api_s),
            "json_decode_ms": summary_ms(self.json_s),
            "wanted_from_ms": summary_ms(self.wanted_s),
            "plan_ms": {name: summary_ms(values) for name, values in self.plan_s.items()},
            "actions": self.actions,
            "missing": self.missing,
            "round_ms": {
                "steady": summary_ms(steady),
                "including_json": median_ms(
                    [a + b for a, b in zip(steady, self.json_s, strict=True)]
                ),
            },
            "sandbox": self.runtime,
        }


def bench_agent(
    replicas: int, missing: int, rounds: int, say: Progress, sandbox_starts: int = 0
) -> AgentBench:
    node, height = NODE, HEIGHT
    state = agent_state(replicas, node, height)
    snap = cast(Snapshot, state)  # replicas_of reads records only
    answer = {"height": height, "node": node, "replicas": replicas_of(snap, node)}
    body = json.dumps(answer).encode()
    view: dict[str, Any] = json.loads(body)
    wanted = wanted_from(view)
    if len(wanted) != replicas or any(w.spec is None for w in wanted):
        raise RuntimeError("the agent could not run every replica of the view")
    everything = observed_for(wanted)
    some_missing = {
        k: o for k, o in everything.items() if k not in {w.key for w in wanted[:missing]}
    }
    due_height = height + PARAMS.billing_period_blocks
    inputs = {
        "steady": (everything, height),
        "start": (some_missing, height),
        "bill": (everything, due_height),
    }
    say(f"agent: {rounds} reconcile rounds of {replicas} replicas ({len(body):,} bytes of JSON)...")
    api_s: list[float] = []
    json_s: list[float] = []
    wanted_s: list[float] = []
    plan_s: dict[str, list[float]] = {name: [] for name in inputs}
    actions: dict[str, int] = {}
    names = list(inputs)
    for round_ in range(rounds):
        start = time.perf_counter()
        replicas_of(snap, node)
        api_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        view = json.loads(body)
        json_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        wanted = wanted_from(view)
        wanted_s.append(time.perf_counter() - start)
        # The plans take turns going first: the first one after wanted_from's allocations
        # tends to pay for a garbage collection.
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            observed, at = inputs[name]
            start = time.perf_counter()
            # No replica crashed or failed a health check lately: nothing to restart.
            planned = plan(
                wanted, observed, node, at, PARAMS.billing_period_blocks,
                now=0.0, crashes={}, unhealthy={},
            )  # fmt: skip
            plan_s[name].append(time.perf_counter() - start)
            actions[name] = len(planned)
    starts = plan(
        wanted, some_missing, node, height, PARAMS.billing_period_blocks,
        now=0.0, crashes={}, unhealthy={},
    )  # fmt: skip
    if actions["steady"] != 0 or [type(a) for a in starts] != [Start] * missing:
        raise RuntimeError(f"the plan is not what the case says: {actions}")
    if actions["bill"] != replicas:
        raise RuntimeError(f"{actions['bill']} bills planned, not {replicas}")
    runtime = sandbox_starts_bench(sandbox_starts, wanted, say) if sandbox_starts else None
    return AgentBench(
        replicas, missing, rounds, api_s, len(body), json_s, wanted_s, plan_s, actions, runtime
    )


SANDBOX_SUBNET = "10.219.0.0/16"  # not the runtime's default, which tests and farmers use


SANDBOX_DISK_MB = 1024  # the disk every other started replica gets (the spec's, made smaller)


def sandbox_starts_bench(count: int, wanted: list[Wanted], say: Progress) -> dict[str, Any]:
    """Real Runtime.start of `count` host-image replicas (sleeping), every other one with a
    1 GiB disk (an ext4 loop image), then observe with all of them running, then stop each."""
    from node.runtime import Runtime, SandboxError

    specs = []
    for n, w in enumerate(wanted[:count]):
        if w.spec is None:
            raise RuntimeError("a wanted replica has no spec")
        disks = tuple(replace(d, size_mb=SANDBOX_DISK_MB) for d in w.spec.disks if n % 2)
        specs.append(replace(w.spec, entrypoint=("sleep", "600"), disks=disks))
    root = Path(tempfile.mkdtemp(prefix="gc-bench-deploy-", dir="/tmp"))
    say(f"sandbox: starting {len(specs)} host-image replicas under {root}...")
    try:
        runtime = Runtime(root, subnet=SANDBOX_SUBNET)
    except SandboxError as exc:
        shutil.rmtree(root, ignore_errors=True)
        return {"error": exc.message}
    start_s: dict[bool, list[float]] = {False: [], True: []}  # with a disk or not
    observe_s: list[float] = []
    stop_s: list[float] = []
    try:
        for spec in specs:
            t, _ = timed(functools.partial(runtime.start, spec))
            start_s[bool(spec.disks)].append(t)
        for _ in range(5):
            t, seen = timed(runtime.observe)
            observe_s.append(t)
        running = sum(o.state == ReplicaState.RUNNING for o in seen.values())
        for spec in specs:
            t, _ = timed(functools.partial(runtime.stop, spec.key))
            stop_s.append(t)
    finally:
        for key in runtime.observe():
            runtime.stop(key)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "replicas": len(specs),
        "running": running,
        "start_ms": summary_ms(start_s[False]),
        "start_with_disk_ms": summary_ms(start_s[True]) if start_s[True] else None,
        "disk_mb": SANDBOX_DISK_MB,
        "observe_ms": summary_ms(observe_s),
        "stop_ms": summary_ms(stop_s),
    }


__all__ = ["AgentBench", "agent_state", "bench_agent", "observed_for", "sandbox_starts_bench"]
