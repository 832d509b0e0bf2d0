"""The fuzz targets (tests/fuzz/targets.py): every seed passes, and a short coverage-guided run
of each finds nothing. Long runs: `make fuzz` (docs/reliability.md)."""

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest

from tests.fuzz.mutate import change
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


def test_the_structured_mutations_are_well_formed_and_wrong_in_one_place() -> None:
    """What the structure-aware half of the mutator makes of a seed: still CBOR (or JSON),
    different from the seed, the same for the same seed number, and of many shapes."""
    tx = (CORPUS / "tx" / "seed-0").read_bytes()
    made = set()
    for n in range(200):
        changed = change(cbor2.loads(tx), random.Random(n), 0)
        out = cbor2.dumps(changed, canonical=True)
        assert out == cbor2.dumps(change(cbor2.loads(tx), random.Random(n), 0), canonical=True)
        made.add(out)
    assert tx not in made or len(made) > 1
    assert len(made) > 50
    genesis = json.loads((CORPUS / "genesis" / "seed-0").read_bytes())
    assert change(genesis, random.Random(1), 0) != genesis
