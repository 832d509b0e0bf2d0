"""`gridchain bench light` at a small size: it measures what it names, the synthetic chain is
one a light client verifies (every header, and skipping through every change of the set), and
the certificate beats the ed25519 commit on size (never how fast anything is)."""

import itertools
import json
from typing import Any

from click.testing import CliRunner

from chain.light.verify import verify_adjacent, verify_to
from node.bench.light import CHAIN_ID, make_chain
from node.cli.main import cli


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["bench", "light", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_report_names_every_figure() -> None:
    report = json.loads(run("--headers", "40", "--change-every", "5", "--runs", "2", "--json"))
    assert set(report["certificates"]) == {"4", "64", "150"}
    for figures in report["certificates"].values():
        assert figures["certificate_bytes"] < 200 < figures["ed25519_commit_bytes"]
        assert figures["check_ms"] > 0 and figures["ed25519_check_ms"] > 0
    sync = report["light_sync"]
    assert sync["headers"] == 40 and sync["set_changes"] == 8
    assert 1 <= sync["skipping"]["certificates_checked"] < 40
    assert "4 validators: certificate" in run("--headers", "10", "--runs", "1")


def test_the_synthetic_chain_is_one_a_light_client_follows() -> None:
    chain = make_chain(30, 4, 3)  # the genesis set is gone after 12 heights
    for trusted, block in itertools.pairwise(chain):
        verify_adjacent(CHAIN_ID, trusted, block)
    assert not {v.public_key for v in chain[0].validators.validators} & {
        v.public_key for v in chain[-1].validators.validators
    }
    verified: list[int] = []
    verify_to(CHAIN_ID, chain[0], 30, chain.__getitem__, lambda b: verified.append(b.height))
    assert verified[-1] == 30 and len(verified) > 1
