"""The deployment role of a farm node: run exactly the replicas the chain placed here.

A level-triggered reconciler (Kubernetes' controller rule): every round it reads what the chain
wants on this node (committed blocks only, so final) and what the sandbox runtime runs, and
acts on the difference: start what is wanted and missing, stop what is not wanted (ended,
re-placed, an old version), pause what the chain paused (its escrow ran short) and resume it,
report on chain what it observed (deployed with its address, or failed with the reason), and
bill deployed replicas as time passes. It keeps nothing it cannot lose: the runtime's records
and the chain are the whole truth, so a restarted agent finds its replicas running, never
starts one twice and never leaves one running that the chain does not want.

What it sends is only a wish until a block holds it; a report or bill already sent is not sent
again for `RESEND_BLOCKS` blocks (the memory of that is the one thing a restart loses, and then
the chain refuses a repeat as already done).
"""

import hashlib
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.address import parse_address
from chain.deployment.records import DEPLOYED, FAILED
from chain.deployment.txs import DeploymentPayload, ReplicaBill, ReplicaReport
from chain.encoding import decode
from chain.hashing import hash32
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


Action = Start | Stop | Pause | Resume | Send


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


def wanted_from(view: dict[str, Any]) -> list[Wanted]:
    """The replicas in the API's answer for this node (GET /v1/nodes/{id}/replicas), each
    checked: the spec's bytes must hash to the hash the chain authorized."""
    wanted = []
    for r in view["replicas"]:
        key = replica_key(r["contract"], r["workload_id"], r["workload"], r["index"], r["version"])
        raw = bytes.fromhex(r["spec"])
        spec: ReplicaSpec | None = None
        problem = ""
        if hash32(raw).hex() != r["spec_hash"]:
            problem = "the spec served does not hash to the authorized spec hash"
        else:
            try:
                spec = replica_spec(key, decode(raw), r["workload"])
            except (ValueError, KeyError, SandboxError) as exc:
                problem = f"cannot run here: {exc}"
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


def plan(
    wanted: Sequence[Wanted],
    observed: dict[str, Observed],
    node: int,
    height: int,
    bill_every: int,
) -> list[Action]:
    """What to do this round: a pure function of desired and observed state."""
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
            elif w.chain_state != DEPLOYED or w.endpoint != o.ip:
                actions.append(Send(w, w.report(True, "running", o.ip, node), "deployed"))
            elif height - w.billed_until >= bill_every:
                actions.append(Send(w, w.bill(node), "bill"))
        elif o.state == ReplicaState.PAUSED:
            if not w.paused:
                actions.append(Resume(w.key))
        else:  # exited or killed
            reason = failure_reason(o, w.spec.memory_mb)
            actions.append(Send(w, w.report(False, reason, "", node), "failed"))
    return actions


@dataclass
class Deployer:
    """Runs `plan` against a runtime, and sends what it decides through `send` (the farmer's
    sender, which owns the node key's nonces)."""

    node: int
    runtime: Runtime
    read: Callable[[], dict[str, Any]]  # GET /v1/nodes/{node}/replicas
    send: Callable[[list[DeploymentPayload]], None]
    say: Callable[..., None]
    bill_every: int
    in_flight: dict[tuple[str, str], int] = field(default_factory=dict)

    def round(self) -> list[Action]:
        """One look and the actions it took."""
        view = self.read()
        height = int(view["height"])
        wanted = wanted_from(view)
        actions = plan(wanted, self.runtime.observe(), self.node, height, self.bill_every)
        to_send: list[DeploymentPayload] = []
        for action in actions:
            if isinstance(action, Send):
                if self.sent_recently(action, height):
                    continue
                self.in_flight[(action.wanted.key, action.what)] = height
                to_send.append(action.payload)
            elif isinstance(action, Start) and self.failed_recently(action.wanted, height):
                continue  # its failure is on its way to the chain: do not retry meanwhile
            else:
                failed = self.apply(action)
                if failed is not None:
                    self.in_flight[(failed_key(failed), "failed")] = height
                    to_send.append(failed)
        if to_send:
            self.send(to_send)
        return actions

    def sent_recently(self, action: Send, height: int) -> bool:
        sent = self.in_flight.get((action.wanted.key, action.what))
        return sent is not None and height - sent < RESEND_BLOCKS

    def failed_recently(self, w: Wanted, height: int) -> bool:
        sent = self.in_flight.get((w.key, "failed"))
        return sent is not None and height - sent < RESEND_BLOCKS

    def apply(self, action: Start | Stop | Pause | Resume) -> DeploymentPayload | None:
        """Do it; a replica that cannot start here is reported failed with the reason."""
        if isinstance(action, Start):
            w = action.wanted
            if w.spec is None:  # plan starts only runnable replicas
                return None
            try:
                info = self.runtime.start(w.spec)
            except SandboxError as exc:
                self.say("failed", f"{w.key}: {exc.message}", key=w.key, code=exc.code)
                return w.report(False, exc.message, "", self.node)
            self.say("started", f"{w.key} at {info.ip}", key=w.key, ip=info.ip)
        elif isinstance(action, Stop):
            self.runtime.stop(action.key)
            self.say("stopped", f"{action.key}: {action.why}", key=action.key)
        elif isinstance(action, Pause):
            self.runtime.pause(action.key)
            self.say("paused", f"{action.key}: its escrow ran short", key=action.key)
        else:
            self.runtime.resume(action.key)
            self.say("resumed", f"{action.key}", key=action.key)
        return None
