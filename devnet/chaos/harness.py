"""The chaos run: the devnet up, workloads deployed, the load started, faults drawn from the
seed for the run's length, the invariants watched throughout; then everything healed and the
final checks made once the grid has settled. The report says what ran and what broke.

Threads: the schedule (this one), one per fault in progress, the chain watcher (every node's
height and every block it has, twice a second), the grid watcher (validators, replicas and
farmers, every few seconds), and the load's senders.
"""

import contextlib
import json
import os
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts_std.requirement import workload_address
from devnet.chaos.checks import (
    ChainView,
    Doubles,
    Liveness,
    Tally,
    billing_problems,
    block_time_problems,
    evidence_problems,
    has_quorum,
    replica_of,
    validator_problems,
)
from devnet.chaos.cluster import ChaosNet, abandon, launch
from devnet.chaos.fabric import Fabric
from devnet.chaos.faults import Fault, Schedule, Slots
from devnet.chaos.load import Load
from devnet.customer import Event, Owner, Sender, deployment_events, web_spec
from devnet.processes import STOP_TIMEOUT, DevnetError, Progress, log_tail, quiet
from node.api.client import ApiError, NodeClient
from node.keystore import Keystore
from node.runtime.errors import SandboxError
from node.runtime.sandbox import ReplicaState, Runtime

LIVENESS_BOUND = 30.0  # seconds from a quorum's return to the next block
DOUBLE_GRACE = 20.0  # seconds a replica may run on two live nodes (the old one tearing down)
SETTLE_TIMEOUT = 240.0  # seconds for the grid to settle once every fault is healed
WATCH_EVERY = 0.5
GRID_EVERY = 5.0
REQUEST_TIMEOUT = 1.5
BLOCKS_PER_LOOK = 40  # blocks fetched from one node per look (a node catching up is followed)
DEPOSIT = 10**9  # a workload's escrow: enough for hours of billing at the devnet's prices
DEPLOY_TIMEOUT = 180.0


@dataclass(frozen=True)
class ChaosConfig:
    seconds: float
    seed: int
    validators: int = 4
    farmers: int = 3
    workloads: int = 2
    senders: int = 8
    directory: Path | None = None
    keep: bool = False


@dataclass
class Applied:
    """One fault as it ran: when it began and was healed, and when its nodes were back."""

    fault: Fault
    began: float
    healed: float | None = None
    head_at_heal: int = 0
    recovered: float | None = None
    error: str | None = None


@dataclass
class Harness:
    config: ChaosConfig
    net: ChaosNet
    load: Load
    wids: list[int]
    say: Progress
    started: float = field(default_factory=time.monotonic)
    tally: Tally = field(default_factory=Tally)
    view: ChainView = field(default_factory=ChainView)
    liveness: Liveness = field(default_factory=lambda: Liveness(LIVENESS_BOUND))
    doubles: Doubles = field(default_factory=lambda: Doubles(DOUBLE_GRACE))
    applied: list[Applied] = field(default_factory=list)
    down: set[int] = field(default_factory=set)  # validators not serving now
    checked: dict[int, int] = field(default_factory=dict)  # validator: blocks checked up to
    pids: dict[int, int | None] = field(default_factory=dict)
    stakes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # the watchers end
    halting: threading.Event = field(default_factory=threading.Event)  # the run ends early
    events: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def note(self, what: str, **fields: Any) -> None:
        event = {"at_s": round(self.now(), 2), "event": what, **fields}
        with self.lock:
            self.events.append(event)

    def violate(self, invariant: str, problems: list[str]) -> None:
        for v in self.tally.record(invariant, self.now(), problems):
            self.say(f"VIOLATION {v.invariant} at {v.at:.0f} s: {v.message}")
            self.note("violation", invariant=v.invariant, message=v.message)

    # The faults

    def perform(self, applied: Applied) -> None:
        fault = applied.fault
        try:
            self._apply(fault)
        except (DevnetError, SandboxError, OSError) as exc:
            applied.error = str(exc)
        except Exception as exc:  # a harness bug: said in the report, the run goes on
            applied.error = f"{type(exc).__name__}: {exc}"
        finally:
            applied.healed = time.monotonic()
            applied.head_at_heal = self.view.head
            self.note("healed", number=fault.number, error=applied.error)

    def _apply(self, f: Fault) -> None:
        """Apply the fault, hold it, undo it. What is undone on the network and the disk is
        undone whatever happens (a fault that fails half way must not leave a partition or a
        full disk behind); processes are started again unless the run is halting (its cleanup
        stops them all)."""
        net = self.net
        self._mark_down(f.validators if f.kind != "split" else ())
        if f.kind in ("kill", "kill_two"):
            try:
                for i in f.validators:
                    net.kill_node(i)
                self.halting.wait(f.seconds)
            finally:
                self._start_all(f.validators)
        elif f.kind == "pause":
            try:
                net.pause_node(f.validators[0])
                self.halting.wait(f.seconds)
            finally:
                net.resume_node(f.validators[0])
                self._mark_up(f.validators)
        elif f.kind == "torn_wal":
            try:
                net.kill_node(f.validators[0])
                cut = net.tear_wal(f.validators[0], f.detail)
                self.note("torn_wal", number=f.number, cut=cut)
                self.halting.wait(f.seconds)
            finally:
                self._start_all(f.validators)
        elif f.kind == "restart":
            try:
                net.stop_node(f.validators[0])
            finally:
                self._start_all(f.validators)
        elif f.kind == "split":
            try:
                net.fabric.split([list(g) for g in f.groups])
                self.halting.wait(f.seconds)
            finally:
                net.fabric.heal_cuts()
        elif f.kind == "isolate":
            try:
                net.fabric.isolate(f.validators[0])
                self.halting.wait(f.seconds)
            finally:
                net.fabric.rejoin(f.validators[0])
                self._mark_up(f.validators)
        elif f.kind == "flap":
            self._flap(f)
        elif f.kind == "disk_full":
            self._disk_full(f)
        elif f.kind == "clock_skew":
            try:
                net.stop_node(f.validators[0])
                self._start_all(f.validators, f.detail)
                self.halting.wait(f.seconds)
                self._mark_down(f.validators)
                net.stop_node(f.validators[0])
            finally:
                self._start_all(f.validators)  # with the true clock
        elif f.kind == "farmer_crash":
            net.crash_farmer(f.farmer)
            self.halting.wait(f.seconds)
            if not self.halting.is_set():
                net.start_farmer(f.farmer)

    def _flap(self, f: Fault) -> None:
        i, rng = f.validators[0], random.Random(f.detail)
        end = time.monotonic() + f.seconds
        try:
            while time.monotonic() < end and not self.halting.is_set():
                self.net.fabric.isolate(i)
                self.halting.wait(rng.uniform(0.2, 2.0))
                self.net.fabric.rejoin(i)
                self.halting.wait(rng.uniform(0.2, 2.0))
        finally:
            self.net.fabric.rejoin(i)
            self._mark_up(f.validators)

    def _disk_full(self, f: Fault) -> None:
        """The node may stop on the full disk (it cannot even log why: the log is on that
        disk); it must start again once the disk has room, with every block it had."""
        i = f.validators[0]
        try:
            taken = self.net.fill_disk()
            self.halting.wait(f.seconds)
        finally:
            self.net.free_disk()
        stopped = not self.net.running(i)
        self.note("disk_full", number=f.number, taken_bytes=taken, node_stopped=stopped)
        if stopped:
            self._start_all(f.validators)
        else:
            self._mark_up(f.validators)

    def _start_all(self, validators: tuple[int, ...], clock_offset_s: int = 0) -> None:
        """Start each again (each tried even if another fails; the first failure raised)."""
        failure: BaseException | None = None
        for i in validators:
            if self.halting.is_set():
                return
            if self.net.running(i):  # a step before failed: it was never stopped
                self._mark_up((i,))
                continue
            try:
                self._start(i, clock_offset_s)
            except (DevnetError, OSError) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _start(self, i: int, clock_offset_s: int = 0) -> None:
        self.net.start_node(i, clock_offset_s)
        self._mark_up((i,))

    def _mark_down(self, validators: tuple[int, ...]) -> None:
        with self.lock:
            self.down.update(validators)

    def _mark_up(self, validators: tuple[int, ...]) -> None:
        with self.lock:
            self.down.difference_update(validators)

    # Watching the chain

    def watch_chain(self) -> None:
        apis = [n.api for n in self.net.devnet.nodes]
        with ThreadPoolExecutor(len(apis)) as pool:
            while not self.stop.is_set():
                try:
                    list(pool.map(self._look, range(len(apis))))
                    with self.lock:
                        down = set(self.down)
                    quorum = has_quorum(self.net.validators, down, self.net.fabric.connected)
                    now, head = self.now(), self.view.head
                    self.violate_if("liveness", self.liveness.tick(now, head, quorum))
                    self._mark_recovered()
                except Exception as exc:  # a harness bug must not end the watching
                    self.note("watcher_error", error=f"{type(exc).__name__}: {exc}")
                self.stop.wait(WATCH_EVERY)

    def violate_if(self, invariant: str, problems: list[str]) -> None:
        if problems:
            self.violate(invariant, problems)
        else:
            self.tally.record(invariant, self.now(), [])

    def _look(self, i: int) -> None:
        entry = self.net.node(i)
        client = NodeClient(entry.api, timeout=REQUEST_TIMEOUT, busy_retry=0)
        try:
            status = client.status()
            height = int(status["height"])
            with self.lock:
                problems = self.view.height(entry.name, height)
            self.violate_if("final_kept", problems)
            now_ms = int(time.time() * 1000)
            dated = block_time_problems(entry.name, height, int(status["time_ms"]), now_ms)
            self.violate_if("block_time", dated)
            restarted = self.pids.get(i) != entry.pid
            self.pids[i] = entry.pid
            start = self.checked.get(i, 0)
            if restarted and start:
                self._check_block(client, entry.name, start)  # still the block it had?
            for h in range(start + 1, min(height, start + BLOCKS_PER_LOOK) + 1):
                self._check_block(client, entry.name, h)
                self.checked[i] = h
        except (ApiError, KeyError, ValueError, TypeError):
            return  # down, paused, cut off: looked at again next time

    def _check_block(self, client: NodeClient, node: str, height: int) -> None:
        block = client.block(height)
        with self.lock:
            problems = self.view.block(node, height, str(block["header"]["hash"]))
        self.violate_if("no_fork", problems)
        self.violate_if("validators_honest", evidence_problems(height, block))

    def _mark_recovered(self) -> None:
        """A healed fault is recovered once each of its validators has the head it was healed
        at (a split or a farmer: once the chain is past it)."""
        now = time.monotonic()
        with self.lock:
            heights = dict(self.view.heights)
            waiting = [a for a in self.applied if a.healed is not None and a.recovered is None]
        for a in waiting:
            names = [f"node{i}" for i in a.fault.validators]
            if a.fault.kind in ("split", "farmer_crash"):
                done = self.view.head > a.head_at_heal
            else:
                done = all(heights.get(n, 0) >= a.head_at_heal for n in names)
            if done:
                a.recovered = now

    # Watching the grid

    def watch_grid(self) -> None:
        while not self.stop.wait(GRID_EVERY):
            try:
                self.check_grid()
            except Exception as exc:  # a harness bug must not end the watching
                self.note("watcher_error", error=f"{type(exc).__name__}: {exc}")

    def check_grid(self) -> None:
        self._check_processes()  # first: when every node is down it matters most
        client = self._client()
        if client is None:
            return
        try:
            self.violate_if("validators_honest", self._validator_problems(client))
            self.violate_if("replicas", self.doubles.tick(self.now(), self._running(client)))
        except (ApiError, KeyError, ValueError, TypeError):
            return

    def _client(self) -> NodeClient | None:
        """A client of a validator that answers now."""
        for entry in random.sample(self.net.devnet.nodes, len(self.net.devnet.nodes)):
            client = NodeClient(entry.api, timeout=REQUEST_TIMEOUT, busy_retry=0)
            with contextlib.suppress(ApiError):
                client.status()
                return client
        return None

    def _validator_problems(self, client: NodeClient) -> list[str]:
        view = client.get("/v1/validators")
        if not self.stakes:
            self.stakes = {v["public_key"]: int(v["blockstake"]) for v in view["validators"]}
        return validator_problems(view, self.stakes)

    def _running(self, client: NodeClient) -> dict[str, set[tuple[int, str, int]]]:
        """The replicas each farmer runs whose node the chain holds up and whose agent lives."""
        running = {}
        for farmer in self.net.devnet.farmers:
            if farmer.node is None or not farmer.alive():
                continue
            if client.node(farmer.node).get("down") is not None:
                continue
            try:
                seen = Runtime(farmer.runtime, subnet=farmer.subnet).observe()
            except SandboxError:
                continue
            running[farmer.name] = {
                replica_of(key) for key, o in seen.items() if o.state == ReplicaState.RUNNING
            }
        return running

    def _check_processes(self) -> None:
        """A node or farmer that exited while no fault held it: a violation, then started
        again so the run goes on."""
        if self.halting.is_set():
            return
        with self.lock:  # a fault drawn meanwhile is appended under it before it kills
            if self.halting.is_set():
                return
            held = {i for a in self.applied if a.healed is None for i in a.fault.validators}
            farmers = {a.fault.farmer for a in self.applied if a.healed is None}
            exited = [
                i for i in range(self.net.validators) if i not in held and not self.net.running(i)
            ]
            gone = [f for f in self.net.devnet.farmers if f.name not in farmers and not f.alive()]
        problems = [
            f"node{i} exited on its own: {log_tail(Path(self.net.node(i).home) / 'node.log', 15)}"
            for i in exited
        ] + [f"{f.name} exited on its own: {log_tail(f.log, 15)}" for f in gone]
        self.violate_if("processes", problems)
        for i in exited:  # started again, so the run goes on
            with contextlib.suppress(DevnetError):
                if not self.halting.is_set():
                    self._start(i)
        for farmer in gone:
            with contextlib.suppress(DevnetError):
                if not self.halting.is_set():
                    self.net.start_farmer(farmer.name)

    # The end

    def settle(self) -> dict[str, Any]:
        """Once every fault is healed: the chain advancing on every node, every accepted
        transaction resolved, every replica deployed on one node; then the final checks."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        began = time.monotonic()
        self.load.halt()
        for t in self.load.threads:
            t.join(timeout=5)
        target = self.view.head + 3
        caught_up = self._until(
            deadline, lambda: min(self.view.heights.values(), default=0) >= target
        )
        if not caught_up:
            self.violate("liveness", [f"not every node reached height {target} after the faults"])
        self.load.resolve(deadline)
        lost = [
            f"transaction {o.tx_id[:16]} (nonce {o.nonce} of {o.sender[:12]}) accepted by "
            f"{o.accepted_by} at {o.accepted_at - self.started:.0f} s is neither committed nor "
            f"rejected ({self._whereabouts(o.tx_id)})"
            for o in self.load.pending()
        ]
        self.violate_if("txs_resolved", lost + self._revived())
        placed = self._until(deadline, self._replicas_in_place)
        if not placed:
            self.violate("replicas", [self._replicas_problem() or "replicas not in place"])
        client = self._client()
        if client is None:
            self.violate("liveness", ["no validator answers after the faults"])
            return {"seconds": time.monotonic() - began}
        self.violate_if("billing", billing_problems(*self._billing(client)))
        self.violate_if("validators_honest", self._validator_problems(client))
        return {"seconds": round(time.monotonic() - began, 1), "height": self.view.head}

    def _revived(self) -> list[str]:
        """Transactions a node reported rejected that some node now has committed."""
        found = []
        for o in [o for o in self.load.outcomes if o.status == "rejected"]:
            said = self._whereabouts(o.tx_id)
            if "committed" in said:
                found.append(
                    f"transaction {o.tx_id[:16]} was reported rejected ({o.reason}), yet {said}"
                )
        return found

    def _whereabouts(self, tx_id: str) -> str:
        """What each validator says of a transaction."""
        said = []
        for entry in self.net.devnet.nodes:
            try:
                status = NodeClient(entry.api, timeout=REQUEST_TIMEOUT).tx(tx_id).get("status")
            except ApiError as exc:
                status = exc.code
            said.append(f"{entry.name}: {status}")
        return ", ".join(said)

    def _until(self, deadline: float, done: Any) -> bool:
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(1)
        return bool(done())

    def _replicas_in_place(self) -> bool:
        return self._replicas_problem() is None

    def _replicas_problem(self) -> str | None:
        """What keeps the replicas from being as the chain says: each deployed on a node that
        is up, running there and nowhere else."""
        client = self._client()
        if client is None:
            return "no validator answers"
        try:
            running = self._running(client)
            by_node = {f.node: f.name for f in self.net.devnet.farmers}
            for wid in self.wids:
                view = client.deployment(str(workload_address()), wid)
                for r in view["replicas"]:
                    replica = (wid, r["workload"], r["index"])
                    if r["state"] != "deployed":
                        return f"replica {replica} is {r['state']}: {r['message']}"
                    where = sorted(f for f, rs in running.items() if replica in rs)
                    if where != [by_node.get(r["node"])]:
                        return f"replica {replica} on node {r['node']} runs on {where or 'none'}"
        except (ApiError, KeyError, ValueError, TypeError) as exc:
            return f"could not read the grid: {exc}"
        return None

    def _billing(self, client: NodeClient) -> tuple[list[Event], dict[int, dict[str, Any]]]:
        topics = ("bill", "placed", "moving", "gave_up")
        events = deployment_events(client, self.wids, topics)
        contract = str(workload_address())
        return events, {wid: client.deployment(contract, wid) for wid in self.wids}

    def report(self, settled: dict[str, Any]) -> dict[str, Any]:
        kinds = Counter(a.fault.kind for a in self.applied)
        recoveries = sorted(
            a.recovered - a.healed
            for a in self.applied
            if a.recovered is not None and a.healed is not None
        )
        outcomes = self.load.outcomes
        finals = sorted(o.final_at - o.accepted_at for o in outcomes if o.final_at is not None)
        return {
            "seed": self.config.seed,
            "seconds": self.config.seconds,
            "validators": self.config.validators,
            "farmers": self.config.farmers,
            "workloads": len(self.wids),
            "perturbations": {"total": len(self.applied), **dict(sorted(kinds.items()))},
            "harness_errors": [e for e in self.events if e["event"] == "watcher_error"][:20],
            "fault_errors": [
                {"fault": a.fault.describe(), "error": a.error} for a in self.applied if a.error
            ],
            "invariants": self.tally.to_json(),
            "violations": [v.to_json() for v in self.tally.violations],
            "recovery_s": _distribution(recoveries),
            "unrecovered": sum(a.recovered is None for a in self.applied),
            "quorum_recovery_s": _distribution(sorted(self.liveness.recoveries)),
            "liveness_bound_s": LIVENESS_BOUND,
            "txs": {
                "accepted": len(outcomes),
                "committed": sum(o.status == "committed" for o in outcomes),
                "rejected": sum(o.status == "rejected" for o in outcomes),
                "unresolved": sum(o.status == "pending" for o in outcomes),
                "rejected_reasons": dict(
                    sorted(Counter(o.reason for o in outcomes if o.status == "rejected").items())
                ),
                "refused_at_submission": dict(sorted(self.load.refused.items())),
                "unanswered_offers": self.load.unanswered,
                "submit_to_final_s": _distribution(finals),
            },
            "height": self.view.head,
            "settle": settled,
            "network": {"tag": self.net.fabric.tag, "subnet": f"10.200.{self.net.fabric.k}.0/24"},
            "directory": str(self.net.directory),
            "replay": f"gridchain devnet chaos --seconds {self.config.seconds:g} "
            f"--seed {self.config.seed}",
        }


def _distribution(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 2)

    return {"count": len(values), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


def run(config: ChaosConfig, say: Progress = quiet) -> dict[str, Any]:
    """The whole run; the report (also written to DIR/report.json, before the devnet is
    brought down, so a cleanup that fails loses no finding)."""
    root = config.directory or Path(tempfile.mkdtemp(prefix="gc-chaos-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the replicas' own uids walk through it to their disks
    tag = f"{os.getpid() % 100_000:05d}"
    fabric = Fabric(tag, config.validators, 1 + os.getpid() % 250)
    say(f"chaos devnet under {root} (seed {config.seed}, {config.seconds:g} s)")
    net: ChaosNet | None = None
    report: dict[str, Any] = {}
    try:
        net = launch(root / "devnet", config.validators, config.farmers, fabric, say)
        report = _drive(_prepare(config, net, say))
        (root / "report.json").write_text(json.dumps(report, indent=2))
    finally:
        say("bringing the chaos devnet down")
        if net is not None:
            net.close()
        else:  # launch failed half way: whatever it started, by what devnet.json records
            abandon(root / "devnet", fabric)
    if not report.get("violations") and not config.keep:
        shutil.rmtree(root, ignore_errors=True)
        report["directory"] = None
    return report


def _prepare(config: ChaosConfig, net: ChaosNet, say: Progress) -> Harness:
    """Workloads deployed and running, the senders funded."""
    devnet = net.devnet
    apis = [n.api for n in devnet.nodes]
    alice = Keystore(Path(devnet.keystore)).load("alice", devnet.passphrase)
    client = NodeClient(apis[0], timeout=10)
    owner = Owner(Sender.open(client, alice))
    specs = []
    for w in range(config.workloads):
        spec = web_spec(f"chaos{w}", f"chaos{w}", f"page {w}")
        spec["budget"] = DEPOSIT
        spec["expiry_blocks"] = 10_000
        specs.append(spec)
    say(f"deploying {config.workloads} workloads")
    wids = owner.submit(specs, deposit=DEPOSIT)
    for wid in wids:
        owner.approve(wid)
    say(f"funding {config.senders} senders")
    load = Load.funded(apis, owner.sender.key, config.senders, config.seed)
    harness = Harness(config, net, load, wids, say)
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    if not harness._until(deadline, harness._replicas_in_place):
        raise DevnetError(
            f"workloads not running after {DEPLOY_TIMEOUT:g} s: {harness._replicas_problem()}"
        )
    return harness


def _drive(h: Harness) -> dict[str, Any]:
    """The schedule for the run's length, with the watchers; then settle and report. However
    it ends (an error, SIGTERM), every thread is stopped before the devnet is brought down,
    so nothing restarts what the cleanup stops."""
    slots = Slots(h.config.validators, h.net.disk_node, [f.name for f in h.net.devnet.farmers])
    schedule = Schedule(h.config.seed, slots)
    h.started = time.monotonic()
    watchers = [threading.Thread(target=t, daemon=True) for t in (h.watch_chain, h.watch_grid)]
    workers: list[threading.Thread] = []
    try:
        h.load.start()
        for t in watchers:
            t.start()
        _schedule(h, schedule, slots, workers)
        h.say("healing every fault")
        for worker in workers:
            worker.join()
        h.say("settling")
        settled = h.settle()
    finally:
        h.halting.set()
        h.stop.set()
        h.load.halt()
        for thread in [*workers, *watchers, *h.load.threads]:
            thread.join(timeout=STOP_TIMEOUT)
        events = h.net.directory.parent / "events.jsonl"
        events.write_text("".join(json.dumps(e) + "\n" for e in h.events))
    return h.report(settled)


def _schedule(
    h: Harness, schedule: Schedule, slots: Slots, workers: list[threading.Thread]
) -> None:
    """Draw faults for the run's length, each run by a thread of its own."""
    end = time.monotonic() + h.config.seconds
    last_said = 0.0
    while time.monotonic() < end:
        time.sleep(schedule.gap())
        fault = schedule.draw(time.monotonic())
        if fault is None:
            continue
        applied = Applied(fault, time.monotonic())
        with h.lock:  # the process check sees it held before it kills anything
            h.applied.append(applied)
        h.note("fault", **fault.to_json())

        def perform(a: Applied = applied) -> None:
            h.perform(a)
            slots.give_back(a.fault, a.began, time.monotonic())

        worker = threading.Thread(target=perform, daemon=True)
        worker.start()
        workers.append(worker)
        if time.monotonic() - last_said > 10:
            last_said = time.monotonic()
            h.say(
                f"{h.now():.0f} s: {len(h.applied)} faults, height {h.view.head}, "
                f"{len(h.tally.violations)} violations; now {fault.describe()}"
            )
