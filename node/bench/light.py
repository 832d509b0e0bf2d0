"""`gridchain bench light`: what finality certificates cost and save, and how fast a light client
follows a chain whose validator set keeps changing.

- Certificates of 4, 64 and 150 validators: their size against a commit of one ed25519
  signature per validator (what commits were before), and the time to check each (`check_commit`:
  the bitmap, the >2/3 count, one FastAggregateVerify) against checking the ed25519 signatures.
- A chain of `headers` light blocks (headers, the set that signed each, its certificate) whose
  set changes every `change_every` heights (one validator replaced by a new one, so the genesis
  set is gone after `validators` changes): verified header by header (adjacent), and by a light
  client skipping from genesis to the top (chain/light/verify.py's bisection).

The chain is made here, not executed: the light client reads only headers, sets and
certificates. Each certificate's aggregate is made as one signature by the sum of its signers'
BLS secrets (BLS is linear, so the bytes are those of aggregating each signer's signature; the
first certificate is checked to be byte-identical to `sign_commit`'s).
"""

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain import bls
from chain.blocks.commit import (
    Commit,
    VoteType,
    check_commit,
    encode_commit,
    sign_commit,
    signer_bitmap,
    vote_sign_bytes,
)
from chain.blocks.header import Header
from chain.bls.suite import CURVE_ORDER, SECRET_SIZE
from chain.encoding import encode
from chain.hashing import ZERO_HASH, hash32
from chain.keys import KeyPair, keypair_from_seed, verify_signature
from chain.light.blocks import LightBlock, encode_light_block
from chain.light.verify import verify_adjacent, verify_to
from chain.merkle import EMPTY_ROOT
from chain.staking.validators import (
    ValidatorSet,
    make_validator_set,
    validator_bls_key,
    validator_set_hash,
    validator_with_key,
)
from node.bench.timing import machine

Progress = Callable[[str], None]
CHAIN_ID = "gridchain-bench-light"
CERTIFICATE_SIZES = (4, 64, 150)
STAKE = 1_000
BLOCK_MS = 1_000


@dataclass(frozen=True)
class Member:
    key: KeyPair
    bls_secret: int


def bench_light(
    headers: int, validators: int, change_every: int, runs: int, say: Progress
) -> dict[str, Any]:
    started = time.perf_counter()
    say(f"certificates of {', '.join(map(str, CERTIFICATE_SIZES))} validators")
    certificates = {str(n): _certificate_figures(n, runs) for n in CERTIFICATE_SIZES}
    say(f"making {headers:,} light blocks, the set of {validators} changing every {change_every}")
    t0 = time.perf_counter()
    chain = make_chain(headers, validators, change_every)
    made = time.perf_counter() - t0
    say("verifying every header (adjacent)")
    t0 = time.perf_counter()
    for trusted, block in itertools.pairwise(chain):
        verify_adjacent(CHAIN_ID, trusted, block)
    adjacent = time.perf_counter() - t0
    say("a light client skipping from genesis to the top")
    fetched: list[int] = []
    verified: list[int] = []

    def fetch(height: int) -> LightBlock:
        fetched.append(height)
        return chain[height]

    t0 = time.perf_counter()
    verify_to(CHAIN_ID, chain[0], headers, fetch, lambda b: verified.append(b.height))
    skipping = time.perf_counter() - t0
    changes = headers // change_every
    return {
        "machine": machine(),
        "certificates": certificates,
        "light_sync": {
            "headers": headers,
            "validators": validators,
            "set_changes": changes,
            "change_every": change_every,
            "chain_made_s": round(made, 1),
            "adjacent": {
                "seconds": round(adjacent, 2),
                "headers_per_s": round(headers / adjacent),
            },
            "skipping": {
                "seconds": round(skipping, 3),
                "certificates_checked": len(verified),
                "light_blocks_fetched": len(set(fetched)),
                "headers_per_s": round(headers / skipping),
            },
            "light_block_bytes": len(encode_light_block(chain[-1])),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


# Certificates against ed25519 commits


def _certificate_figures(n: int, runs: int) -> dict[str, Any]:
    keys = [keypair_from_seed(hash32(b"bench-light/cert %d" % i)) for i in range(n)]
    vset = make_validator_set([validator_with_key(k, STAKE) for k in keys])
    header = _header(1, ZERO_HASH, hash32(b"set"), hash32(b"set"))
    commit = sign_commit(CHAIN_ID, vset, keys, header)
    message = vote_sign_bytes(CHAIN_ID, 1, 0, VoteType.PRECOMMIT, header.hash)
    ed25519 = [(k.public_key, k.sign(message)) for k in keys]
    ed25519_commit = encode(
        {
            "height": 1,
            "round": 0,
            "block_hash": header.hash,
            "signatures": [list(p) for p in ed25519],
        }
    )
    check_commit(CHAIN_ID, vset, commit, header)  # keys decoded and cached, as on a node

    def ed25519_check() -> None:
        for public_key, signature in ed25519:
            assert verify_signature(public_key, message, signature)

    return {
        "certificate_bytes": len(encode_commit(commit)),
        "ed25519_commit_bytes": len(ed25519_commit),
        "check_ms": _median_ms(lambda: check_commit(CHAIN_ID, vset, commit, header), runs),
        "ed25519_check_ms": _median_ms(ed25519_check, runs),
    }


def _median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)


# A chain of light blocks


def make_chain(headers: int, size: int, change_every: int) -> list[LightBlock]:
    """Light blocks 0..headers; at every multiple of `change_every` the oldest validator is
    replaced by a new one in the next set."""
    pool = (_member(i) for i in range(10**9))
    members = [next(pool) for _ in range(size)]
    sets = [_set(members)]
    root = _header(0, ZERO_HASH, validator_set_hash(sets[0]), validator_set_hash(sets[0]))
    chain = [LightBlock(root, sets[0], None)]
    signers = members
    for height in range(1, headers + 1):
        vset = sets[-1]
        if height % change_every == 0:
            members = [*members[1:], next(pool)]
            sets.append(_set(members))
        header = _header(
            height, chain[-1].header.hash, validator_set_hash(vset), validator_set_hash(sets[-1])
        )
        commit = _aggregate_commit(vset, signers, header)
        if height == 1:
            keys = [m.key for m in signers]
            assert commit == sign_commit(CHAIN_ID, vset, keys, header)  # the shortcut is exact
        chain.append(LightBlock(header, vset, commit))
        signers = members
    return chain


def _member(i: int) -> Member:
    key = keypair_from_seed(hash32(b"bench-light/validator %d" % i))
    return Member(key, int.from_bytes(validator_bls_key(key).secret, "big"))


def _set(members: list[Member]) -> ValidatorSet:
    return make_validator_set([validator_with_key(m.key, STAKE) for m in members])


def _aggregate_commit(vset: ValidatorSet, signers: list[Member], header: Header) -> Commit:
    """Every validator of `vset` precommits `header` (`signers` are its members)."""
    secret = sum(m.bls_secret for m in signers) % CURVE_ORDER
    message = vote_sign_bytes(CHAIN_ID, header.height, 0, VoteType.PRECOMMIT, header.hash)
    signature = bls.sign(bls.bls_key_from_secret(secret.to_bytes(SECRET_SIZE, "big")), message)
    return Commit(
        header.height, 0, header.hash, signer_bitmap(range(len(vset.validators))), signature
    )


def _header(height: int, prev_hash: bytes, vset_hash: bytes, next_hash: bytes) -> Header:
    return Header(
        chain_id=CHAIN_ID,
        height=height,
        prev_hash=prev_hash,
        time_ms=1_767_225_600_000 + height * BLOCK_MS,
        proposer=bytes(32),
        tx_root=EMPTY_ROOT,
        tx_count=0,
        state_root=hash32(b"state %d" % height),
        audit_root=EMPTY_ROOT,
        audit_size=0,
        validators_hash=vset_hash,
        next_validators_hash=next_hash,
        last_commit_hash=ZERO_HASH,
        evidence_hash=EMPTY_ROOT,
    )
