"""`gridchain bench heal`: time to heal on a real devnet, from kill -9 of the farm node running
a replica to the first page served again through the gateway (issue 14's benchmark).

A devnet of `validators` validators and `farmers` farmers (farmer1 the gateway) runs under
/tmp (node/bench/devnet_kit.py). Each trial:

1. waits until every farm node could take a replica: up, and meeting the uptime rule at the
   head (placement.meets_uptime worked out from GET /v1/nodes/{id}: a node that missed one
   heartbeat slot of the running epoch is not placed on before the next epoch);
2. deploys a new web workload whose placement names the countries of every farmer but the
   gateway: it never lands on farmer1, whose death would take the route down with it, which
   is not what this measures; and waits until the gateway serves its page;
3. once that node has sent a heartbeat since it deployed the replica, waits a random part of
   a heartbeat slot (a machine dies at any moment between two heartbeats, and detection is
   counted from the last one), kills the farmer as its machine dying would (`devnet stop
   --crash`: SIGKILL to the agent and to every process of its replicas, their records kept),
   waits until the page is gone, then until it is served again;
4. reads what the chain recorded: the node's down record (its last heartbeat and the height it
   was marked down), the replica's `placed` and `deployed` audit entries moved from it, the
   replica's history, and any placement refused on the way;
5. brings the farmer back (`devnet start`), waits until its agent has torn its old copy down,
   cancels the workload (the name answers 404, the replica leaves the node it healed to), and
   checks from the audit log that the dead node billed for the replica exactly up to its last
   heartbeat and never after.

A new workload per trial rather than one moved back and forth: every trial then starts from the
same state (a replica on the node the placement rule drew at random, its first move, the move's
first preference: another farm), so the trials are alike and independent, and the killed node
is drawn by the chain, not picked by the bench. The cost, a deployment of ~2 s per trial, is
outside the measured span.

Times are on this machine's clock: the kill and the page with time.time(), the chain's steps
with their blocks' header times (the proposer's clock, the same machine). The split of the
time to heal: detection (kill to the block marking the node down, which is node_down_blocks
after its last heartbeat), placement (to the block placing the replica again: the same block
unless no node was eligible), deploy (to the block recording it deployed on its new node: the
agent's poll, the sandbox start, the report in a block) and gateway (to the first page: the
gateway's poll and nginx reload). Figures go to docs/benchmarks.md.
"""

import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from chain.farming.rules import epoch_start, slot_of
from chain.params import BASIS_POINTS, ChainParams
from devnet import network
from devnet.customer import Event, deployment_events, web_spec
from devnet.farmers import FarmerEntry
from devnet.processes import Progress
from node.bench.devnet_kit import (
    BenchError,
    BenchNet,
    bench_devnet,
    devnet_params,
)
from node.bench.timing import machine, percentile

SERVE_TIMEOUT = 60.0  # a new workload's first page
GONE_TIMEOUT = 10.0  # the page stops after its node's crash
# Kill to the page served again: node_down_blocks, plus room for a placement retried
# (placement_retry_blocks) or a survivor waiting for the next epoch's uptime.
HEAL_TIMEOUT = 180.0
ELIGIBLE_TIMEOUT = 180.0  # a node back from the dead: up to the next epoch, with room
TEARDOWN_TIMEOUT = 60.0  # a restarted farmer tears its moved copy down
TARGET_S = 30.0  # issue 14: p50 of kill to served again
# The anchors (../shared/reference/deployment-and-healing.md): kill to replaced elsewhere.
ANCHORS = {
    "kubernetes": "~6 min (NotReady after 50 s, pods evicted after a 300 s toleration)",
    "nomad": "~30 s (heartbeat TTL 20-30 s for 10-100 clients, then lost and replaced)",
    "threefold": "never (deployments are not migrateable: the owner redeploys)",
    "akash": "never (the provider closes the lease; the tenant redeploys)",
}


@dataclass
class Trial:
    """One kill and what followed. Heights are blocks; *_ms header times; *_at time.time()."""

    index: int
    wid: int
    killed: str = ""  # the farmer killed, and its node
    killed_node: int = 0
    healed: str = ""  # the farmer the replica moved to, and its node
    healed_node: int = 0
    deployed_before: int = 0  # the replica deployed on the node killed
    head_at_kill: int = 0
    last_seen: int = 0  # the killed node's last heartbeat
    down: int = 0  # the block marking it down (the replica leaves it there)
    placed: int = 0  # the replica placed again
    deployed: int = 0  # ... and deployed on its new node
    head_at_page: int = 0
    kill_at: float = 0.0
    crash_s: float = 0.0  # what `devnet stop --crash` took
    gone_s: float = 0.0  # kill to the first answer that was not the page
    kill_delay_s: float = 0.0  # a random part of a heartbeat slot, after a heartbeat
    served_at: float = 0.0
    last_seen_ms: int = 0
    down_ms: int = 0
    placed_ms: int = 0
    deployed_ms: int = 0
    outage: dict[int, float] = field(default_factory=dict)  # status -> first seen, after kill
    moved_reason: str = ""  # the replica history's last move, as the chain recorded it
    unplaceable: list[str] = field(default_factory=list)
    eligible_wait_s: float = 0.0  # before the trial: until every node could take a replica
    restart_s: float = 0.0  # `devnet start` of the killed farmer
    torn_down_s: float = 0.0  # its start to its old copy gone
    torn_down_blocks: int = 0
    billed_blocks: int = 0  # what the killed node billed for the replica, in blocks
    bills_after_down: int = 0  # bills of it recorded after it was marked down

    @property
    def served_s(self) -> float:
        return self.served_at - self.kill_at

    @property
    def detection_s(self) -> float:
        return self.down_ms / 1000 - self.kill_at

    @property
    def placement_s(self) -> float:
        return (self.placed_ms - self.down_ms) / 1000

    @property
    def deploy_s(self) -> float:
        return (self.deployed_ms - self.placed_ms) / 1000

    @property
    def gateway_s(self) -> float:
        return self.served_at - self.deployed_ms / 1000

    @property
    def heartbeat_before_kill_s(self) -> float:
        """How long before the kill the node's last heartbeat was in a block: detection is
        counted from that block, so this is detection's head start."""
        return self.kill_at - self.last_seen_ms / 1000

    @property
    def billed_expected(self) -> int:
        """The blocks the killed node may bill: from its replica's deployment to its last
        heartbeat (none if it fell silent before the replica was deployed)."""
        return max(0, self.last_seen - self.deployed_before)

    @property
    def billing_ok(self) -> bool:
        return self.billed_blocks == self.billed_expected and not self.bills_after_down

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.index,
            "wid": self.wid,
            "killed": {"farmer": self.killed, "node": self.killed_node},
            "healed": {"farmer": self.healed, "node": self.healed_node},
            "heights": {
                "deployed_before": self.deployed_before,
                "kill": self.head_at_kill,
                "last_heartbeat": self.last_seen,
                "marked_down": self.down,
                "placed_again": self.placed,
                "deployed_again": self.deployed,
                "page": self.head_at_page,
            },
            "seconds": {
                "served_again": round(self.served_s, 3),
                "detection": round(self.detection_s, 3),
                "placement": round(self.placement_s, 3),
                "deploy": round(self.deploy_s, 3),
                "gateway": round(self.gateway_s, 3),
                "heartbeat_before_kill": round(self.heartbeat_before_kill_s, 3),
                "crash_command": round(self.crash_s, 3),
                "page_gone": round(self.gone_s, 3),
                "kill_after_heartbeat_seen": round(self.kill_delay_s, 3),
            },
            "outage": {str(code): round(at, 3) for code, at in sorted(self.outage.items())},
            "moved_reason": self.moved_reason,
            "unplaceable": self.unplaceable,
            "restart": {
                "start_s": round(self.restart_s, 3),
                "old_copy_gone_s": round(self.torn_down_s, 3),
                "old_copy_gone_blocks": self.torn_down_blocks,
            },
            "billing": {
                "billed_blocks": self.billed_blocks,
                "up_to_last_heartbeat": self.billed_expected,
                "bills_after_down": self.bills_after_down,
                "ok": self.billing_ok,
            },
            "eligible_wait_s": round(self.eligible_wait_s, 3),
        }


@dataclass(frozen=True)
class HealBench:
    validators: int
    farmers: int
    params: dict[str, int]
    trials: list[Trial]
    leftovers: list[str]
    setup_s: float
    wall_s: float
    machine: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        t = self.trials

        def seconds(values: list[float]) -> dict[str, float]:
            return {
                "p50": round(percentile(values, 0.5), 3),
                "p90": round(percentile(values, 0.9), 3),
                "max": round(max(values), 3),
                "min": round(min(values), 3),
            }

        def blocks(values: list[int]) -> dict[str, float]:
            return {"median": statistics.median(values), "max": max(values), "min": min(values)}

        served = seconds([x.served_s for x in t])
        return {
            "validators": self.validators,
            "farmers": self.farmers,
            "trials": len(t),
            "params": self.params,
            "machine": self.machine,
            "served_again_s": served,
            "target_p50_s": TARGET_S,
            "target_met": served["p50"] < TARGET_S,
            "anchors": ANCHORS,
            "split_s": {
                "detection": seconds([x.detection_s for x in t]),
                "placement": seconds([x.placement_s for x in t]),
                "deploy": seconds([x.deploy_s for x in t]),
                "gateway": seconds([x.gateway_s for x in t]),
                "heartbeat_before_kill": seconds([x.heartbeat_before_kill_s for x in t]),
            },
            "blocks": {
                "last_heartbeat_to_down": blocks([x.down - x.last_seen for x in t]),
                "kill_to_down": blocks([x.down - x.head_at_kill for x in t]),
                "down_to_placed": blocks([x.placed - x.down for x in t]),
                "placed_to_deployed": blocks([x.deployed - x.placed for x in t]),
                "deployed_to_page": blocks([x.head_at_page - x.deployed for x in t]),
            },
            "block_interval_s_while_down": round(self.mean_silent_block_s(), 3),
            "restart": {
                "old_copy_gone_s": seconds([x.torn_down_s for x in t]),
                "all_torn_down": True,  # a trial whose copy stayed raised BenchError
                "billing_ok": all(x.billing_ok for x in t),
            },
            "eligible_wait_s": seconds([x.eligible_wait_s for x in t]),
            "samples": [x.to_json() for x in t],
            "leftovers": self.leftovers,
            "setup_s": round(self.setup_s, 1),
            "wall_s": round(self.wall_s, 1),
        }

    def mean_silent_block_s(self) -> float:
        """Seconds per block from a killed node's last heartbeat to the block marking it down
        (the blocks detection waits for), over every trial."""
        span_ms = sum(x.down_ms - x.last_seen_ms for x in self.trials)
        count = sum(x.down - x.last_seen for x in self.trials)
        return span_ms / 1000 / count if count else 0.0


# Which nodes could take a replica


def not_eligible(params: ChainParams, view: dict[str, Any]) -> str:
    """Why the node of `view` (GET /v1/nodes/{id}) could not take a replica at the head
    whatever the spec asks (placement.ruled_out_by's `down` and `uptime` tests, worked out from
    the API), or "" if it could: up (a heartbeat within node_down_blocks, not marked down) and
    heartbeats in every finished slot of this epoch since its registration (min_uptime_bp of
    them, which is all of them while an epoch has fewer than 20 slots)."""
    height = int(view["height"])
    seen = view.get("last_seen")
    if view.get("down") is not None or seen is None or height - int(seen) > params.node_down_blocks:
        return "down"
    activity = view.get("activity") or {}
    epoch = int(activity.get("epoch", 0))
    first = max(
        slot_of(params, epoch_start(params, epoch)),
        slot_of(params, int(view["registered_height"])) + 1,
    )
    expected = slot_of(params, height) - first
    heartbeats = int(activity.get("heartbeats", 0))
    if expected > 0 and heartbeats * BASIS_POINTS < params.min_uptime_bp * expected:
        return f"uptime: {heartbeats} heartbeats in {expected} slots of epoch {epoch}"
    return ""


def wait_eligible(net: BenchNet, params: ChainParams, say: Progress) -> float:
    """Until every farm node could take a replica; the seconds it took."""
    start = time.monotonic()
    told: dict[str, str] = {}
    while True:
        waiting = {}
        for farmer in net.farmers:
            assert farmer.node is not None
            why = not_eligible(params, net.client.node(farmer.node))
            if why:
                waiting[farmer.name] = why
        if not waiting:
            return time.monotonic() - start
        for name, why in waiting.items():
            if told.get(name, "").split(":")[0] != why.split(":")[0]:
                say(f"  waiting for {name}: {why}")
                told[name] = why
        if time.monotonic() - start > ELIGIBLE_TIMEOUT:
            raise BenchError(f"farm nodes not eligible after {ELIGIBLE_TIMEOUT:g} s: {waiting}")
        time.sleep(0.25)


# One trial


def run_trial(
    net: BenchNet, index: int, countries: list[str], params: ChainParams, say: Progress
) -> Trial:
    sub, page = f"heal{index}", f"healed page {index}"
    eligible_wait_s = wait_eligible(net, params, say)
    (wid,) = net.owner.submit([web_spec(f"heal{index}", sub, page, countries)])
    trial = Trial(index, wid, eligible_wait_s=eligible_wait_s)
    net.owner.approve(wid)
    net.gateway.wait_page(sub, page, SERVE_TIMEOUT)
    replica = net.owner.deployment(wid)["replicas"][0]
    victim = net.farmer_of(int(replica["node"]))
    if victim.gateway:
        raise BenchError(f"workload {wid} was placed on the gateway {victim.name}")
    trial.killed, trial.killed_node = victim.name, int(replica["node"])
    trial.deployed_before = int(replica["since"])
    trial.kill_delay_s = wait_to_kill(net, trial, params)
    say(
        f"trial {index}: workload {wid} served from {victim.name}; killing its machine "
        f"{trial.kill_delay_s:.2f} s after its last heartbeat"
    )
    kill(net, trial, victim, sub, page, say)
    read_heal(net, trial)
    say(
        f"  served again from {trial.healed} {trial.served_s:.2f} s after the kill: marked "
        f"down {trial.detection_s:.2f} s (block {trial.down}, last heartbeat {trial.last_seen}),"
        f" placed +{trial.placement_s:.2f} s, deployed +{trial.deploy_s:.2f} s, page "
        f"+{trial.gateway_s:.2f} s"
    )
    bring_back(net, trial, victim)
    net.cancel(wid, sub, trial.healed_node)
    check_billing(net, trial)
    say(
        f"  {victim.name} back: its copy gone {trial.torn_down_s:.2f} s after its start; billed "
        f"{trial.billed_blocks} blocks (deployment to last heartbeat: {trial.billed_expected})"
    )
    return trial


def wait_to_kill(net: BenchNet, trial: Trial, params: ChainParams) -> float:
    """Until the node running the replica has sent a heartbeat since it deployed it (so its
    last heartbeat is inside the replica's billed span and the bill for it is checked), then
    a random part of a heartbeat slot: a machine dies at any moment between two heartbeats, and
    detection, counted from the last one, depends on that moment. The delay after it."""
    deadline = time.monotonic() + TEARDOWN_TIMEOUT
    while True:
        view = net.client.node(trial.killed_node)
        if int(view.get("last_seen") or 0) > trial.deployed_before:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{trial.killed} sent no heartbeat in {TEARDOWN_TIMEOUT:g} s")
        time.sleep(0.05)
    head = int(view["height"])
    recent = max(1, min(head - 1, 30))
    block_s = (net.block_ms(head) - net.block_ms(head - recent)) / 1000 / recent
    delay = random.uniform(0, params.heartbeat_interval_blocks * block_s)
    time.sleep(delay)
    return delay


def kill(
    net: BenchNet, trial: Trial, victim: FarmerEntry, sub: str, page: str, say: Progress
) -> None:
    """Crash the victim's machine and wait for the page to go, then to come back."""
    trial.head_at_kill = net.height()
    trial.kill_at = time.time()
    network.stop_node(net.directory, victim.name, crash=True, say=say)
    trial.crash_s = time.time() - trial.kill_at
    # SIGKILL is delivered, not awaited: until the page is gone, a 200 may be the dead copy's.
    gone = net.gateway.wait_answer(sub, lambda code, body: body.strip() != page, GONE_TIMEOUT)
    trial.gone_s = gone.answered - trial.kill_at
    watched = net.gateway.wait_page(sub, page, HEAL_TIMEOUT)
    trial.served_at = watched.answered
    trial.head_at_page = net.height()
    seen = {**watched.first, **gone.first}  # gone's are the earlier
    trial.outage = {code: at - trial.kill_at for code, at in seen.items() if code != 200}


def read_heal(net: BenchNet, trial: Trial) -> None:
    """Where the replica went and what the chain recorded on the way (the killed node is still
    down: its down record is there to read)."""
    replica = net.owner.deployment(trial.wid)["replicas"][0]
    if replica["state"] != "deployed" or replica["node"] in (None, trial.killed_node):
        raise BenchError(f"the page is served, yet workload {trial.wid}'s replica is {replica}")
    healed = net.farmer_of(int(replica["node"]))
    trial.healed, trial.healed_node = healed.name, int(replica["node"])
    last_move = replica["history"][-1]
    if last_move["node"] != trial.killed_node:
        raise BenchError(f"workload {trial.wid}'s replica last left node {last_move['node']}")
    trial.moved_reason = str(last_move["reason"])
    down = net.client.node(trial.killed_node)["down"]
    if down is None:
        raise BenchError(f"{trial.killed} is not marked down, yet its replica moved")
    trial.down, trial.last_seen = int(down["since"]), int(down["last_seen"])
    if int(last_move["left"]) != trial.last_seen:
        raise BenchError(f"the replica left at {last_move['left']}, not {trial.last_seen}")
    events = deployment_events(net.client, [trial.wid], ("placed", "deployed", "unplaceable"))
    trial.placed = _moved(events, "placed", trial).height
    trial.deployed = _moved(events, "deployed", trial).height
    trial.unplaceable = [
        f"at {e.height}: {e.data['reason']}"
        for e in events
        if e.topic == "unplaceable" and e.height >= trial.down
    ]
    trial.last_seen_ms = net.block_ms(trial.last_seen)
    trial.down_ms = net.block_ms(trial.down)
    trial.placed_ms = net.block_ms(trial.placed)
    trial.deployed_ms = net.block_ms(trial.deployed)


def _moved(events: list[Event], topic: str, trial: Trial) -> Event:
    """The `topic` entry of the replica's move from the killed node to the healed one."""
    for event in events:
        data = event.data
        if event.topic == topic and (data.get("moved_from"), data["node"]) == (
            trial.killed_node,
            trial.healed_node,
        ):
            return event
    raise BenchError(f"no `{topic}` entry of workload {trial.wid}'s move in the audit log")


def bring_back(net: BenchNet, trial: Trial, victim: FarmerEntry) -> None:
    """`devnet start` the killed farmer, and wait until its agent has torn its old copy down
    (the chain no longer places the replica there)."""
    started = time.monotonic()
    network.start_node(net.directory, victim.name)
    trial.restart_s = time.monotonic() - started
    height = net.height()
    deadline = time.monotonic() + TEARDOWN_TIMEOUT
    while net.replica_dirs(victim, trial.wid):
        if time.monotonic() > deadline:
            raise BenchError(
                f"{victim.name} still holds workload {trial.wid}'s old copy "
                f"{TEARDOWN_TIMEOUT:g} s after its start"
            )
        time.sleep(0.05)
    trial.torn_down_s = time.monotonic() - started
    trial.torn_down_blocks = net.height() - height


def check_billing(net: BenchNet, trial: Trial) -> None:
    """What the killed node billed for the replica, from the audit log: the bills it sent while
    the replica ran there and the one the chain made when it marked the node down (up to its
    last heartbeat); none may come after that block."""
    bills = [
        e
        for e in deployment_events(net.client, [trial.wid], ("bill",))
        if e.data["node"] == trial.killed_node
    ]
    trial.billed_blocks = sum(int(e.data["blocks"]) for e in bills)
    trial.bills_after_down = sum(1 for e in bills if e.height > trial.down)


# The whole run


def bench_heal(
    trials: int = 10,
    validators: int = 4,
    farmers: int = 3,
    say: Progress = lambda _: None,
) -> HealBench:
    if farmers < 3:
        raise BenchError("healing needs two farmers besides the gateway (farmer1): --farmers 3")
    started = time.monotonic()
    measured_on = machine()
    params = ChainParams(**network.PARAMS)
    done: list[Trial] = []
    with bench_devnet("gridchain-bench-heal-", validators, farmers, say) as net:
        setup_s = time.monotonic() - started
        targets = [f for f in net.farmers if not f.gateway]
        countries = sorted({f.country for f in targets})
        gateways = {f.country for f in net.farmers if f.gateway}
        if gateways & set(countries):
            raise BenchError(f"a farmer shares the gateway's country {sorted(gateways)}")
        say(
            f"workloads placed in {', '.join(countries)} "
            f"({', '.join(f.name for f in targets)}: not the gateway)"
        )
        net.wait_up()
        for index in range(trials):
            done.append(run_trial(net, index, countries, params, say))
    return HealBench(
        validators=validators,
        farmers=farmers,
        params=devnet_params(),
        trials=done,
        leftovers=net.leftovers,
        setup_s=setup_s,
        wall_s=time.monotonic() - started,
        machine=measured_on,
    )
