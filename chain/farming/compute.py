"""Compute challenges: memory-hard scrypt work units, committed, then spot-checked.

Each epoch every node is challenged once, at a height drawn from the epoch's seed; the
challenge's own seed is the hash of that block, so nobody knows the work before the block is
final. The node computes compute_units_per_core units per declared core and commits a Merkle
root over the results within compute_deadline_blocks. The hash of the block holding the commit
(unknown when the node committed) then picks compute_samples indices that the node opens and
every validator recomputes. A node that skipped a fraction f of the units, or made them up, is
caught with probability 1 - (1 - f)**samples.
"""

import hashlib

from chain.hashing import tagged_hash
from chain.merkle import leaf_hash
from chain.params import ChainParams, compute_window

SCRYPT_SALT = b"gridchain/compute/v1"
RESULT_SIZE = 32


def challenge_height(params: ChainParams, epoch_start: int, epoch_seed: bytes, node: int) -> int:
    """The height whose block hash seeds `node`'s compute challenge in the epoch starting at
    `epoch_start` (so it is known only once the epoch's first block is)."""
    draw = tagged_hash(b"gc/compute-time", epoch_seed + node.to_bytes(8, "big"))
    return epoch_start + int.from_bytes(draw[:8], "big") % compute_window(params)


def required_units(params: ChainParams, cores: int) -> int:
    return cores * params.compute_units_per_core


def work_unit(params: ChainParams, seed: bytes, node: int, index: int) -> bytes:
    """Unit `index` of `node`'s challenge: scrypt over (seed, node, index), 128 * r * N bytes
    of memory (16 MiB at N = 2**14, r = 8)."""
    password = seed + node.to_bytes(8, "big") + index.to_bytes(4, "big")
    n, r = 2**params.compute_scrypt_log_n, params.compute_scrypt_r
    return hashlib.scrypt(
        password, salt=SCRYPT_SALT, n=n, r=r, p=1, maxmem=256 * n * r, dklen=RESULT_SIZE
    )


def result_leaf(index: int, result: bytes) -> bytes:
    """The Merkle leaf of one result: the index is inside, so results cannot be moved."""
    return leaf_hash(index.to_bytes(4, "big") + result)


def sample_indices(sample_seed: bytes, node: int, count: int, samples: int) -> tuple[int, ...]:
    """`samples` distinct indices below `count` (all of them if there are fewer), in the order
    drawn, from the hash of the block that holds the commit."""
    wanted = min(samples, count)
    picked: list[int] = []
    counter = 0
    while len(picked) < wanted:
        draw = tagged_hash(
            b"gc/compute-sample", sample_seed + node.to_bytes(8, "big") + counter.to_bytes(4, "big")
        )
        index = int.from_bytes(draw[:8], "big") % count
        if index not in picked:
            picked.append(index)
        counter += 1
    return tuple(picked)


def proven_milli_cores(params: ChainParams, cores: int, count: int) -> int:
    """Cores proven by `count` verified units, in thousandths (at most the declared cores)."""
    return min(count, required_units(params, cores)) * 1000 // params.compute_units_per_core
