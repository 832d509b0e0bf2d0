"""The fuzz targets (tests/fuzz/targets.py): every seed passes, and a short coverage-guided run
of each finds nothing. Long runs: `make fuzz` (docs/reliability.md)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.seeds import CORPUS
from tests.fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
SHORT_RUNS = {"keystore": 200, "genesis": 1000, "spec_file": 1000}  # slower inputs: fewer


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_of_a_target_passes_it(name: str) -> None:
    seeds = sorted((CORPUS / name).iterdir())
    assert seeds, f"no corpus for {name}: run python -m tests.fuzz.seeds"
    for seed in seeds:
        TARGETS[name](seed.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_fuzz_run_finds_nothing(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / name, corpus)  # the repository's corpus grows only by make fuzz
    runs = SHORT_RUNS.get(name, 5000)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            name,
            str(corpus),
            f"-runs={runs}",
            f"-artifact_prefix={tmp_path}/",
            "-max_total_time=120",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
