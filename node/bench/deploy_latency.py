"""`gridchain bench deploy-latency`: how long a workload takes from its authorization to
`deployed` on chain and to its first page through the gateway, on a real devnet.

A devnet of `validators` validators and `farmers` farm nodes (farmer1 also the gateway) runs
under a temporary directory in /tmp (the farmers' sandbox runtimes need every parent directory
searchable by others). Alice submits `workloads` + 1 small web workloads on the node's own
system (`python3 -m http.server` serving a page of its own), each under a gateway subdomain of
its own, with a 1-of-1 requirement (the first is a warm-up, reported but not counted); then,
one at a time, she approves one (the authorization), the bench polls the gateway with that
name's Host header until the page comes back, reads where and when the chain recorded each
step, cancels the workload and waits until the gateway answers 404 and the replica is gone from
its farm node. One at a time: each figure is one deployment's latency, not a queue's.
Afterwards the devnet is brought down and the bench checks that nothing of it is left
(processes, nginx, replicas' network namespaces, cgroups, mounts).

Times are from the authorization block's header time (the proposer's clock: the same machine);
the steps on chain are counted in blocks: the authorizing block and the replica's `deployed`
block from the deployment record (GET /v1/deployments/...), the `placed` block from the audit
log. Figures go to docs/benchmarks.md.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from devnet.customer import deployment_events, web_spec
from devnet.processes import Progress
from node.bench.devnet_kit import (
    NOT_RUNNING,
    BenchNet,
    bench_devnet,
    devnet_params,
)
from node.bench.timing import machine, percentile

SERVE_TIMEOUT = 60.0


def workload_spec(i: int) -> dict[str, Any]:
    """Workload i: a page `page i` served by python3's http.server, behind `lat{i}`."""
    return web_spec(f"latency{i}", f"lat{i}", f"page {i}")


# One workload


@dataclass
class Sample:
    wid: int
    node: int = 0
    authorized: int = 0  # heights
    placed: int = 0
    deployed: int = 0
    head_at_page: int = 0
    authorized_ms: int = 0  # header times
    placed_ms: int = 0
    deployed_ms: int = 0
    route_s: float = 0.0  # after the authorization block: the gateway first knows the name
    page_s: float = 0.0  # ... and first serves the page
    cancel_to_404_s: float = 0.0  # after the cancelling block
    cancel_to_gone_s: float = 0.0

    @property
    def deployed_s(self) -> float:
        return (self.deployed_ms - self.authorized_ms) / 1000

    @property
    def placed_s(self) -> float:
        return (self.placed_ms - self.authorized_ms) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "wid": self.wid,
            "node": self.node,
            "heights": {
                "authorized": self.authorized,
                "placed": self.placed,
                "deployed": self.deployed,
                "head_at_page": self.head_at_page,
            },
            "placed_s": round(self.placed_s, 3),
            "deployed_s": round(self.deployed_s, 3),
            "route_s": round(self.route_s, 3),
            "page_s": round(self.page_s, 3),
            "cancel_to_404_s": round(self.cancel_to_404_s, 3),
            "cancel_to_gone_s": round(self.cancel_to_gone_s, 3),
        }


def measure(net: BenchNet, index: int, wid: int) -> Sample:
    """Approve workload `wid` (the `index`th) and poll the gateway until its page comes."""
    sample = Sample(wid)
    sample.authorized = net.owner.approve(wid)
    sample.authorized_ms = net.block_ms(sample.authorized)
    start = sample.authorized_ms / 1000
    watched = net.gateway.wait_page(f"lat{index}", f"page {index}", SERVE_TIMEOUT)
    if NOT_RUNNING in watched.first:
        sample.route_s = watched.first[NOT_RUNNING] - start
    sample.page_s = watched.answered - start
    sample.head_at_page = net.height()
    replica = net.owner.deployment(wid)["replicas"][0]
    sample.node = int(replica["node"])
    sample.deployed = int(replica["since"])
    sample.deployed_ms = net.block_ms(sample.deployed)
    return sample


def audit_steps(net: BenchNet, wids: list[int]) -> tuple[dict[int, int], list[str]]:
    """The height of each workload's `placed` audit entry, and every `unplaceable` one
    (a placement tried and refused before it succeeded)."""
    placed: dict[int, int] = {}
    refused: list[str] = []
    for event in deployment_events(net.client, wids, ("placed", "unplaceable")):
        wid = event.data["wid"]
        if event.topic == "placed":
            placed.setdefault(wid, event.height)
        else:
            refused.append(f"workload {wid} at {event.height}: {event.data['reason']}")
    return placed, refused


# The whole run


@dataclass(frozen=True)
class LatencyBench:
    validators: int
    farmers: int
    params: dict[str, int]
    warmup: Sample
    samples: list[Sample]
    unplaceable: list[str]
    leftovers: list[str]
    setup_s: float
    wall_s: float
    machine: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        s = self.samples

        def seconds(values: list[float]) -> dict[str, float]:
            return {
                "p50": round(percentile(values, 0.5), 3),
                "p99": round(percentile(values, 0.99), 3),
                "max": round(max(values), 3),
                "min": round(min(values), 3),
            }

        def blocks(values: list[int]) -> dict[str, int]:
            return {
                "p50": int(percentile([float(v) for v in values], 0.5)),
                "p99": int(percentile([float(v) for v in values], 0.99)),
                "max": max(values),
                "min": min(values),
            }

        return {
            "validators": self.validators,
            "farmers": self.farmers,
            "workloads": len(s),
            "params": self.params,
            "machine": self.machine,
            "seconds": {
                "authorized_to_placed": seconds([x.placed_s for x in s]),
                "authorized_to_deployed": seconds([x.deployed_s for x in s]),
                "authorized_to_route": seconds([x.route_s for x in s if x.route_s]),
                "authorized_to_page": seconds([x.page_s for x in s]),
                "deployed_to_page": seconds([x.page_s - x.deployed_s for x in s]),
                "cancel_to_404": seconds([x.cancel_to_404_s for x in s]),
                "cancel_to_replica_gone": seconds([x.cancel_to_gone_s for x in s]),
            },
            "blocks": {
                "authorized_to_placed": blocks([x.placed - x.authorized for x in s]),
                "placed_to_deployed": blocks([x.deployed - x.placed for x in s]),
                "deployed_to_page": blocks([x.head_at_page - x.deployed for x in s]),
                "authorized_to_page": blocks([x.head_at_page - x.authorized for x in s]),
            },
            "block_interval_s_while_measuring": round(self.mean_block_s(), 3),
            "warmup": self.warmup.to_json(),
            "samples": [x.to_json() for x in s],
            "unplaceable": self.unplaceable,
            "leftovers": self.leftovers,
            "setup_s": round(self.setup_s, 1),
            "wall_s": round(self.wall_s, 1),
        }

    def mean_block_s(self) -> float:
        """Seconds per block from the authorization to the page, over every workload."""
        spans = [(x.page_s, x.head_at_page - x.authorized) for x in self.samples]
        total_blocks = sum(b for _, b in spans)
        return sum(t for t, _ in spans) / total_blocks if total_blocks else 0.0


def bench_deploy_latency(
    workloads: int = 20,
    validators: int = 1,
    farmers: int = 3,
    say: Progress = lambda _: None,
) -> LatencyBench:
    started = time.monotonic()
    measured_on = machine()
    with bench_devnet("gridchain-bench-latency-", validators, farmers, say) as net:
        setup_s = time.monotonic() - started
        warmup, samples, refused = _measure(net, workloads, say)
    return LatencyBench(
        validators=validators,
        farmers=farmers,
        params=devnet_params(),
        warmup=warmup,
        samples=samples,
        unplaceable=refused,
        leftovers=net.leftovers,
        setup_s=setup_s,
        wall_s=time.monotonic() - started,
        machine=measured_on,
    )


def _measure(
    net: BenchNet, workloads: int, say: Progress
) -> tuple[Sample, list[Sample], list[str]]:
    """The warm-up workload (the first: whatever a new devnet's first placement costs, such
    as a gateway node that missed heartbeat slots and fails the uptime rule), then the
    measured ones."""
    say("waiting for every farm node's heartbeat on chain (a node is placed on once it is up)")
    net.wait_up()
    say(f"submitting {workloads} workloads and a first one to warm up")
    wids = net.owner.submit([workload_spec(i) for i in range(workloads + 1)])
    samples = []
    for i, wid in enumerate(wids):
        sample = measure(net, i, wid)
        sample.cancel_to_404_s, sample.cancel_to_gone_s = net.cancel(wid, f"lat{i}", sample.node)
        say(
            f"  workload {wid} on node {sample.node}: deployed {sample.deployed_s:.2f} s, "
            f"page {sample.page_s:.2f} s after its authorization (block {sample.authorized}); "
            f"404 {sample.cancel_to_404_s:.2f} s after its cancel"
        )
        samples.append(sample)
    placed, refused = audit_steps(net, wids)
    for sample in samples:
        sample.placed = placed[sample.wid]
        sample.placed_ms = net.block_ms(sample.placed)
    return samples[0], samples[1:], refused
