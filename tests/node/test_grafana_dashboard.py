"""The Grafana dashboard (docs/grafana/gridchain-dashboard.json): what node.grafana.dashboard
makes, valid under Grafana's own schema types (and a broken copy is not), every metric its
queries read exported by a node built as `gridchain node run` builds one, and every panel the
operators asked for in its row."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from node.api.app import make_app
from node.consensus.wiring import build_consensus
from node.grafana.check import check
from node.grafana.dashboard import OUTPUT, SCHEMA_VERSION, render
from node.server import build_node
from tests.kit.support import make_home

# The rows, and the panels each must hold (issue 19).
EXPECTED = {
    "Chain": {"Height", "Finality time", "Block apply time"},
    "Consensus": {"Rounds", "Peers"},
    "Mempool and throughput": {"Mempool", "Transactions/s"},
    "Sync": {"Sync progress"},
    "Farming": {"Farming proofs", "Nodes' uptime", "Rewards paid per epoch"},
    "Deployments": {"Replicas by state", "Time to deploy", "Time to heal"},
}
SELECTOR = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{instance=~"\$instance"\}')
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


@pytest.fixture(scope="module")
def text() -> str:
    return OUTPUT.read_text()


@pytest.fixture(scope="module")
def board(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p["targets"]]


def test_the_committed_json_is_what_the_generator_makes(text: str) -> None:
    assert text == render(), "run: .venv/bin/python -m node.grafana.dashboard"


def test_it_passes_grafanas_schema_and_a_broken_copy_does_not(text: str) -> None:
    assert check(text) == []
    lines = text.splitlines(keepends=True)

    def broken(find: str, replace: str) -> tuple[str, int]:
        """The text with the first line holding `find` changed; that line's number."""
        at = next(i for i, line in enumerate(lines) if find in line)
        return "".join([*lines[:at], lines[at].replace(find, replace), *lines[at + 1 :]]), at + 1

    cases = [
        ('"gridPos"', '"gridpos"', "TS2353"),  # an unknown key
        ('"colorMode": "value"', '"colorMode": "values"', "TS2820"),  # outside a stat's enum
        ('"schemaVersion": ', '"schemaVersion": "42", "x": ', "TS2322"),  # a wrong type
        ('"showLegend": true', '"showlegend": true', "TS2353"),  # a legend lacks showLegend
        ('"type": "row"', '"type": "rows"', "TS2820"),  # no such panel type
    ]
    for find, replace, code in cases:
        errors = check(broken(find, replace)[0])
        assert errors, (find, replace)
        line = broken(find, replace)[1]
        assert any(e.startswith(f"line {line}: {code}") for e in errors), (find, errors)
    missing = text.replace('"showPercentChange": false,', "", 1)  # a stat's required option
    assert missing != text
    assert any("'showPercentChange' is missing" in e for e in check(missing))
    with pytest.raises(ValueError):
        check(text + ",")  # not JSON


def test_it_is_importable_with_a_datasource_and_node_variable(board: dict[str, Any]) -> None:
    assert board["schemaVersion"] == SCHEMA_VERSION == 42 and board["id"] is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["type"] == "query" and instance["multi"] and instance["includeAll"]
    assert instance["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]


def test_every_panel_asked_for_is_in_its_row(board: dict[str, Any]) -> None:
    rows: dict[str, set[str]] = {}
    current = None
    for panel in board["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], set())
        else:
            assert current is not None, f"{panel['title']} is above every row"
            current.add(panel["title"])
    assert list(rows) == list(EXPECTED)
    for row, titles in EXPECTED.items():
        assert titles <= rows[row], (row, titles - rows[row])


async def test_every_metric_queried_is_one_a_node_exports(
    board: dict[str, Any], tmp_path: Path
) -> None:
    """The node as `gridchain node run` builds it (its consensus wiring adds the peer links'
    counts), its /metrics read through the API: each selector names a sample it exports
    (counters end in _total, histograms are read through _bucket)."""
    queried: set[str] = set()
    for expr in exprs(board):
        names = SELECTOR.findall(expr)
        assert names, expr
        assert "{" not in SELECTOR.sub("", expr), f"a selector without $instance: {expr}"
        queried.update(names)

    home = make_home(tmp_path / "home").home
    node = build_node(home)
    build_consensus(node, home, node.config)  # not started: no links, no port
    client = TestClient(TestServer(make_app(node)))
    await client.start_server()
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        exposition = await response.text()
    finally:
        await client.close()
    exported = {
        family.name + suffix
        for family in text_string_to_metric_families(exposition)
        for suffix in SUFFIXES.get(family.type, ())
    }
    assert queried <= exported, sorted(queried - exported)
    assert all(name.startswith("gridchain_") for name in queried)
    # Each of the node's own metrics the dashboard was asked for is on it.
    wanted = {
        "gridchain_sync_target_height",
        "gridchain_farming_proofs_total",
        "gridchain_farming_node_uptime_ratio",
        "gridchain_farming_epoch_rewards",
        "gridchain_replicas",
        "gridchain_deploy_seconds_bucket",
        "gridchain_heal_seconds_bucket",
        "gridchain_finality_seconds_bucket",
        "gridchain_block_apply_seconds_bucket",
    }
    assert wanted <= queried, sorted(wanted - queried)
