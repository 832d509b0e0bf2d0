"""`gridchain bench farming` at tiny sizes: the work it times is the work it says it times
(every proof verified, every unit recomputed, one reward line per node), never how fast."""

import json
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner

from chain.farming.compute import proven_milli_cores, required_units
from chain.farming.rules import slots_per_epoch
from chain.farming.space import GIB, plot_bytes
from node.bench.farming import PARAMS, RULE_REPEATS, bench_payouts
from node.cli.main import cli

NODES, PAYOUT_NODES, PLOTS = 5, 20, 1


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """The command's JSON at tiny sizes (one real k=18 plot, mainnet parameters)."""
    args = ["--nodes", NODES, "--payout-nodes", PAYOUT_NODES, "--plots", PLOTS, "--json"]
    result = CliRunner().invoke(cli, ["bench", "farming", *map(str, args)])
    assert result.exit_code == 0, result.output
    value: dict[str, Any] = json.loads(result.output)
    return value


def test_every_proof_is_verified_and_the_rule_sees_the_plots_proofs(
    report: dict[str, Any],
) -> None:
    storage = report["verification"]["storage"]
    assert storage["proofs_verified"] == NODES * PARAMS.storage_challenges
    assert (storage["real_plots"], storage["k"]) == (PLOTS, 18)
    assert storage["proof_pool"] > 0
    assert storage["rule_proofs"] == RULE_REPEATS * storage["proof_pool"]


def test_compute_recomputes_every_sample_at_both_sizes(report: dict[str, Any]) -> None:
    v = report["verification"]
    units = NODES * PARAMS.compute_samples
    mainnet, devnet = v["compute_mainnet"], v["compute_devnet"]
    assert (mainnet["units"], mainnet["scrypt_n"], mainnet["memory_mib"]) == (units, 2**14, 16)
    assert (devnet["units"], devnet["scrypt_n"], devnet["memory_mib"]) == (units, 2**12, 4)


def test_heartbeats_count_one_signature_per_slot(report: dict[str, Any]) -> None:
    v = report["verification"]
    heartbeats = v["heartbeats"]
    assert heartbeats["heartbeats_per_node"] == slots_per_epoch(PARAMS) == 30
    assert heartbeats["ed25519_verifies"] == NODES * 30
    assert heartbeats["sample"] == NODES
    assert v["epoch_wall_s"] == 600


def test_the_epochs_first_block_pays_every_node(report: dict[str, Any]) -> None:
    pay = report["payouts"]
    assert (pay["nodes"], pay["farms"], pay["reward_lines"]) == (PAYOUT_NODES, 2, PAYOUT_NODES)
    # Each node proved one k=18 plot and one core over the full epoch (uptime 100 %).
    compute = proven_milli_cores(PARAMS, 1, required_units(PARAMS, 1))
    one = plot_bytes(18) * PARAMS.reward_per_gib // GIB + compute * PARAMS.reward_per_core // 1000
    assert pay["credits_paid"] == PAYOUT_NODES * one > 0
    boundary, ordinary = pay["boundary_block"], pay["ordinary_block"]
    assert boundary["encoded_bytes"] > ordinary["encoded_bytes"] + PAYOUT_NODES * 7


def test_payouts_on_a_short_epoch_settle_every_node() -> None:
    params = replace(PARAMS, epoch_blocks=60, heartbeat_interval_blocks=20)
    result = bench_payouts(33, lambda _: None, params, nodes_per_farm=10)
    assert (result.nodes, result.farms, result.reward_lines) == (33, 4, 33)
    assert result.paid > 0
