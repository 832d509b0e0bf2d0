"""`gridchain bench consensus` on a short load: transfers finalize, CPU and memory are read
from /proc, the load goes through the binary batch API. No timing is asserted."""

import json

import pytest
from click.testing import CliRunner

from node.cli.main import cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("submit", ["cbor", "json"])
def test_a_short_load_finalizes_and_is_measured(submit: str) -> None:
    out = CliRunner().invoke(
        cli,
        ["bench", "consensus", "--seconds", "5", "--rate", "100", "--senders", "20",
         "--submit", submit, "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    view = json.loads(out.stdout)
    assert view["submit"] == submit
    assert view["accepted"] == view["offered"] == 500
    assert view["finalized"] == 500  # every accepted transfer became final
    assert view["cpu_s"] > 0 and view["cpu_us_per_tx_per_validator"] > 0
    assert len(view["peak_rss_mb"]) == 4 and all(mb > 20 for mb in view["peak_rss_mb"])
