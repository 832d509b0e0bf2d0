"""The dashboard: rows of panels over a node's metrics (node/metrics.py), as Grafana's JSON.

Kept as data here rather than as hand-written JSON so that every panel gets the same templated
Prometheus data source and `$instance` filter, the layout is computed, and a test can hold the
committed docs/grafana/gridchain-dashboard.json to exactly what this module makes. After a
change: `.venv/bin/python -m node.grafana.dashboard` writes it again.

Chain-wide figures (farming, deployments) are what every node derives from the same blocks, so
their panels take the `max` over the selected nodes instead of adding copies together; a node's
own figures (height, rounds, peers, mempool, sync) are drawn one line per node.
"""

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.params import BASIS_POINTS, ChainParams

SCHEMA_VERSION = 42  # the dashboard schema of Grafana 12 and 13 (@grafana/schema's default)
OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "gridchain-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
NODES = '{instance=~"$instance"}'  # the label matcher every selector carries
WIDTH = 24  # Grafana's grid
HEIGHT = 8
MIN_UPTIME = ChainParams().min_uptime_bp / BASIS_POINTS  # below it a node earns nothing
RATE = "$__rate_interval"


def m(metric: str) -> str:
    """A selector of `metric` on the nodes the `$instance` variable picks."""
    return metric + NODES


def quantiles(histogram: str, window: str, per_node: bool) -> tuple["Query", ...]:
    """The median and 95th percentile of a histogram's observations in `window`: one line
    per node, or the chain's (the max over nodes that all saw the same blocks)."""
    legend, by = ("{{instance}} ", "sum by (instance, le)") if per_node else ("", "max by (le)")
    rate = "rate" if window == RATE else "increase"
    buckets = f"{by} ({rate}({m(histogram + '_bucket')}[{window}]))"
    return tuple(
        Query(f"histogram_quantile({q}, {buckets})", f"{legend}p{round(q * 100)}")
        for q in (0.5, 0.95)
    )


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = "{{instance}}"


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # timeseries, stat or bargauge
    unit: str = "short"
    width: int = 6
    stacked: bool = False
    steps: bool = False  # a value that changes in steps (per epoch): no slopes between
    low: float | None = 0  # the axis' minimum
    high: float | None = None  # the axis' maximum


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


ROWS: tuple[Row, ...] = (
    Row(
        "Chain",
        (
            Panel(
                "Height",
                "Height of the last block each node committed",
                (Query(m("gridchain_height")),),
                kind="stat",
                unit="none",
            ),
            Panel(
                "Finality time",
                "From entering a height to committing its block",
                quantiles("gridchain_finality_seconds", RATE, per_node=True),
                unit="s",
                width=9,
            ),
            Panel(
                "Block apply time",
                "Time to build or validate, apply and durably commit one block",
                quantiles("gridchain_block_apply_seconds", RATE, per_node=True),
                unit="s",
                width=9,
            ),
        ),
    ),
    Row(
        "Consensus",
        (
            Panel(
                "Rounds",
                "Round of the height being decided: above 0, a proposer was late or missing",
                (Query(m("gridchain_consensus_round")),),
            ),
            Panel("Peers", "Connected peers", (Query(m("gridchain_peers")),)),
            Panel(
                "Votes missed",
                "Committed blocks whose commit lacks this validator's precommit",
                (Query(f"increase({m('gridchain_votes_missed_total')}[{RATE}])"),),
            ),
            Panel(
                "Peer links refused and dropped",
                "Handshakes and dials that failed, and links that ended, per second, by reason",
                (
                    Query(
                        "sum by (instance, reason) "
                        f"(rate({m('gridchain_peer_handshakes_refused_total')}[{RATE}]))",
                        "{{instance}} refused: {{reason}}",
                    ),
                    Query(
                        "sum by (instance, reason) "
                        f"(rate({m('gridchain_peer_links_dropped_total')}[{RATE}]))",
                        "{{instance}} dropped: {{reason}}",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "Mempool and throughput",
        (
            Panel(
                "Transactions/s",
                "Transactions applied in committed blocks, per second",
                (Query(f"rate({m('gridchain_txs_applied_total')}[{RATE}])"),),
            ),
            Panel("Mempool", "Pending transactions", (Query(m("gridchain_mempool_txs")),)),
            Panel(
                "Mempool bytes",
                "Pending transactions' bytes",
                (Query(m("gridchain_mempool_bytes")),),
                unit="bytes",
            ),
            Panel(
                "Transactions rejected/s",
                "Transactions refused at admission, per second, by reason",
                (
                    Query(
                        f"sum by (instance, reason) (rate({m('gridchain_txs_rejected_total')}"
                        f"[{RATE}]))",
                        "{{instance}} {{reason}}",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "Sync",
        (
            Panel(
                "Sync progress",
                "Height over the height block sync catches up toward (the highest a connected "
                "peer has committed)",
                (
                    Query(
                        f"clamp_max({m('gridchain_height')} / "
                        f"{m('gridchain_sync_target_height')}, 1)"
                    ),
                ),
                unit="percentunit",
                width=8,
                high=1,
            ),
            Panel(
                "Blocks behind",
                "How far each node is behind the best connected peer",
                (
                    Query(
                        f"clamp_min({m('gridchain_sync_target_height')} - "
                        f"{m('gridchain_height')}, 0)"
                    ),
                ),
                width=8,
            ),
            Panel(
                "Blocks synced/s",
                "Blocks applied by block sync, per second",
                (Query(f"rate({m('gridchain_synced_blocks_total')}[{RATE}])"),),
                width=8,
            ),
        ),
    ),
    Row(
        "Farming",
        (
            Panel(
                "Farming proofs",
                "Proofs committed per second, by kind: heartbeat (uptime), storage_proofs "
                "(space), compute_reveal (compute)",
                (
                    Query(
                        f"max by (kind) (rate({m('gridchain_farming_proofs_total')}[{RATE}]))",
                        "{{kind}}",
                    ),
                ),
                stacked=True,
            ),
            Panel(
                "Nodes' uptime",
                "Share of the heartbeat slots each farm node sent one in, in the last settled "
                f"epoch (below {MIN_UPTIME:.0%} a node earns nothing)",
                (
                    Query(
                        f"max by (farm, node) ({m('gridchain_farming_node_uptime_ratio')})",
                        "farm {{farm}} node {{node}}",
                    ),
                ),
                kind="bargauge",
                unit="percentunit",
                high=1,
            ),
            Panel(
                "Rewards paid per epoch",
                "Credits the first block of each epoch paid the farms for the epoch before",
                (Query(f"max({m('gridchain_farming_epoch_rewards')})", "credits"),),
                steps=True,
            ),
            Panel(
                "Farm nodes down",
                "Farm nodes marked down (silent for node_down_blocks)",
                (Query(f"max({m('gridchain_nodes_down')})", "down"),),
                steps=True,
            ),
        ),
    ),
    Row(
        "Deployments",
        (
            Panel(
                "Replicas by state",
                "Replicas of the deployments the nodes know: assigned (the agent has not "
                "reported yet), deployed, moving (placed again after a backoff), failed",
                (Query(f"max by (state) ({m('gridchain_replicas')})", "{{state}}"),),
                stacked=True,
                steps=True,
            ),
            Panel(
                "Time to deploy",
                "From a workload version's authorization to a replica first reported deployed "
                "(p50 and p95 of the replicas deployed in the 15 minutes before)",
                quantiles("gridchain_deploy_seconds", "15m", per_node=False),
                unit="s",
            ),
            Panel(
                "Time to heal",
                "From a replica's last height on the node it left to deployed on another "
                "(p50 and p95 of the heals in the 15 minutes before)",
                quantiles("gridchain_heal_seconds", "15m", per_node=False),
                unit="s",
            ),
            Panel(
                "Replicas moved and given up",
                "Replicas that left their node, by cause (down: the node, failed: the replica), "
                "and replicas given up after failing too often",
                (
                    Query(
                        f"max by (cause) (increase({m('gridchain_replicas_moved_total')}[{RATE}]))",
                        "moved: {{cause}}",
                    ),
                    Query(
                        f"max(increase({m('gridchain_replicas_given_up_total')}[{RATE}]))",
                        "given up",
                    ),
                ),
            ),
        ),
    ),
)


def dashboard(rows: Sequence[Row] = ROWS) -> dict[str, Any]:
    """The dashboard's JSON model, ready to import."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
                "id": len(panels) + 1,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y = 0, y + HEIGHT
            grid = {"h": HEIGHT, "w": panel.width, "x": x, "y": y}
            panels.append(_panel(panel, len(panels) + 1, grid))
            x += panel.width
        y += HEIGHT
    return {
        "annotations": {"list": [_builtin_annotations()]},
        "description": "A gridchain node's Prometheus metrics (GET /metrics): chain, consensus, "
        "mempool, sync, farming and deployments",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["gridchain"],
        "templating": {"list": [_datasource_variable(), _instance_variable()]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": "gridchain",
        "uid": "gridchain-node",
        "version": 1,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def _panel(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": _thresholds(panel),
        "unit": panel.unit,
    }
    if panel.low is not None:
        defaults["min"] = panel.low
    if panel.high is not None:
        defaults["max"] = panel.high
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 30 if panel.stacked else 10,
            "lineInterpolation": "stepAfter" if panel.steps else "linear",
            "lineWidth": 1,
            "showPoints": "auto",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if panel.stacked else "none"},
        }
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": grid,
        "id": panel_id,
        "options": _options(panel.kind),
        "targets": [
            {
                "datasource": DATASOURCE,
                "editorMode": "code",
                "expr": query.expr,
                "instant": panel.kind == "bargauge",
                "legendFormat": query.legend,
                "range": panel.kind != "bargauge",
                "refId": chr(ord("A") + i),
            }
            for i, query in enumerate(panel.queries)
        ],
        "title": panel.title,
        "type": panel.kind,
    }


def _thresholds(panel: Panel) -> dict[str, Any]:
    if panel.kind == "bargauge":  # uptime: red below what earns a reward
        steps = [{"color": "red", "value": None}, {"color": "green", "value": MIN_UPTIME}]
    else:
        steps = [{"color": "green", "value": None}]
    return {"mode": "absolute", "steps": steps}


def _options(kind: str) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind == "timeseries":
        return {
            "legend": _legend(shown=True),
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "stat":
        return {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "percentChangeColorMode": "standard",
            "reduceOptions": reduce,
            "showPercentChange": False,
            "textMode": "value_and_name",
            "wideLayout": True,
        }
    if kind == "bargauge":
        return {
            "displayMode": "gradient",
            "legend": _legend(shown=False),
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "auto",
            "orientation": "horizontal",
            "reduceOptions": reduce,
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        }
    raise ValueError(f"no options for a {kind!r} panel")


def _legend(shown: bool) -> dict[str, Any]:
    return {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": shown}


def _builtin_annotations() -> dict[str, Any]:
    """Grafana's own annotations and alerts, as every new dashboard has them."""
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }


def _datasource_variable() -> dict[str, Any]:
    """The Prometheus data source, chosen when the dashboard is imported or viewed."""
    return {
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def _instance_variable() -> dict[str, Any]:
    """The nodes to show: every target that exports gridchain_height, all by default."""
    query = "label_values(gridchain_height, instance)"
    return {
        "datasource": DATASOURCE,
        "hide": 0,
        "includeAll": True,
        "label": "Node",
        "multi": True,
        "name": "instance",
        "options": [],
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def main(argv: Sequence[str] = ()) -> int:
    """Write the dashboard to OUTPUT (or the path given)."""
    path = Path(argv[0]) if argv else OUTPUT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
