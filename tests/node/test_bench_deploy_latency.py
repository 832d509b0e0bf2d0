"""`gridchain bench deploy-latency` without a devnet (a run starts one with farmers and takes
minutes: docs/benchmarks.md): its options, its workloads' specs, and the summary of measured
samples."""

from pathlib import Path

from click.testing import CliRunner

from contracts_std.spec import load_spec, spec_bytes
from node.bench.deploy_latency import LatencyBench, Sample, workload_spec
from node.bench.devnet_kit import left_behind
from node.cli.main import cli


def test_the_command_and_its_options() -> None:
    result = CliRunner().invoke(cli, ["bench", "deploy-latency", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--workloads", "--validators", "--farmers", "--json"):
        assert option in result.output
    refused = CliRunner().invoke(cli, ["bench", "deploy-latency", "--workloads", "0"])
    assert refused.exit_code == 2 and "--workloads" in refused.output


def test_each_workload_is_a_valid_spec_under_a_name_of_its_own() -> None:
    specs = [load_spec(workload_spec(i)) for i in range(3)]
    assert len({spec_bytes(s) for s in specs}) == 3
    names = [s["workloads"][1]["subdomain"] for s in specs]
    assert names == ["lat0", "lat1", "lat2"]
    assert "echo page 2 > /tmp/index.html" in specs[2]["workloads"][0]["entrypoint"]


def sample(wid: int, placed_ms: int, deployed_ms: int, page_s: float) -> Sample:
    return Sample(
        wid, node=1, authorized=10, placed=11, deployed=13, head_at_page=13 + wid % 2,
        authorized_ms=1_000_000, placed_ms=1_000_000 + placed_ms,
        deployed_ms=1_000_000 + deployed_ms, route_s=page_s / 2, page_s=page_s,
        cancel_to_404_s=0.4, cancel_to_gone_s=0.5,
    )  # fmt: skip


def test_the_summary_of_the_samples() -> None:
    samples = [sample(i, 500, 1000 + 10 * i, 1.5 + i / 100) for i in range(1, 21)]
    bench = LatencyBench(1, 3, {}, sample(0, 0, 0, 9.0), samples, [], [], 8.0, 100.0)
    result = bench.to_json()
    assert result["workloads"] == 20
    deployed = result["seconds"]["authorized_to_deployed"]
    # Nearest rank over 20: p50 is the 10th, p99 the 20th (the largest).
    assert deployed == {"p50": 1.1, "p99": 1.2, "max": 1.2, "min": 1.01}
    page = result["seconds"]["authorized_to_page"]
    assert (page["p50"], page["p99"]) == (1.6, 1.7)
    blocks = result["blocks"]
    assert blocks["authorized_to_placed"]["max"] == 1
    assert blocks["placed_to_deployed"]["p50"] == 2
    assert (blocks["deployed_to_page"]["min"], blocks["deployed_to_page"]["max"]) == (0, 1)
    assert result["warmup"]["page_s"] == 9.0  # reported, not counted
    assert result["leftovers"] == []


def test_nothing_is_left_of_a_directory_nobody_uses(tmp_path: Path) -> None:
    assert left_behind(tmp_path, []) == []
