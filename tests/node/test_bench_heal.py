"""`gridchain bench heal`: its options, the rule it waits on before each kill, the summary of
measured trials, and (slow, root) a short real run: each killed node is marked down, its
replica is served again from another node, and the node brought back holds no copy and billed
nothing after its last heartbeat. No timing is asserted: figures belong in docs/benchmarks.md.
"""

import os
from typing import Any

import pytest
from click.testing import CliRunner

from chain.params import ChainParams
from contracts_std.spec import load_spec
from devnet.customer import web_spec
from devnet.network import PARAMS
from node.bench.devnet_kit import NOT_RUNNING
from node.bench.heal import HealBench, Trial, bench_heal, not_eligible
from node.cli.main import cli

DEVNET = ChainParams(**PARAMS)


def test_the_command_and_its_options() -> None:
    result = CliRunner().invoke(cli, ["bench", "heal", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--trials", "--validators", "--farmers", "--json"):
        assert option in result.output
    # Two farmers are the gateway and one other: nowhere for a replica to move to.
    refused = CliRunner().invoke(cli, ["bench", "heal", "--farmers", "2"])
    assert refused.exit_code == 2 and "--farmers" in refused.output


def test_the_workload_is_kept_off_the_gateway_by_country() -> None:
    spec = load_spec(web_spec("heal0", "heal0", "healed page 0", ["NL", "DE"]))
    assert spec["placement"]["countries"] == ["DE", "NL"]  # sorted, as the spec requires
    assert spec["workloads"][1]["subdomain"] == "heal0"
    assert load_spec(web_spec("x", "x", "x"))["placement"]["countries"] == []  # anywhere


def node_view(height: int, last_seen: int | None, heartbeats: int, **extra: Any) -> dict[str, Any]:
    epoch = (height - 1) // DEVNET.epoch_blocks
    return {
        "height": height,
        "last_seen": last_seen,
        "down": None,
        "registered_height": 5,
        "activity": {"epoch": epoch, "heartbeats": heartbeats},
    } | extra


def test_a_node_is_eligible_when_up_and_heard_in_every_finished_slot_of_the_epoch() -> None:
    # Height 40 is in epoch 1 (blocks 31-60): slots 10, 11 and 12 are finished, 13 runs.
    assert not_eligible(DEVNET, node_view(40, 39, 3)) == ""
    assert not_eligible(DEVNET, node_view(40, 39, 2)).startswith("uptime")
    # An epoch's first slot: nothing finished yet, so a node back from the dead counts again.
    assert not_eligible(DEVNET, node_view(31, 30, 0)) == ""
    assert not_eligible(DEVNET, node_view(40, 39, 3, down={"since": 38, "last_seen": 21})) == (
        "down"
    )
    silent = 40 - DEVNET.node_down_blocks - 1
    assert not_eligible(DEVNET, node_view(40, silent, 3)) == "down"
    assert not_eligible(DEVNET, node_view(40, None, 0)) == "down"


def trial(index: int, detection_s: float) -> Trial:
    kill_ms = 1_000_000_000 + index * 100_000
    return Trial(
        index, index + 1, killed="farmer2", killed_node=2, healed="farmer3", healed_node=3,
        deployed_before=10, head_at_kill=20, last_seen=18, down=35, placed=35, deployed=37,
        head_at_page=37, kill_at=kill_ms / 1000, last_seen_ms=kill_ms - 1000,
        down_ms=kill_ms + int(detection_s * 1000), placed_ms=kill_ms + int(detection_s * 1000),
        deployed_ms=kill_ms + int(detection_s * 1000) + 1000,
        served_at=(kill_ms + detection_s * 1000 + 1500) / 1000, outage={NOT_RUNNING: 13.0},
        billed_blocks=8,
    )  # fmt: skip


def test_the_summary_of_the_trials() -> None:
    trials = [trial(i, 10 + i) for i in range(10)]
    result = HealBench(4, 3, {}, trials, [], 30.0, 600.0).to_json()
    served = result["served_again_s"]
    # Nearest rank over 10: p50 is the 5th, p90 the 9th.
    assert (served["p50"], served["p90"], served["max"]) == (15.5, 19.5, 20.5)
    assert result["target_met"] is True
    split = result["split_s"]
    assert (split["detection"]["p50"], split["deploy"]["p50"], split["gateway"]["p50"]) == (
        14.0,
        1.0,
        0.5,
    )
    assert result["blocks"]["last_heartbeat_to_down"]["median"] == 17
    assert result["restart"]["billing_ok"] is True  # 18 - 10 blocks, none after the down block
    trials[3].bills_after_down = 1
    assert HealBench(4, 3, {}, trials, [], 30.0, 600.0).to_json()["restart"]["billing_ok"] is False


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runtime and nginx run as root")
def test_a_killed_node_is_marked_down_and_its_page_served_again_from_another() -> None:
    progress: list[str] = []
    result = bench_heal(trials=2, validators=1, farmers=3, say=progress.append)

    assert len(result.trials) == 2
    for t in result.trials:
        assert t.killed in ("farmer2", "farmer3") and t.healed in ("farmer2", "farmer3")
        assert t.healed_node != t.killed_node  # served again from another node
        assert t.outage, "the page never went away: the crash did not reach the replica"
        assert t.served_at > t.kill_at
        # The chain marked the dead node down node_down_blocks after its last heartbeat, and
        # the replica left it from that heartbeat, then was placed and deployed elsewhere.
        assert t.down - t.last_seen == DEVNET.node_down_blocks + 1
        assert f"node {t.killed_node} down at height {t.down}" in t.moved_reason
        assert t.down <= t.placed < t.deployed
        # Back up, it tore its old copy down (or bring_back raised) and billed nothing after
        # its last heartbeat: up to it exactly, by the chain, in the block marking it down.
        assert t.billing_ok and t.bills_after_down == 0
        assert t.billed_blocks == t.last_seen - t.deployed_before > 0
    assert result.leftovers == []
    assert "bringing the devnet down" in progress
