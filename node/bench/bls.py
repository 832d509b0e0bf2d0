"""`gridchain bench bls`: what BLS12-381 costs per backend, as finality certificates use it.

Per backend (arkworks, the fast one the chain uses; py_ecc, the pure-Python reference):
KeyGen, sign, verify of one signature, FastAggregateVerify over 4, 64 and 150 validators (the
keys already decoded and cached, as a node checking a certificate every height has them),
aggregating 64 signatures, and KeyValidate of a key not seen before (the decode and subgroup
check a node pays once per validator key). Keys and signatures are made with the fast backend:
both backends give the same bytes, and only the timed operation runs on the backend measured.

The reference is slow (~0.1-0.3 s a sign or verify, seconds for large aggregates), so it runs
each operation at least once and then only while its share of `reference_seconds` lasts; the
result says how many runs each figure is the median of.
"""

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from chain import bls
from chain.bls.fast import FAST, public_key_point
from chain.bls.suite import Backend
from chain.hashing import hash32
from chain.keys import keypair_from_seed, verify_signature
from node.bench.timing import machine

Progress = Callable[[str], None]

CERTIFICATE_SIZES = (4, 64, 150)
AGGREGATED = 64
MESSAGE = hash32(b"bench-bls/precommit") * 3  # about the size of a precommit's sign bytes
DISTRIBUTIONS = {"arkworks": "py_arkworks_bls12381", "py_ecc": "py_ecc"}


@dataclass(frozen=True)
class Op:
    """One timed operation: `run` does it once; `name` is its key in the results."""

    name: str
    run: Callable[[], object]


@dataclass(frozen=True)
class Timing:
    runs: int
    median_ms: float
    min_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"runs": self.runs, "median_ms": self.median_ms, "min_ms": self.min_ms}


@dataclass(frozen=True)
class Fixture:
    """Keys (as many as the largest certificate), and their signatures of MESSAGE."""

    keys: tuple[bls.BlsKey, ...]
    signatures: tuple[bytes, ...]
    aggregates: dict[int, bytes]

    def public_keys(self, count: int) -> list[bytes]:
        return [key.public_key for key in self.keys[:count]]


def bench_bls(
    iterations: int, reference_runs: int, reference_seconds: float, say: Progress
) -> dict[str, Any]:
    """Time every operation on the fast backend `iterations` times, and on the reference up
    to `reference_runs` times within `reference_seconds` (0 runs: the reference is skipped)."""
    started = time.perf_counter()
    say(f"making {max(CERTIFICATE_SIZES)} keys and their signatures")
    fixture = _fixture(max(CERTIFICATE_SIZES))
    backends: dict[str, Any] = {}
    say(f"arkworks: {iterations} runs of each operation")
    backends["arkworks"] = _measure(FAST, fixture, Budget(iterations, None))
    if reference_runs > 0:
        from chain.bls.reference import REFERENCE

        say(f"py_ecc: up to {reference_runs} runs of each, within ~{reference_seconds:g} s")
        backends["py_ecc"] = _measure(REFERENCE, fixture, Budget(reference_runs, reference_seconds))
    return {
        "machine": machine(),
        "versions": {name: _version(dist) for name, dist in DISTRIBUTIONS.items()},
        "message_bytes": len(MESSAGE),
        "backends": backends,
        "ed25519_verify_ms": _ed25519_verify_ms(iterations),
        "seconds": round(time.perf_counter() - started, 1),
    }


@dataclass(frozen=True)
class Budget:
    """At most `runs` runs of each op, and (unless None) about `seconds` for all of them."""

    runs: int
    seconds: float | None


def _fixture(count: int) -> Fixture:
    keys = tuple(bls.bls_keygen(hash32(b"bench-bls/%d" % i)) for i in range(count))
    signatures = tuple(bls.sign(key, MESSAGE) for key in keys)
    aggregates = {n: bls.aggregate(signatures[:n]) for n in (*CERTIFICATE_SIZES, AGGREGATED)}
    return Fixture(keys, signatures, aggregates)


def _ops(backend: Backend, fixture: Fixture, fresh_keys: Sequence[bytes]) -> list[Op]:
    key, signature = fixture.keys[0], fixture.signatures[0]
    unseen = iter(fresh_keys)
    ops = [
        Op("keygen", lambda: bls.bls_keygen(os.urandom(32), backend)),
        Op("sign", lambda: bls.sign(key, MESSAGE, backend)),
        Op("verify", lambda: _true(bls.verify(key.public_key, MESSAGE, signature, backend))),
    ]
    for n in CERTIFICATE_SIZES:
        keys, aggregate = fixture.public_keys(n), fixture.aggregates[n]
        ops.append(Op(f"fast_aggregate_verify_{n}", _fav(keys, aggregate, backend)))
    if backend is FAST:  # the reference has no cache: its figures are all uncached
        n = max(CERTIFICATE_SIZES)
        uncached = _fav(fixture.public_keys(n), fixture.aggregates[n], backend, cold=True)
        ops.append(Op(f"fast_aggregate_verify_{n}_uncached_keys", uncached))
    some = list(fixture.signatures[:AGGREGATED])
    ops.append(Op(f"aggregate_{AGGREGATED}", lambda: bls.aggregate(some, backend)))
    ops.append(Op("key_validate", lambda: bls.key_validate(next(unseen), backend)))
    return ops


def _fav(
    keys: list[bytes], aggregate: bytes, backend: Backend, cold: bool = False
) -> Callable[[], object]:
    """A certificate check; `cold` empties the key cache first (a node that just started, or
    a light client meeting a new validator set)."""

    def run() -> bool:
        if cold:
            public_key_point.cache_clear()
        return _true(bls.fast_aggregate_verify(keys, MESSAGE, aggregate, backend))

    return run


def _true(verdict: bool) -> bool:
    if not verdict:
        raise AssertionError("a benchmark signature did not verify")
    return verdict


def _measure(backend: Backend, fixture: Fixture, budget: Budget) -> dict[str, Any]:
    """Every op timed under `budget`, the fast backend's key cache holding the fixture's keys
    (key_validate gets keys never decoded before)."""
    seed = b"bench-bls/fresh/" + backend.name.encode()
    fresh = [bls.bls_keygen(hash32(seed + b"%d" % i)).public_key for i in range(budget.runs)]
    ops = _ops(backend, fixture, fresh)
    share = None if budget.seconds is None else budget.seconds / len(ops)
    timings = {}
    for op in ops:
        _warm(fixture)
        timings[op.name] = _time(op, budget.runs, share).to_json()
    return {"ms": timings, "key_cache": _cache_info()}


def _warm(fixture: Fixture) -> None:
    for public_key in fixture.public_keys(len(fixture.keys)):
        public_key_point(public_key)


def _time(op: Op, runs: int, share: float | None) -> Timing:
    """Run `op` `runs` times, or fewer once `share` seconds are spent (at least once)."""
    seconds: list[float] = []
    while len(seconds) < runs:
        start = time.perf_counter()
        op.run()
        seconds.append(time.perf_counter() - start)
        if share is not None and sum(seconds) >= share:
            break
    return Timing(len(seconds), _ms(statistics.median(seconds)), _ms(min(seconds)))


def _ed25519_verify_ms(iterations: int) -> float:
    """One ed25519 verify (chain.keys), for scale: a commit today checks one per signer."""
    pair = keypair_from_seed(hash32(b"bench-bls/ed25519"))
    signature = pair.sign(MESSAGE)
    start = time.perf_counter()
    for _ in range(iterations):
        verify_signature(pair.public_key, MESSAGE, signature)
    return _ms((time.perf_counter() - start) / iterations)


def _cache_info() -> dict[str, int | None]:
    info = public_key_point.cache_info()
    return {"size": info.currsize, "maxsize": info.maxsize}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
