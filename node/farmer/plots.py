"""A farmer's plots: making them with chiapos (with progress) and finding proofs in them.

A plot file is named plot-k{k}-{seed hex}.plot and its chiapos memo is the owner's address and
the seed, so `load_plots` can check each plot was made for this farm before it is used.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chiapos import DiskProver

from chain.address import RAW_SIZE, Address
from chain.farming.space import plot_bytes, plot_id, storage_challenge
from chain.farming.txs import SpaceProof
from chain.hashing import HASH_SIZE

# chiapos prints its phases; these lines mark how far a plot has come (percent).
_PROGRESS_MARKS = (
    ("Starting phase 1/4", 1),
    ("Computing table 2", 8),
    ("Computing table 3", 15),
    ("Computing table 4", 22),
    ("Computing table 5", 29),
    ("Computing table 6", 36),
    ("Computing table 7", 43),
    ("Starting phase 2/4", 50),
    ("Starting phase 3/4", 65),
    ("Starting phase 4/4", 90),
    ("Renamed final file", 100),
)

_PLOTTER = """
import sys
from chiapos import DiskPlotter
tmp, final, name, k, memo, pid, stripe = sys.argv[1:]
DiskPlotter().create_plot_disk(
    tmp, tmp, final, name, int(k), bytes.fromhex(memo), bytes.fromhex(pid),
    256, 32, int(stripe), 2, False,
)
"""


class PlotError(Exception):
    pass


@dataclass(frozen=True)
class Plot:
    path: Path
    owner: Address
    seed: bytes
    k: int

    @property
    def id(self) -> bytes:
        return plot_id(self.owner, self.seed)


def plot_name(k: int, seed: bytes) -> str:
    return f"plot-k{k}-{seed.hex()}.plot"


def create_plot(
    directory: Path,
    owner: Address,
    k: int,
    seed: bytes | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> Plot:
    """Plot k into `directory` (about 0.762 * k * 2**k bytes) for `owner`; chiapos runs in a
    child process whose phase lines are reported through `progress(percent, line)`."""
    seed = os.urandom(HASH_SIZE) if seed is None else seed
    directory.mkdir(parents=True, exist_ok=True)
    name = plot_name(k, seed)
    stripe = 4000 if k < 22 else 65536  # chiapos fails at k=18 with stripes of 8192
    args = [directory, directory, name, k, (owner.raw + seed).hex(), plot_id(owner, seed).hex()]
    command = [sys.executable, "-c", _PLOTTER, *map(str, args), str(stripe)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        assert child.stdout is not None
        tail: list[str] = []
        for line in child.stdout:
            tail = [*tail[-20:], line.rstrip()]
            for mark, percent in _PROGRESS_MARKS:
                if line.startswith(mark) and progress is not None:
                    progress(percent, line.strip())
    if child.returncode != 0 or not (directory / name).exists():
        raise PlotError(f"chiapos failed to plot k={k}:\n" + "\n".join(tail))
    return Plot(directory / name, owner, seed, k)


def load_plots(directory: Path, owner: Address) -> list[Plot]:
    """Every plot in `directory` made for `owner` (others are refused with the reason)."""
    plots = []
    for path in sorted(directory.glob("plot-k*-*.plot")):
        prover = DiskProver(str(path))
        memo = bytes(prover.get_memo())
        if len(memo) != RAW_SIZE + HASH_SIZE or memo[:RAW_SIZE] != owner.raw:
            raise PlotError(f"{path} was not plotted for {owner}")
        plot = Plot(path, owner, memo[RAW_SIZE:], prover.get_size())
        if bytes(prover.get_id()) != plot.id:
            raise PlotError(f"{path}: its plot id does not match its owner and seed")
        plots.append(plot)
    return plots


def find_proofs(plots: list[Plot], epoch_seed: bytes, challenges: int) -> Iterator[SpaceProof]:
    """Every proof the plots hold for the epoch's challenges (about one per plot each). A plot
    can hold the same proof twice for one challenge: it is sent once, since the chain refuses
    a repeated quality (and with it the whole batch)."""
    for plot in plots:
        prover = DiskProver(str(plot.path))
        for index in range(challenges):
            challenge = storage_challenge(epoch_seed, index)
            seen: set[bytes] = set()
            for i, quality in enumerate(prover.get_qualities_for_challenge(challenge)):
                if bytes(quality) in seen:
                    continue
                seen.add(bytes(quality))
                proof = bytes(prover.get_full_proof(challenge, i))
                yield SpaceProof(plot.seed, plot.k, index, proof)


def plotted_bytes(plots: list[Plot]) -> int:
    return sum(plot_bytes(p.k) for p in plots)
