"""The deployment role of a farm node: run exactly the replicas the chain placed here.

A level-triggered reconciler (Kubernetes' controller rule): every round it reads what the chain
wants on this node (committed blocks only, so final) and what the sandbox runtime runs, and
acts on the difference: start what is wanted and missing, stop what is not wanted (ended,
re-placed, an old version), pause what the chain paused (its escrow ran short) and resume it,
report on chain what it observed (deployed with its address, or failed with the reason), and
bill deployed replicas as time passes. It keeps nothing it cannot lose: the runtime's records
and the chain are the whole truth, so a restarted agent finds its replicas running, never
starts one twice and never leaves one running that the chain does not want.

A replica that exits, is killed for memory or fails its health check is restarted here, up to
RESTARTS times within WINDOW seconds (ThreeFold's zos restarts a VM up to 4 times in 2
minutes); the next crash within the window is reported `failed` with what happened, and the
chain decides where it runs next. A crash needs no chain to be seen, so this is the node's
own first response; a node that cannot keep it alive hands it back.

What it sends is only a wish until a block holds it; a report or bill already sent is not sent
again for `RESEND_BLOCKS` blocks. That, the times of recent crashes and the health probes'
counts are all it remembers, in memory only: a restarted agent forgets them, so it re-sends
(the chain refuses a repeat as already done), gives a crash-looping replica a fresh
allowance of restarts, and a running replica a fresh grace before its first probe.
"""

import hashlib
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.address import parse_address
from chain.deployment.records import DEPLOYED, FAILED
from chain.deployment.spec import Health, health_check
from chain.deployment.txs import DeploymentPayload, ReplicaBill, ReplicaReport
from chain.encoding import decode
from chain.errors import GridchainError
from chain.hashing import hash32
from node.farmer.health import ProbeState, after_probe, probe_all, tracked
from node.runtime import (
    HOST_IMAGE,
    DiskMount,
    Observed,
    ReplicaSpec,
    ReplicaState,
    Runtime,
    SandboxError,
)

RESEND_BLOCKS = 5
RESTARTS = 4  # local restarts of a crashed replica within WINDOW before it is reported failed
WINDOW = 120.0  # seconds
DEFAULT_PIDS = 512  # processes a replica may have: the spec does not say
MB_PER_GB = 1024


@dataclass(frozen=True)
class Wanted:
    """One replica the chain placed on this node, with what this machine runs for it."""

    contract: str
    wid: int
    version: int
    workload: str
    index: int
    chain_state: str  # assigned, deployed or failed
    endpoint: str
    billed_until: int
    paused: bool
    key: str
    spec: ReplicaSpec | None  # None: the spec cannot run here (`problem` says why)
    problem: str = ""
    health: Health | None = None  # the spec's health check of this workload, if any

    def report(self, ok: bool, message: str, endpoint: str, node: int) -> ReplicaReport:
        return ReplicaReport(
            node,
            parse_address(self.contract),
            self.wid,
            self.version,
            self.workload,
            self.index,
            ok,
            message[:256],
            endpoint,
        )

    def bill(self, node: int) -> ReplicaBill:
        return ReplicaBill(
            node, parse_address(self.contract), self.wid, self.version, self.workload, self.index
        )


# Actions: what one round decides


@dataclass(frozen=True)
class Start:
    wanted: Wanted


@dataclass(frozen=True)
class Restart:
    """Stop what is left of a crashed replica and start it again, here."""

    wanted: Wanted
    reason: str  # what happened to it: "exited with code 1", "health check failed: ..."


@dataclass(frozen=True)
class Stop:
    key: str
    why: str


@dataclass(frozen=True)
class Pause:
    key: str


@dataclass(frozen=True)
class Resume:
    key: str


@dataclass(frozen=True)
class Send:
    wanted: Wanted
    payload: DeploymentPayload
    what: str  # "deployed", "failed" or "bill": one of each is in flight at a time


Action = Start | Restart | Stop | Pause | Resume | Send


def replica_key(contract: str, wid: int, workload: str, index: int, version: int) -> str:
    """The runtime's name for a replica: a DNS label that changes with the version, so a new
    version is a new replica and the old one is simply no longer wanted."""
    digest = hashlib.sha256(f"{contract}/{wid}/{version}".encode()).hexdigest()[:8]
    return f"w{wid}-{workload}-{index}-{digest}"


def replica_spec(key: str, spec: dict[str, Any], workload: str) -> ReplicaSpec:
    """What the runtime runs for one replica of `workload` in a chain spec (as decoded)."""
    items = {w["name"]: w for w in spec["workloads"]}
    w = items[workload]
    if w["type"] != "container":
        raise ValueError(f"{w['type']} workloads need a hypervisor this node does not have")
    argv = tuple(shlex.split(w["entrypoint"]))
    if not argv:
        raise ValueError(f"workload {workload} has no entrypoint to run")
    disks = tuple(
        DiskMount(m["disk"], m["mountpoint"], items[m["disk"]]["size_gb"] * MB_PER_GB)
        for m in w["mounts"]
    )
    return ReplicaSpec(
        key=key,
        image=w["image"],
        image_url=w["image_url"] if w["image"] != HOST_IMAGE else "",
        entrypoint=argv,
        cpu_millicores=w["cpu"] * 1000,
        memory_mb=w["memory_mb"],
        pids_max=DEFAULT_PIDS,
        env=tuple(sorted(w["env"].items())),
        disks=disks,
        ports=tuple(w["ports"]),
    )


def health_of(spec: dict[str, Any], workload: str) -> Health | None:
    """The health check of `workload` in a chain spec (as decoded), read as the chain reads it."""
    w = next(w for w in spec["workloads"] if w["name"] == workload)
    return health_check(w["health"], workload, tuple(w["ports"]))


def wanted_from(view: dict[str, Any]) -> list[Wanted]:
    """The replicas in the API's answer for this node (GET /v1/nodes/{id}/replicas), each
    checked: the spec's bytes must hash to the hash the chain authorized."""
    wanted = []
    for r in view["replicas"]:
        key = replica_key(r["contract"], r["workload_id"], r["workload"], r["index"], r["version"])
        raw = bytes.fromhex(r["spec"])
        spec: ReplicaSpec | None = None
        health: Health | None = None
        problem = ""
        if hash32(raw).hex() != r["spec_hash"]:
            problem = "the spec served does not hash to the authorized spec hash"
        else:
            try:
                document = decode(raw)
                spec = replica_spec(key, document, r["workload"])
                health = health_of(document, r["workload"])
            except (ValueError, KeyError, GridchainError) as exc:
                spec, problem = None, f"cannot run here: {exc}"
        wanted.append(
            Wanted(
                contract=r["contract"],
                wid=r["workload_id"],
                version=r["version"],
                workload=r["workload"],
                index=r["index"],
                chain_state=r["state"],
                endpoint=r["endpoint"] or "",
                billed_until=r["billed_until"],
                paused=r["paused"],
                key=key,
                spec=spec,
                problem=problem,
                health=health,
            )
        )
    return wanted


def failed_key(report: DeploymentPayload) -> str:
    return replica_key(
        str(report.contract), report.wid, report.workload, report.index, report.version
    )


def failure_reason(o: Observed, memory_mb: int) -> str:
    if o.state == ReplicaState.OOM_KILLED:
        return f"killed: out of memory (limit {memory_mb} MB)"
    if o.exit_code is None:
        return "exited before it started (see the replica's log)"
    return f"exited with code {o.exit_code}"


def recent(crashes: Iterable[float], now: float) -> tuple[float, ...]:
    """The crash times that still count at `now`: those within the last WINDOW seconds."""
    return tuple(t for t in crashes if now - t < WINDOW)


def after_crash(w: Wanted, reason: str, crashes: Iterable[float], now: float, node: int) -> Action:
    """A crash (`reason`) of a replica that crashed at `crashes` before: restart it here, or,
    past RESTARTS restarts within WINDOW, report it failed with its count and the last reason."""
    earlier = recent(crashes, now)
    if len(earlier) < RESTARTS:
        return Restart(w, reason)
    message = f"crashed {len(earlier) + 1} times in {WINDOW:g} s; last: {reason}"
    return Send(w, w.report(False, message, "", node), "failed")


def billable_height(view: dict[str, Any]) -> int:
    """The height a bill sent now would cover up to, as the chain bills
    (chain/deployment/billing.py, billable_until): the node's latest heartbeat, never past the
    answer's height; none yet is 0. A node that does not say (an older release) bills to its
    height."""
    height = int(view["height"])
    last_seen = view.get("last_seen", height)
    return 0 if last_seen is None else min(height, int(last_seen))


def plan(
    wanted: Sequence[Wanted],
    observed: Mapping[str, Observed],
    node: int,
    billable: int,
    bill_every: int,
    *,
    now: float,
    crashes: Mapping[str, Sequence[float]],
    unhealthy: Mapping[str, str],
) -> list[Action]:
    """What to do this round: a pure function of desired and observed state, the height a
    bill sent now would cover up to (`billable`: billable_height), the time `now` (seconds,
    any origin, as `crashes` uses), each replica's recent crash times (`crashes`) and why a
    running replica failed its health check (`unhealthy`). Every Stop comes first: a copy
    the chain no longer wants here (moved away while this node was down, say) is torn down
    before anything is started or sent."""
    actions: list[Action] = []
    keep = {w.key for w in wanted if w.chain_state != FAILED and w.spec is not None}
    for key in sorted(observed):
        if key not in keep:
            actions.append(Stop(key, "not wanted here"))
    for w in wanted:
        if w.spec is None:
            if w.chain_state != FAILED:
                actions.append(Send(w, w.report(False, w.problem, "", node), "failed"))
            continue
        if w.chain_state == FAILED:
            continue  # stopped above; the chain decides what happens next
        o = observed.get(w.key)
        if o is None:
            if not w.paused:
                actions.append(Start(w))
        elif o.state == ReplicaState.RUNNING:
            if w.paused:
                actions.append(Pause(w.key))
            elif w.key in unhealthy:
                actions.append(after_crash(w, unhealthy[w.key], crashes.get(w.key, ()), now, node))
            elif w.chain_state != DEPLOYED or w.endpoint != o.ip:
                actions.append(Send(w, w.report(True, "running", o.ip, node), "deployed"))
            elif billable - w.billed_until >= bill_every:
                actions.append(Send(w, w.bill(node), "bill"))
        elif o.state == ReplicaState.PAUSED:
            if not w.paused:
                actions.append(Resume(w.key))
        elif not w.paused:  # exited or killed (if paused: restarted once it resumes)
            reason = failure_reason(o, w.spec.memory_mb)
            actions.append(after_crash(w, reason, crashes.get(w.key, ()), now, node))
    return actions


def crash_memory(
    crashes: Mapping[str, Sequence[float]], now: float, keys: Iterable[str]
) -> dict[str, tuple[float, ...]]:
    """The crash times worth keeping at `now`: within WINDOW, of replicas still there."""
    kept = {key: recent(crashes.get(key, ()), now) for key in keys}
    return {key: times for key, times in kept.items() if times}


def health_targets(
    wanted: Sequence[Wanted], observed: Mapping[str, Observed]
) -> dict[str, tuple[str, Health]]:
    """The running replicas to health-check, with their address and check: each wanted here,
    with a check in its spec, running and not paused (nor failed on chain: it is on its way
    out)."""
    targets = {}
    for w in wanted:
        o = observed.get(w.key)
        if (
            w.health is not None
            and o is not None
            and o.state == ReplicaState.RUNNING
            and not w.paused
            and w.chain_state != FAILED
        ):
            targets[w.key] = (o.ip, w.health)
    return targets


class BehindError(GridchainError):
    """The node read is behind what this agent already saw: the round acts on nothing."""

    code = "behind"


@dataclass
class Deployer:
    """Runs `plan` against a runtime, and sends what it decides through `send` (the farmer's
    sender, which owns the node key's nonces). `clock` gives the time crashes and probes are
    counted in (monotonic seconds); `probe` checks replicas' health (health.probe_all)."""

    node: int
    runtime: Runtime
    read: Callable[[], dict[str, Any]]  # GET /v1/nodes/{node}/replicas
    send: Callable[[list[DeploymentPayload]], None]
    say: Callable[..., None]
    bill_every: int
    clock: Callable[[], float] = time.monotonic
    probe: Callable[[Mapping[str, tuple[str, Health]]], dict[str, str]] = probe_all
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)
    crashes: dict[str, tuple[float, ...]] = field(default_factory=dict)  # recent, per key
    probes: dict[str, ProbeState] = field(default_factory=dict)
    highest: int = 0  # the highest height read so far

    def round(self) -> list[Action]:
        """One look and the actions it took. Nothing is touched unless the chain was read:
        a read that fails raises before the runtime is even looked at, and so does an answer
        from a lower height than one already read (a node re-syncing from scratch, or another
        node behind): acting on it could stop replicas a later block still wants."""
        view = self.read()
        height = int(view["height"])
        if height < self.highest:
            raise BehindError(
                f"the node answers from height {height}, below {self.highest} already read: "
                "waiting for it to catch up"
            )
        self.highest = height
        wanted = wanted_from(view)
        observed = self.runtime.observe()
        now = self.clock()
        self.crashes = crash_memory(self.crashes, now, observed)
        unhealthy = self.check_health(wanted, observed, now)
        actions = plan(
            wanted,
            observed,
            self.node,
            billable_height(view),
            self.bill_every,
            now=now,
            crashes=self.crashes,
            unhealthy=unhealthy,
        )
        to_send: list[DeploymentPayload] = []
        for action in actions:
            if isinstance(action, Send):
                if self.sent_recently(action, height):
                    continue
                self.in_flight[(action.wanted.key, action.what)] = height
                to_send.append(action.payload)
            elif isinstance(action, Start | Restart) and self.failed_recently(
                action.wanted, height
            ):
                continue  # its failure is on its way to the chain: do not retry meanwhile
            else:
                failed = self.apply(action, now)
                if failed is not None:
                    self.in_flight[(failed_key(failed), "failed")] = height
                    to_send.append(failed)
        if to_send:
            self.send(to_send)
        return actions

    def check_health(
        self, wanted: Sequence[Wanted], observed: Mapping[str, Observed], now: float
    ) -> dict[str, str]:
        """Probe the replicas due for a probe; why each replica that failed FAILURES probes
        in a row is unhealthy."""
        targets = health_targets(wanted, observed)
        self.probes = tracked(self.probes, targets, now)
        due = {key: targets[key] for key, state in self.probes.items() if state.due(now)}
        for key, failure in self.probe(due).items():
            self.probes[key] = after_probe(self.probes[key], now, failure)
        return {key: state.verdict for key, state in self.probes.items() if state.verdict}

    def sent_recently(self, action: Send, height: int) -> bool:
        sent = self.in_flight.get((action.wanted.key, action.what))
        return sent is not None and height - sent < RESEND_BLOCKS

    def failed_recently(self, w: Wanted, height: int) -> bool:
        sent = self.in_flight.get((w.key, "failed"))
        return sent is not None and height - sent < RESEND_BLOCKS

    def apply(
        self, action: Start | Restart | Stop | Pause | Resume, now: float
    ) -> DeploymentPayload | None:
        """Do it; a replica that cannot start here is reported failed with the reason."""
        if isinstance(action, Start | Restart):
            return self.start(action, now)
        if isinstance(action, Stop):
            self.runtime.stop(action.key)
            self.say("stopped", f"{action.key}: {action.why}", key=action.key)
        elif isinstance(action, Pause):
            self.runtime.pause(action.key)
            self.say("paused", f"{action.key}: its escrow ran short", key=action.key)
        else:
            self.runtime.resume(action.key)
            self.say("resumed", f"{action.key}", key=action.key)
        return None

    def start(self, action: Start | Restart, now: float) -> DeploymentPayload | None:
        """Start a replica, or restart a crashed one: what is left of it is torn down first
        (its disks too: they start empty, as on any other node), the crash is counted, and its
        address is reported again if it changed."""
        w = action.wanted
        if w.spec is None:  # plan starts only runnable replicas
            return None
        if isinstance(action, Restart):
            self.runtime.stop(w.key)
            self.crashes[w.key] = (*self.crashes.get(w.key, ()), now)
            self.probes.pop(w.key, None)
            self.in_flight.pop((w.key, "deployed"), None)
        try:
            info = self.runtime.start(w.spec)
        except SandboxError as exc:
            self.say("failed", f"{w.key}: {exc.message}", key=w.key, code=exc.code)
            return w.report(False, exc.message, "", self.node)
        if isinstance(action, Start):
            self.say("started", f"{w.key} at {info.ip}", key=w.key, ip=info.ip)
            return None
        count = len(self.crashes[w.key])
        self.say(
            "restarted",
            f"{w.key} at {info.ip}: {action.reason} (restart {count} of {RESTARTS} within "
            f"{WINDOW:g} s)",
            key=w.key,
            ip=info.ip,
            reason=action.reason,
            restarts=count,
        )
        return None
