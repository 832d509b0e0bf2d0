"""Proofs of space: chiapos plots bound to a farm owner, challenged once per epoch.

A plot of size k holds about 2**k entries in seven tables (~0.762 * k * 2**k bytes); for a random
32-byte challenge it holds on average one proof (Poisson: some challenges have none, some two),
and finding one without the plot means redoing most of the plotting. So the count of valid
proofs over an epoch's challenges, each weighted by its plot's size, estimates the space a
farmer keeps plotted: sum(plot_bytes(k)) / challenges.

The plot id is hash(owner address || seed): the proofs of a plot verify only for the farm owner
whose address was plotted in, so nobody can claim another farmer's plots or proofs.
"""

from chiapos import Verifier

from chain.address import Address
from chain.hashing import tagged_hash

GIB = 2**30


def plot_id(owner: Address, plot_seed: bytes) -> bytes:
    """The 32-byte id chiapos plots with: binds the plot to the farm owner's key address."""
    return tagged_hash(b"gc/plot", owner.raw + plot_seed)


def plot_bytes(k: int) -> int:
    """Space a plot of size k takes on disk (chiapos: ~0.762 * k * 2**k bytes)."""
    return 762 * k * (1 << k) // 1000


def storage_challenge(epoch_seed: bytes, index: int) -> bytes:
    """Challenge `index` of the epoch whose seed (a finalized block hash) is `epoch_seed`."""
    return tagged_hash(b"gc/space-challenge", epoch_seed + index.to_bytes(2, "big"))


def proof_quality(plot: bytes, k: int, challenge: bytes, proof: bytes) -> bytes | None:
    """The proof's quality string if it is a valid proof of space for `challenge` from the plot
    with id `plot` and size k, else None."""
    if len(proof) != 8 * k:
        return None
    quality = _VERIFIER.validate_proof(plot, k, challenge, proof)
    return None if quality is None else bytes(quality)


_VERIFIER = Verifier()  # stateless: it only wraps chiapos's verification functions
