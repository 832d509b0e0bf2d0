"""`gridchain bench`: throughput of one node's pipeline, measured, never asserted.

chain: signed transfers arrive as bytes; they are decoded, their signatures verified on every
core, applied in blocks, and committed (block, state, tree nodes) to LevelDB with a synced write.
smt: state-root updates per second on a LevelDB-backed tree.
"""

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain import smt
from chain.address import Address, key_address
from chain.blockchain import build_block, open_chain
from chain.genesis_state import GenesisState
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import SignedTx, Transfer, TxBody, decode_tx, sign_tx
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.store import ChainStore
from node.bench.blocks import commit_for
from node.verifier import SignatureVerifier

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ChainBench:
    txs: int
    block_size: int
    workers: int
    decode_s: float
    verify_s: float
    apply_s: float
    commit_s: float
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        def rate(seconds: float) -> int:
            return round(self.txs / seconds) if seconds else 0

        return {
            "txs": self.txs,
            "block_size": self.block_size,
            "verify_workers": self.workers,
            "seconds": {
                "decode": round(self.decode_s, 3),
                "verify_wait": round(self.verify_s, 3),
                "apply": round(self.apply_s, 3),
                "commit": round(self.commit_s, 3),
                "wall": round(self.wall_s, 3),
            },
            "tx_per_s": {
                "decode": rate(self.decode_s),
                "verify_wait": rate(self.verify_s),
                "apply_and_state_root": rate(self.apply_s),
                "commit": rate(self.commit_s),
                "end_to_end": rate(self.wall_s),
            },
        }


def _keys(count: int, salt: int) -> list[KeyPair]:
    return [keypair_from_seed(hash32(f"bench/{salt}/{i}".encode())) for i in range(count)]


def _genesis(senders: list[KeyPair], validator: KeyPair, block_size: int) -> GenesisState:
    return GenesisState(
        chain_id="bench",
        genesis_time_ms=1_700_000_000_000,
        balances=tuple((key_address(k.public_key), 10**12) for k in senders),
        validators=make_validator_set([validator_with_key(validator, 1, "bench")]),
        council=make_policy([Signer(validator.public_key, 1)], 1),
        params=ChainParams(max_block_txs=block_size),
    )


def bench_chain(
    txs: int = 20_000,
    accounts: int = 10_000,
    block_size: int = 5_000,
    workers: int = 2,
    progress: Progress = lambda _: None,
) -> ChainBench:
    rng = random.Random(7)
    validator = _keys(1, 0)[0]
    senders = _keys(accounts, 1)
    recipients: list[Address] = [key_address(k.public_key) for k in _keys(accounts, 2)]
    progress(f"signing {txs} transfers from {accounts} accounts (not timed)")
    nonces = [0] * accounts
    raw: list[bytes] = []
    for i in range(txs):
        s = i % accounts
        body = TxBody(
            "bench",
            key_address(senders[s].public_key),
            nonces[s],
            1,
            Transfer(rng.choice(recipients), 1 + rng.randrange(1000)),
        )
        nonces[s] += 1
        raw.append(sign_tx(body, [senders[s]]).encoded)
    verifier = SignatureVerifier(workers)
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-") as tmp:
        store = ChainStore(str(Path(tmp) / "chain.db"))
        head = open_chain(store, _genesis(senders, validator, block_size))
        verifier.verify([decode_tx(raw[0])] * (2 * 256 * max(workers, 1)))  # start workers
        decode_s = verify_s = apply_s = commit_s = 0.0
        last_commit = None
        chunks = [raw[i : i + block_size] for i in range(0, txs, block_size)]
        # Pipeline: the workers verify block k+1 while this process applies block k.
        wall_start = time.perf_counter()
        t0 = time.perf_counter()
        decoded: list[SignedTx] = [decode_tx(data) for data in chunks[0]]
        decode_s += time.perf_counter() - t0
        pending = verifier.start(decoded)
        for k in range(len(chunks)):
            t1 = time.perf_counter()
            if any(v is not None for v in pending.result()):
                raise RuntimeError("benchmark transaction failed verification")
            verify_s += time.perf_counter() - t1
            current = decoded
            if k + 1 < len(chunks):
                t0 = time.perf_counter()
                decoded = [decode_tx(data) for data in chunks[k + 1]]
                decode_s += time.perf_counter() - t0
                pending = verifier.start(decoded)
            t2 = time.perf_counter()
            result, rejected = build_block(
                store, head, last_commit, validator.public_key, head.time_ms + 1000, current
            )
            if rejected or len(result.block.txs) != len(current):
                raise RuntimeError(f"benchmark block left out {len(rejected)} transactions")
            t3 = time.perf_counter()
            commit = commit_for("bench", [validator], result.block.header)
            store.commit_block(result.block, commit, result.writes, result.new_nodes)
            t4 = time.perf_counter()
            head, last_commit = result.block.header, commit
            apply_s += t3 - t2
            commit_s += t4 - t3
            progress(f"block {head.height}: {len(current)} txs applied and committed")
        wall_s = time.perf_counter() - wall_start
        store.close()
    verifier.close()
    return ChainBench(txs, block_size, workers, decode_s, verify_s, apply_s, commit_s, wall_s)


def bench_smt(
    keys: int = 100_000, batch: int = 10_000, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """State-root updates per second on a LevelDB-backed tree of `keys` entries."""
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-") as tmp:
        store = ChainStore(str(Path(tmp) / "chain.db"))
        db = store._db  # the raw table writes below bypass block bookkeeping on purpose
        root = smt.EMPTY_ROOT
        timings = []
        rounds = keys // batch
        for r in range(rounds + 3):
            if r < rounds:
                changes = {
                    hash32(b"k%d" % (r * batch + i)): hash32(b"v%d" % r) for i in range(batch)
                }
            else:
                changes = {
                    hash32(b"k%d" % i): hash32(b"w%d/%d" % (r, i))
                    for i in random.Random(r).sample(range(keys), batch)
                }
            t0 = time.perf_counter()
            root, nodes = smt.update(store, root, changes)
            with db.write_batch(sync=True) as wb:
                for h, node in nodes.items():
                    wb.put(b"N" + h, node)
            elapsed = time.perf_counter() - t0
            if r >= rounds:
                timings.append(elapsed)
            progress(f"batch {r + 1}/{rounds + 3}: {batch / elapsed:,.0f} updates/s")
        store.close()
    best = min(timings)
    return {
        "tree_keys": keys,
        "batch": batch,
        "updates_per_s": round(batch * len(timings) / sum(timings)),
        "best_batch_updates_per_s": round(batch / best),
    }
