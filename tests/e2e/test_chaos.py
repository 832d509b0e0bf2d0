"""`gridchain devnet chaos`, short, as CI runs it: four validators in network namespaces, three
farmers with two workloads, eight senders, and faults from a fixed seed for a minute; every
invariant holds, the report says what ran, and nothing of the run is left on the machine.

The long runs (`make chaos`) and their figures are in docs/reliability.md."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="the harness needs root (network namespaces, tmpfs, sandboxes)",
)

SEED = 20261206


def test_a_minute_of_faults_breaks_no_invariant(tmp_path: Path) -> None:
    directory = Path("/tmp") / f"gc-chaos-test-{os.getpid()}"
    result = subprocess.run(
        [sys.executable, "-m", "node", "devnet", "chaos", "--seconds", "60", "--seed",
         str(SEED), "--dir", str(directory), "--json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    assert report["violations"] == [], json.dumps(report, indent=2)
    assert result.returncode == 0
    faults = report["perturbations"]
    assert faults["total"] >= 10, faults
    assert len([k for k in faults if k != "total"]) >= 5, faults  # several kinds, not one
    assert report["unrecovered"] == 0
    checks = report["invariants"]
    for name in (
        "no_fork",
        "final_kept",
        "validators_honest",
        "block_time",
        "liveness",
        "replicas",
    ):
        assert checks[name]["checks"] > 0, name
    txs = report["txs"]
    assert txs["accepted"] > 0 and txs["unresolved"] == 0, txs
    assert txs["committed"] + txs["rejected"] == txs["accepted"]
    # Clean: the directory (a clean run keeps nothing), its processes, namespaces and mounts.
    assert report["directory"] is None and not directory.exists()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(directory) not in mounts
    assert not list(Path("/run/netns").glob(f"gc{report['network']['tag']}-*"))
    assert not list(Path("/sys/class/net").glob(f"gc?{report['network']['tag']}*"))
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert str(directory) not in cmdline.read_text(errors="replace")
        except OSError:
            continue  # exited while we looked
