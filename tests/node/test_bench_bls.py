"""`gridchain bench bls` at a few iterations: it times every operation it names on the fast
backend, and bounds the slow reference by runs and by time (never how fast anything is)."""

import json
import time
from typing import Any

from click.testing import CliRunner

from node.bench.bls import CERTIFICATE_SIZES, Op, _time
from node.cli.main import cli


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["bench", "bls", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_fast_backend_times_every_operation() -> None:
    report = json.loads(run("--iterations", "10", "--reference-runs", "0", "--json"))
    assert set(report["backends"]) == {"arkworks"}
    timed = report["backends"]["arkworks"]["ms"]
    expected = {"keygen", "sign", "verify", "aggregate_64", "key_validate"}
    expected |= {f"fast_aggregate_verify_{n}" for n in CERTIFICATE_SIZES}
    expected.add(f"fast_aggregate_verify_{max(CERTIFICATE_SIZES)}_uncached_keys")
    assert set(timed) == expected
    assert all(t["runs"] == 10 and t["median_ms"] > 0 for t in timed.values())
    assert report["machine"]["cpus"] >= 1 and report["versions"]["arkworks"] != "unknown"


def test_the_text_output_names_each_backend() -> None:
    assert "arkworks" in run("--iterations", "10", "--reference-runs", "0")


def test_a_slow_operation_stops_when_its_share_of_time_is_spent() -> None:
    slow = Op("slow", lambda: time.sleep(0.02))
    assert 1 < _time(slow, 100, 0.1).runs <= 5  # at least 0.02 s each: 0.1 s by the fifth
    assert _time(slow, 2, None).runs == 2
    assert _time(slow, 5, 0.001).runs == 1  # at least once
