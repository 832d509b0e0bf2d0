"""Workloads on a devnet with farmers, end to end with real processes (`gridchain devnet up
--farmers 2`, `gridchain workload ...`, the gateway's nginx, the sandbox runtime), for what
only the whole system shows:

- out of funds: a deposit of half a billing period is served, paused at its first bill (the
  chain sets grace_since, the agent freezes the replica, the gateway answers 503), then ended
  "out of funds" after the grace period (404, the replica torn down on its farm node); a
  workload paused the same way and topped up during its grace is served again;
- out of memory (a crash loop): a replica that allocates past its limit is killed by the
  kernel, restarted by its node's agent four times, then reported failed on chain with the
  count and the reason; the chain moves it to the other node, where the same happens, and
  after replica_max_failures failures it stays failed, running nowhere, every reason on record;
- `gridchain workload status ID --watch`: a workload followed from pending to deployed, a line
  per change; a timeout and a cancelled workload end the watch non-zero, saying why.

One devnet for the module (tests/kit/farmnet.py: under /tmp), with a ticker keeping blocks at
the devnet's 500 ms interval: billing_period_blocks (20) and grace_period_blocks (40) are
counted in blocks, and an idle devnet makes one only every few seconds. The sandbox needs
root: without it the tests are skipped.
"""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from chain.deployment.billing import cu_milli
from chain.params import ChainParams
from devnet.network import PARAMS
from node.runtime import ReplicaState
from tests.kit.farmnet import (
    NOT_RUNNING,
    NOT_SERVED,
    Devnet,
    deploy,
    devnet_in_tmp,
    farmer_events,
    fetch,
    observed,
    replicas_of,
    ticking_farmers,
    workload_status,
)
from tests.kit.netkit import wait_until
from tests.kit.support import gridchain

DEVNET = ChainParams(**PARAMS)  # type: ignore[arg-type]
CPU, MEMORY_MB = 1, 128
# What one replica of CPU cores and MEMORY_MB costs per billing period (no disk, no IPv4).
PERIOD_COST = cu_milli(CPU, MEMORY_MB) * DEVNET.price_cu // 1000
SHORT_DEPOSIT = PERIOD_COST // 2  # the first bill cannot be paid in full
OOM_REASON = "killed: out of memory (limit 64 MB)"
OOM_MESSAGE = f"crashed 5 times in 120 s; last: {OOM_REASON}"  # after 4 local restarts
# Placement on a new devnet may wait for the gateway node's uptime (heartbeat slots it missed
# between its registration and its agent's start count against it until the next epoch).
SERVE_TIMEOUT = 90.0
BLOCK_S = DEVNET.block_interval_ms / 1000


@pytest.fixture(scope="module")
def net() -> Iterator[tuple[Devnet, str]]:
    """The devnet with farmer1 (BE, also the gateway) and farmer2 (NL), both heartbeating, a
    ticker running; and the gateway's address."""
    with (
        devnet_in_tmp("gc-devnet-workloads-") as devnet,
        ticking_farmers(devnet, 2) as (up, status),
    ):
        assert up["started"] == ["farmer1", "farmer2"]
        yield devnet, status["gateway"]["address"]


def web(name: str, memory_mb: int = MEMORY_MB, entrypoint: str = "") -> dict[str, Any]:
    """A page `name` on the node's own system behind `name`.gw.localhost."""
    page = f"sh -c 'echo {name} > /tmp/index.html && cd /tmp && exec python3 -m http.server 8080'"
    return {
        "name": name,
        "workloads": [
            {
                "type": "container",
                "name": "site",
                "image": "host",
                "cpu": CPU,
                "memory_mb": memory_mb,
                "entrypoint": entrypoint or page,
                "ports": [8080],
            },
            {"type": "gateway_name", "name": "web", "subdomain": name, "backends": ["site:8080"]},
        ],
        "placement": {"replicas": 1},
        "budget": 1_000_000,
        "expiry_blocks": 1000,
    }


def host(name: str) -> str:
    return f"{name}.gw.localhost"


def serves(gateway: str, name: str) -> bool:
    code, body = fetch(gateway, host(name))
    return code == 200 and body.strip() == name


def deployment(devnet: Devnet, wid: int) -> dict[str, Any]:
    found: dict[str, Any] = workload_status(devnet, wid)["deployment"]
    return found


def farmer_of(devnet: Devnet, wid: int) -> str:
    """The farmer whose node runs workload `wid`'s replica (farmer i is node i)."""
    return f"farmer{workload_status(devnet, wid)['replicas'][0]['node']}"


def replica_state(devnet: Devnet, farmer: str, wid: int) -> ReplicaState | None:
    states = [o.state for key, o in observed(devnet, farmer).items() if key.startswith(f"w{wid}-")]
    return states[0] if states else None


def test_out_of_funds_pauses_then_ends_and_a_topup_resumes(net: tuple[Devnet, str]) -> None:
    devnet, gateway = net
    started = time.monotonic()
    short = deploy(devnet, web("short"), deposit=SHORT_DEPOSIT)
    topped = deploy(devnet, web("topped"), deposit=SHORT_DEPOSIT)
    for name in ("short", "topped"):
        wait_until(lambda n=name: serves(gateway, n), SERVE_TIMEOUT, f"{host(name)} served")
    farmers = {wid: farmer_of(devnet, wid) for wid in (short, topped)}

    # The first bill (a billing period after `deployed`) takes the whole escrow and falls
    # short: the chain pauses the deployment, the agent freezes its replica, the gateway
    # answers 503 for it.
    period_s = DEVNET.billing_period_blocks * BLOCK_S
    for wid in (short, topped):
        wait_until(lambda w=wid: deployment(devnet, w)["grace_since"], 4 * period_s, "paused")
        paused = deployment(devnet, wid)
        assert paused["state"] == "placed" and paused["escrow"] == 0
    for name, wid in (("short", short), ("topped", topped)):
        wait_until(lambda n=name: fetch(gateway, host(n))[0] == 503, 15, f"{name}'s 503")
        assert fetch(gateway, host(name))[1].strip() == NOT_RUNNING
        wait_until(
            lambda w=wid: replica_state(devnet, farmers[w], w) == ReplicaState.PAUSED, 15, "frozen"
        )
    paused_at = deployment(devnet, short)["grace_since"]

    # A top-up covering a billing period during the grace resumes it: served again.
    devnet.gridchain(
        "workload", "topup", str(topped), "--amount", str(2 * PERIOD_COST), "--from", "alice"
    )
    wait_until(lambda: serves(gateway, "topped"), 15, "the topped-up workload served again")
    resumed = deployment(devnet, topped)
    assert resumed["grace_since"] is None and resumed["escrow"] == 2 * PERIOD_COST
    assert replica_state(devnet, farmers[topped], topped) == ReplicaState.RUNNING

    # The other one ends after grace_period_blocks: 404, and its replica is torn down.
    grace_s = DEVNET.grace_period_blocks * BLOCK_S
    wait_until(lambda: deployment(devnet, short)["state"] == "ended", 3 * grace_s, "ended")
    ended = deployment(devnet, short)
    assert ended["message"] == "out of funds" and ended["replicas"] == []
    ended_at = int(devnet.client.status()["height"])
    assert ended_at - paused_at >= DEVNET.grace_period_blocks
    wait_until(lambda: fetch(gateway, host("short"))[0] == 404, 15, "the name released")
    assert fetch(gateway, host("short"))[1].strip() == NOT_SERVED
    wait_until(lambda: not replicas_of(devnet, farmers[short], short), 15, "the replica gone")
    assert serves(gateway, "topped")

    devnet.gridchain("workload", "cancel", str(topped), "--from", "alice")
    wait_until(lambda: not replicas_of(devnet, farmers[topped], topped), 15, "cancelled")
    print(f"out of funds and top-up: {time.monotonic() - started:.1f} s")


def test_a_crash_loop_is_restarted_locally_then_moved_then_failed_for_good(
    net: tuple[Devnet, str],
) -> None:
    devnet, _ = net
    started = time.monotonic()
    hog = 'python3 -c "b = bytearray(512 * 1024 * 1024); import time; time.sleep(60)"'
    wid = deploy(devnet, web("hog", memory_mb=64, entrypoint=hog))

    def given_up() -> bool:
        replicas = workload_status(devnet, wid)["replicas"]
        return bool(replicas) and replicas[0]["state"] == "failed"

    # Each node it is placed on reports it failed with the reason; the chain moves it (after
    # replica_retry_blocks, doubling) until it has failed replica_max_failures times.
    wait_until(given_up, 3 * SERVE_TIMEOUT, "the replica failed for good")
    replica = workload_status(devnet, wid)["replicas"][0]
    failures = DEVNET.replica_max_failures
    assert replica["node"] is None and replica["failures"] == failures
    assert replica["message"] == f"failed {failures} times in version 1; last: {OOM_MESSAGE}"
    reasons = [m["reason"] for m in replica["history"]]
    assert reasons == [f"failed: {OOM_MESSAGE}"] * (failures - 1) + [replica["message"]]
    assert {m["node"] for m in replica["history"]} == {1, 2}  # both nodes tried

    # Each node restarted it four times first, each time saying why.
    for farmer in ("farmer1", "farmer2"):
        tried = [m for m in replica["history"] if m["node"] == int(farmer[-1])]
        restarts = [
            (e["restarts"], e["reason"])
            for e in farmer_events(devnet, farmer, "restarted")
            if e["key"].startswith(f"w{wid}-")
        ]
        assert restarts == [(n, OOM_REASON) for n in range(1, 5)] * len(tried)

    # Nothing of it runs anywhere, and nothing starts it again.
    for farmer in ("farmer1", "farmer2"):
        wait_until(lambda f=farmer: not replicas_of(devnet, f, wid), 15, f"{farmer} clear")
    time.sleep(8 * BLOCK_S)  # past the agent's RESEND_BLOCKS: no retry comes
    assert not replicas_of(devnet, "farmer1", wid) and not replicas_of(devnet, "farmer2", wid)
    assert workload_status(devnet, wid)["replicas"][0]["state"] == "failed"

    devnet.gridchain("workload", "cancel", str(wid), "--from", "alice")
    print(f"out of memory: {time.monotonic() - started:.1f} s")


def test_workload_status_watch_follows_a_workload_to_deployed(net: tuple[Devnet, str]) -> None:
    devnet, gateway = net
    spec = devnet.directory.parent / "watched.json"
    spec.write_text(json.dumps(web("watched")))
    submitted = devnet.gridchain(
        "workload", "submit", str(spec), "--from", "alice", "--require", "alice",
        "--threshold", "1",
    )  # fmt: skip
    wid = str(submitted["id"])

    # Pending (no signature yet): a watch with --timeout gives up with exit 3, saying why.
    waited = gridchain(
        "workload", "status", wid, "--watch", "--timeout", "1", "--json", env=devnet.env,
        check=False,
    )  # fmt: skip
    assert waited.returncode == 3, (waited.stdout, waited.stderr)
    first, *_, end = [json.loads(line) for line in waited.stdout.splitlines()]
    assert first["event"] == "sample" and first["state"] == "pending"
    assert first["deployment_state"] is None and not first["deployed"]
    assert end["event"] == "timeout"
    assert end["error"]["message"].startswith("not deployed after 1 s (last: ")

    command = [sys.executable, "-m", "node", "workload", "status", wid, "--watch", "--json"]
    command += ["--interval", "0.5", "--timeout", str(SERVE_TIMEOUT)]
    watcher = subprocess.Popen(
        command, env=devnet.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert watcher.stdout is not None
        seen = json.loads(watcher.stdout.readline())
        assert seen["state"] == "pending"
        devnet.gridchain("workload", "approve", wid, "--key", "alice")
        out, err = watcher.communicate(timeout=SERVE_TIMEOUT + 30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, (out, err)
    lines = [seen, *(json.loads(line) for line in out.splitlines())]
    assert all(line["event"] == "sample" for line in lines)
    changes = [{k: v for k, v in line.items() if k not in TIMING} for line in lines]
    assert all(a != b for a, b in pairwise(changes))  # a line per change
    # on its way: authorized, not yet deployed (placed, its replica assigned to a node)
    assert any(line["state"] == "authorized" and not line["deployed"] for line in lines), lines
    last = lines[-1]
    assert last["deployed"] and last["deployment_state"] == "placed"
    assert last["by_state"] == {"deployed": 1} and len(last["nodes"]) == 1
    assert last["url"] == f"http://{host('watched')}/"
    # what the watch ended on is what the chain says, and the page is served
    status = workload_status(devnet, int(wid))
    assert [(r["node"], r["state"]) for r in status["replicas"]] == [(last["nodes"][0], "deployed")]
    wait_until(lambda: serves(gateway, "watched"), 30, f"{host('watched')} served")

    # Cancelled: it can never be deployed, and a watch says so at once (exit 1).
    devnet.gridchain("workload", "cancel", wid, "--from", "alice")
    ended = gridchain("workload", "status", wid, "--watch", "--json", env=devnet.env, check=False)
    assert ended.returncode == 1, (ended.stdout, ended.stderr)
    failed = json.loads(ended.stdout.splitlines()[-1])
    assert failed["error"] == {"code": "failed", "message": f"workload {wid} is cancelled"}
    text = gridchain("workload", "status", wid, "--watch", env=devnet.env, check=False)
    assert text.returncode == 1 and f"error: workload {wid} is cancelled" in text.stderr
    farmer = f"farmer{last['nodes'][0]}"
    wait_until(lambda: not replicas_of(devnet, farmer, int(wid)), 15, "cancelled: torn down")


TIMING = ("time_ms", "elapsed_s", "rate", "eta_s")
