"""`gridchain bench deploy` at tiny sizes: each placement case does what it says (placed where
its constraints allow, or refused with the reason a full scan names) and the agent's rounds
plan what they say, never how fast."""

import json
from typing import Any

import pytest
from click.testing import CliRunner

from node.bench.deploy import grid_node, nodes_in_circle
from node.bench.reconcile import bench_agent
from node.cli.main import cli

NODES, PLACEMENTS, REPLICAS, MISSING = 300, 2, 12, 3


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    args = [
        *("--nodes", NODES, "--placements", PLACEMENTS, "--adversarial", 1, "--farms", 10),
        *("--replicas", REPLICAS, "--missing", MISSING, "--rounds", 2, "--json"),
    ]
    result = CliRunner().invoke(cli, ["bench", "deploy", *map(str, args)])
    assert result.exit_code == 0, result.output
    value: dict[str, Any] = json.loads(result.output)
    return value


def test_every_case_runs_on_the_grid_it_built(report: dict[str, Any]) -> None:
    (size,) = report["placement"]
    assert (size["nodes"], size["farms"]) == (NODES, 10)
    assert size["nodes_in_circle"] == nodes_in_circle(NODES, 10) == 1
    cases = size["cases"]
    assert sorted(cases) == ["a", "b", "c", "c0", "d", "e", "f"]
    for name in "abcde":
        assert cases[name]["placements"] == PLACEMENTS
    assert cases["f"]["placements"] == 1
    assert all(c["state_reads"] > 0 and c["total_ms"]["median"] > 0 for c in cases.values())
    steps = size["scan_us_per_node"]
    assert set(steps) == {
        "index member",
        "read node",
        "distance",
        "up",
        "uptime",
        "load and fits",
        "test (case e)",
    }
    assert all(us > 0 for us in steps.values())


def test_the_cases_place_or_refuse_as_they_say(report: dict[str, Any]) -> None:
    cases = report["placement"][0]["cases"]
    for name in ("a", "b", "c", "c0", "d"):  # c0: a circle alone, through the map cells it touches
        assert cases[name]["placed"] == PLACEMENTS, cases[name]["message"]
    # More candidates than MAX_SCAN are only drawn from: a need nobody meets is refused after
    # MAX_DRAWS checks, with advice.
    draws = f"no eligible node in 32 random draws among {NODES} candidates"
    assert cases["e"]["placed"] == 0
    assert cases["e"]["message"] == f"web replica 0: {draws} (capacity: 32); {ADVICE}"
    assert cases["f"]["placed"] == 0
    # Refusing costs the draws, not a scan of every candidate.
    assert cases["e"]["state_reads"] < NODES


ADVICE = "name countries to narrow them"


def test_nodes_are_spread_over_countries_and_farms() -> None:
    nodes = [grid_node(i, 10) for i in range(1, 1001)]
    countries = {n.location.country for n in nodes}
    assert len(countries) == 20
    assert {n.farm for n in nodes} == set(range(1, 11))
    assert max(n.resources.cores for n in nodes) < 256


def test_the_agents_rounds_plan_what_each_case_says(report: dict[str, Any]) -> None:
    agent = report["agent"]
    assert (agent["replicas"], agent["missing"], agent["rounds"]) == (REPLICAS, MISSING, 2)
    # Nothing changed: no action; some missing: a start each; all due a bill: a bill each.
    assert agent["actions"] == {"steady": 0, "start": MISSING, "bill": REPLICAS}
    assert agent["sandbox"] is None


def test_the_agent_bench_checks_its_own_plans() -> None:
    result = bench_agent(5, 5, 1, lambda _: None)
    assert result.actions["start"] == 5
