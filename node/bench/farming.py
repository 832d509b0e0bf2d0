"""`gridchain bench farming`: what checking one epoch of farming costs a validator, and whether
paying an epoch's rewards fits between two blocks.

Verification (every validator does it, serially, inside the rules):
- storage: chiapos verification plus challenge derivation per proof, on proofs drawn
  round-robin from a few real plots (verification cost does not depend on which plot a proof
  comes from, and plotting a thousand plots would take hours); the full rule (prove_storage
  through process_transaction) is timed on the real plots' nodes to show its overhead per proof;
- compute: compute_samples scrypt recomputations per node, at the mainnet and devnet sizes;
- heartbeats: one ed25519 verify and one rule application per node per slot.

Payouts: a LevelDB chain whose last block of epoch 0 holds the farms, nodes and activity of
`payout_nodes` nodes (written as records, not sent as transactions); then the epoch's first
block is built (it settles the epoch and carries one reward line per node), validated and
committed, and compared with an ordinary block.
"""

import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chain.address import Address, key_address
from chain.blockchain import build_block, open_chain, validate_block
from chain.blocks.block import Block, encode_block
from chain.blocks.commit import Commit
from chain.blocks.header import Header
from chain.env import BlockEnv
from chain.farming.compute import required_units, work_unit
from chain.farming.records import (
    COUNTERS_KEY,
    EPOCH_KEY,
    RECENT_HASHES_KEY,
    VERIFIED,
    Activity,
    EpochInfo,
    Farm,
    FarmNode,
    activity_key,
    counters_record,
    encode_activity,
    encode_epoch,
    encode_farm,
    encode_node,
    encode_recent,
    farm_key,
    node_by_key_key,
    node_key,
)
from chain.farming.rules import settle_epoch, slots_per_epoch
from chain.farming.space import plot_bytes, proof_quality, storage_challenge
from chain.farming.txs import Heartbeat, Location, Resources, SpaceProof, StorageProofs
from chain.genesis_state import GenesisState, genesis_writes
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed, verify_signature
from chain.ledger.execution import process_transaction
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import Payload, SignedTx, TxBody, sign_tx
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.state import Overlay
from chain.store import ChainStore
from consensus.tendermint import Timeouts
from node.bench.blocks import commit_for, produce
from node.farmer.plots import Plot, create_plot, find_proofs

Progress = Callable[[str], None]

CHAIN = "bench-farming"
GENESIS_TIME = 1_767_225_600_000
FUNDS = 10**12
# Mainnet defaults, except that plots of k = 18 (a few MB, made in seconds) are accepted.
PARAMS = replace(ChainParams(), plot_min_k=18)
DEVNET_SCRYPT_LOG_N = 12  # devnet/network.py
HEARTBEAT_SAMPLE = 1_000  # heartbeats timed through the rule (and signatures verified)
REPEATS = 3  # each payout timing is the median of this many runs
RULE_REPEATS = 20  # the real nodes' proofs go through the rule this many times (fresh states)
# Build, send and validate of a proposal must fit in it, or the round fails.
PROPOSE_TIMEOUT_MS = Timeouts().propose_ms
RESOURCES = Resources(cores=1, memory_mb=4096, ssd_gb=1, hdd_gb=0)
LOCATION = Location("BE", "Ghent", 51_054_342, 3_717_424)


def _key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"bench-farming/" + name.encode()))


VALIDATOR = _key("validator")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


class _Records:
    """An in-memory state for the rule timings (no tree: roots are not what is measured)."""

    def __init__(self, records: Mapping[bytes, bytes]) -> None:
        self.records = dict(records)

    def get_state(self, key: bytes) -> bytes | None:
        return self.records.get(key)


def _genesis(params: ChainParams, funded: list[Address]) -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_TIME,
        balances=tuple((address, FUNDS) for address in funded),
        validators=make_validator_set([validator_with_key(VALIDATOR, 1000, "v")]),
        council=make_policy([Signer(VALIDATOR.public_key, 1)], 1),
        params=params,
        contracts=(),
    )


def _farm_records(
    params: ChainParams, owners: list[Address], node_keys: list[bytes], nodes_per_farm: int
) -> dict[bytes, bytes]:
    """Farms (one per `nodes_per_farm` nodes, owned and paid to `owners`) and their nodes,
    registered at height 1."""
    records = {}
    farms = (len(node_keys) + nodes_per_farm - 1) // nodes_per_farm
    for f in range(farms):
        members = min(nodes_per_farm, len(node_keys) - f * nodes_per_farm)
        owner = owners[f]
        farm = Farm(f + 1, owner, owner, params.farm_min_bond, f"farm-{f + 1}", members)
        records[farm_key(farm.id)] = encode_farm(farm)
    for i, public_key in enumerate(node_keys):
        node = FarmNode(i + 1, i // nodes_per_farm + 1, public_key, RESOURCES, LOCATION, 1)
        records[node_key(node.id)] = encode_node(node)
        records[node_by_key_key(public_key)] = node.id.to_bytes(8, "big")
    records[COUNTERS_KEY] = counters_record(farms + 1, len(node_keys) + 1)
    return records


def _tx(signer: KeyPair, payload: Payload, nonce: int = 0) -> SignedTx:
    body = TxBody(CHAIN, key_address(signer.public_key), nonce, PARAMS.min_fee, payload)
    return sign_tx(body, [signer])


# 1a. Storage proofs


@dataclass(frozen=True)
class StorageBench:
    nodes: int
    challenges: int
    plots: int
    k: int
    pool: int  # distinct real proofs the plots gave for the epoch's challenges
    verified: int  # proofs verified (nodes * challenges, drawn round-robin from the pool)
    verify_s: float
    rule_proofs: int  # proofs through the full rule (the plots' nodes', RULE_REPEATS times)
    rule_s: float

    @property
    def seconds_per_proof_check(self) -> float:
        return self.verify_s / self.verified

    @property
    def rule_per_proof_s(self) -> float:
        return self.rule_s / self.rule_proofs

    @property
    def epoch_s(self) -> float:
        """The rule's cost for every node's proofs (the raw verification plus its overhead)."""
        return self.rule_per_proof_s * self.verified

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "challenges_per_node": self.challenges,
            "real_plots": self.plots,
            "k": self.k,
            "proof_pool": self.pool,
            "proofs_verified": self.verified,
            "method": (
                f"chiapos verification + challenge derivation of nodes x challenges proofs "
                f"drawn round-robin from the {self.pool} real proofs of {self.plots} plots; "
                f"the full rule (process_transaction of StorageProofs) timed on those plots' "
                f"nodes and extrapolated per proof"
            ),
            "verify_s": round(self.verify_s, 3),
            "verify_us_per_proof": _us(self.seconds_per_proof_check),
            "rule_proofs": self.rule_proofs,
            "rule_us_per_proof": _us(self.rule_per_proof_s),
            "rule_overhead_us_per_proof": _us(self.rule_per_proof_s - self.seconds_per_proof_check),
            "epoch_s": round(self.epoch_s, 3),
        }


def make_plots(directory: Path, count: int, k: int, say: Progress) -> list[Plot]:
    """One real plot for each of `count` distinct owners (fixed seeds: the same proofs each run)."""
    plots = []
    for i in range(count):
        owner = key_address(_key(f"owner-{i}").public_key)
        seed = hash32(b"bench-farming/plot-%d" % i)
        plots.append(create_plot(directory, owner, k, seed))
        say(f"  plot {i + 1}/{count} (k={k}) made")
    return plots


def bench_storage(
    nodes: int, plots: list[Plot], params: ChainParams, say: Progress
) -> StorageBench:
    seed = hash32(b"bench-farming/epoch-seed")
    proofs = [list(find_proofs([plot], seed, params.storage_challenges)) for plot in plots]
    pool = [(plot.id, p) for plot, found in zip(plots, proofs, strict=True) for p in found]
    if not pool:
        raise RuntimeError("the plots hold no proof for any of the epoch's challenges")
    total = nodes * params.storage_challenges
    say(f"storage: verifying {total:,} proofs ({nodes} nodes x {params.storage_challenges})...")
    drawn = [pool[i % len(pool)] for i in range(total)]
    start = time.perf_counter()
    valid = sum(
        proof_quality(plot, p.k, storage_challenge(seed, p.challenge), p.proof) is not None
        for plot, p in drawn
    )
    verify_s = time.perf_counter() - start
    if valid != total:
        raise RuntimeError(f"{total - valid} of the plots' own proofs did not verify")
    say(f"storage: the full rule on {len(plots)} real nodes' proofs ({RULE_REPEATS} times)...")
    rule_s, rule_proofs = storage_rule(plots, proofs, seed, params)
    return StorageBench(
        nodes=nodes,
        challenges=params.storage_challenges,
        plots=len(plots),
        k=plots[0].k,
        pool=len(pool),
        verified=total,
        verify_s=verify_s,
        rule_proofs=rule_proofs,
        rule_s=rule_s,
    )


def storage_rule(
    plots: list[Plot], proofs: list[list[SpaceProof]], seed: bytes, params: ChainParams
) -> tuple[float, int]:
    """Each plot's node sends its proofs in one StorageProofs transaction, applied by
    process_transaction on a fresh overlay each time; returns (seconds, proofs applied)."""
    node_keys = [_key(f"plot-node-{i}") for i in range(len(plots))]
    owners = [plot.owner for plot in plots]
    gen = _genesis(params, [key_address(k.public_key) for k in node_keys])
    base = _Records(
        genesis_writes(gen)
        | _farm_records(params, owners, [k.public_key for k in node_keys], 1)
        | {EPOCH_KEY: encode_epoch(EpochInfo(0, 1, seed))}
    )
    txs = [
        (len(found), _tx(k, StorageProofs(i + 1, 0, tuple(found))))
        for i, (k, found) in enumerate(zip(node_keys, proofs, strict=True))
        if found
    ]
    env = BlockEnv(CHAIN, 2, GENESIS_TIME + 2000, key_address(VALIDATOR.public_key), params, seed)
    seconds, applied = 0.0, 0
    for _ in range(RULE_REPEATS):
        state = Overlay(base)
        for index, (count, tx) in enumerate(txs):
            start = time.perf_counter()
            process_transaction(env, state, tx, index)
            seconds += time.perf_counter() - start
            applied += count
    return seconds, applied


# 1b. Compute spot checks


@dataclass(frozen=True)
class ComputeBench:
    nodes: int
    samples: int
    log_n: int
    r: int
    seconds: float

    @property
    def units(self) -> int:
        return self.nodes * self.samples

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "samples_per_node": self.samples,
            "units": self.units,
            "scrypt_n": 2**self.log_n,
            "scrypt_r": self.r,
            "memory_mib": 128 * self.r * 2**self.log_n // 2**20,
            "ms_per_unit": _ms(self.seconds / self.units),
            "epoch_s": round(self.seconds, 3),
        }


def bench_compute(nodes: int, params: ChainParams, log_n: int, say: Progress) -> ComputeBench:
    """Every node's sampled units recomputed one after another, as reveal_compute does."""
    sized = replace(params, compute_scrypt_log_n=log_n)
    seed = hash32(b"bench-farming/compute-seed")
    units = nodes * params.compute_samples
    say(f"compute: {units:,} scrypt units at N=2^{log_n}, r={params.compute_scrypt_r}...")
    step = max(1, units // 10)
    start = time.perf_counter()
    for i in range(units):
        work_unit(sized, seed, i // params.compute_samples + 1, i % params.compute_samples)
        if (i + 1) % step == 0 and i + 1 < units:
            say(f"  {i + 1:,}/{units:,} units, {time.perf_counter() - start:.1f} s")
    seconds = time.perf_counter() - start
    return ComputeBench(nodes, params.compute_samples, log_n, params.compute_scrypt_r, seconds)


# 1c. Heartbeats


@dataclass(frozen=True)
class HeartbeatBench:
    nodes: int
    per_node: int  # heartbeat slots per epoch
    sample: int  # heartbeats timed
    verify_s: float
    rule_s: float

    @property
    def heartbeats(self) -> int:
        return self.nodes * self.per_node

    @property
    def epoch_verify_s(self) -> float:
        return self.verify_s / self.sample * self.heartbeats

    @property
    def epoch_rule_s(self) -> float:
        return self.rule_s / self.sample * self.heartbeats

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "heartbeats_per_node": self.per_node,
            "ed25519_verifies": self.heartbeats,
            "sample": self.sample,
            "verifies_per_s": round(self.sample / self.verify_s),
            "rule_us_per_heartbeat": _us(self.rule_s / self.sample),
            "epoch_verify_s": round(self.epoch_verify_s, 3),
            "epoch_rule_s": round(self.epoch_rule_s, 3),
        }


def bench_heartbeats(nodes: int, params: ChainParams, say: Progress) -> HeartbeatBench:
    """Signatures of `sample` heartbeats verified (verify_signature over each tx id), then the
    heartbeats applied by process_transaction in one block (nonce, fee, the rule's record)."""
    sample = min(nodes, HEARTBEAT_SAMPLE)
    keys = [_key(f"heartbeat-node-{i}") for i in range(sample)]
    ref_height = params.heartbeat_interval_blocks
    ref_hash = hash32(b"bench-farming/ref")
    txs = [_tx(k, Heartbeat(i + 1, ref_height, ref_hash)) for i, k in enumerate(keys)]
    signed = [(tx.signatures[0].public_key, tx.id, tx.signatures[0].signature) for tx in txs]
    say(f"heartbeats: {sample:,} signatures verified and heartbeats applied...")
    verify_s, valid = _timed(lambda: sum(verify_signature(*s) for s in signed))
    if valid != sample:
        raise RuntimeError("a heartbeat signature did not verify")
    gen = _genesis(params, [key_address(k.public_key) for k in keys])
    owners = [key_address(_key("heartbeat-owner").public_key)] * sample
    base = _Records(
        genesis_writes(gen)
        | _farm_records(params, owners, [k.public_key for k in keys], sample)
        | {
            EPOCH_KEY: encode_epoch(EpochInfo(0, 1, hash32(b"bench-farming/epoch-seed"))),
            RECENT_HASHES_KEY: encode_recent(((ref_height, ref_hash),)),
        }
    )
    height = ref_height + 1
    proposer = key_address(VALIDATOR.public_key)
    env = BlockEnv(CHAIN, height, GENESIS_TIME + height * 1000, proposer, params, ref_hash)
    state = Overlay(base)
    rule_s, _ = _timed(lambda: [process_transaction(env, state, tx, i) for i, tx in enumerate(txs)])
    return HeartbeatBench(nodes, slots_per_epoch(params), sample, verify_s, rule_s)


# 1. One epoch's verification


@dataclass(frozen=True)
class EpochBench:
    params: ChainParams
    storage: StorageBench
    compute: ComputeBench
    compute_devnet: ComputeBench
    heartbeats: HeartbeatBench

    @property
    def total_s(self) -> float:
        return (
            self.storage.epoch_s
            + self.compute.seconds
            + self.heartbeats.epoch_verify_s
            + self.heartbeats.epoch_rule_s
        )

    @property
    def epoch_wall_s(self) -> float:
        return self.params.epoch_blocks * self.params.block_interval_ms / 1000

    def to_json(self) -> dict[str, Any]:
        p = self.params
        return {
            "nodes": self.storage.nodes,
            "params": {
                name: getattr(p, name)
                for name in (
                    "epoch_blocks",
                    "block_interval_ms",
                    "heartbeat_interval_blocks",
                    "storage_challenges",
                    "plot_min_k",
                    "compute_samples",
                    "compute_scrypt_log_n",
                    "compute_scrypt_r",
                )
            },
            "storage": self.storage.to_json(),
            "compute_mainnet": self.compute.to_json(),
            "compute_devnet": self.compute_devnet.to_json(),
            "heartbeats": self.heartbeats.to_json(),
            "total_s": round(self.total_s, 2),
            "epoch_wall_s": self.epoch_wall_s,
            "share_of_epoch_pct": round(100 * self.total_s / self.epoch_wall_s, 2),
        }


def bench_epoch(nodes: int, plots: list[Plot], params: ChainParams, say: Progress) -> EpochBench:
    return EpochBench(
        params,
        bench_storage(nodes, plots, params, say),
        bench_compute(nodes, params, params.compute_scrypt_log_n, say),
        bench_compute(nodes, params, DEVNET_SCRYPT_LOG_N, say),
        bench_heartbeats(nodes, params, say),
    )


# 2. Payouts


@dataclass(frozen=True)
class PayoutBench:
    nodes: int
    farms: int
    block_interval_ms: int
    setup_s: float
    settle_s: float
    boundary_build_s: float
    boundary_validate_s: float
    boundary_commit_s: float
    ordinary_build_s: float
    ordinary_validate_s: float
    reward_lines: int
    boundary_bytes: int
    ordinary_bytes: int
    paid: int

    def to_json(self) -> dict[str, Any]:
        interval = self.block_interval_ms
        critical = _ms(self.boundary_build_s + self.boundary_validate_s)
        return {
            "nodes": self.nodes,
            "farms": self.farms,
            "setup_s": round(self.setup_s, 2),
            "reward_lines": self.reward_lines,
            "credits_paid": self.paid,
            "settle_ms": _ms(self.settle_s),
            "boundary_block": {
                "build_ms": _ms(self.boundary_build_s),
                "validate_ms": _ms(self.boundary_validate_s),
                "commit_ms": _ms(self.boundary_commit_s),
                "encoded_bytes": self.boundary_bytes,
            },
            "ordinary_block": {
                "build_ms": _ms(self.ordinary_build_s),
                "validate_ms": _ms(self.ordinary_validate_s),
                "encoded_bytes": self.ordinary_bytes,
            },
            "block_interval_ms": interval,
            "propose_timeout_ms": PROPOSE_TIMEOUT_MS,
            "build_plus_validate_ms": critical,
            "fits_in_interval": critical <= interval,
            "interval_left_ms": round(interval - critical, 2),
            "us_per_node": round(critical * 1000 / self.nodes, 1),
            "nodes_within_interval": int(interval * self.nodes / critical),
            "nodes_within_propose_timeout": int(PROPOSE_TIMEOUT_MS * self.nodes / critical),
        }


def _median_time(run: Callable[[], Any]) -> tuple[float, Any]:
    runs = [_timed(run) for _ in range(REPEATS)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def activity_records(
    params: ChainParams, nodes: int, k: int = PARAMS.plot_min_k
) -> dict[bytes, bytes]:
    """Epoch 0 for every node: a heartbeat in every slot since it registered, a proof per
    challenge from one plot of size k, and a verified compute answer."""
    slots = slots_per_epoch(params)
    activity = Activity(
        epoch=0,
        heartbeats=slots - 1,  # registered at height 1, in slot 0: counted from slot 1
        last_slot=slots - 1,
        space=params.storage_challenges * plot_bytes(k),
        proofs=params.storage_challenges,
        compute=VERIFIED,
        commit_height=params.compute_deadline_blocks,
        count=required_units(params, RESOURCES.cores),
        root=hash32(b"bench-farming/root"),
    )
    record = encode_activity(activity)
    return {activity_key(node): record for node in range(1, nodes + 1)}


def bench_payouts(
    nodes: int, say: Progress, params: ChainParams = PARAMS, nodes_per_farm: int = 10
) -> PayoutBench:
    farms = (nodes + nodes_per_farm - 1) // nodes_per_farm
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-farming-") as tmp:
        store = ChainStore(str(Path(tmp) / "chain.db"))
        try:
            return _payouts(store, nodes, farms, nodes_per_farm, params, say)
        finally:
            store.close()


def _payouts(
    store: ChainStore,
    nodes: int,
    farms: int,
    nodes_per_farm: int,
    params: ChainParams,
    say: Progress,
) -> PayoutBench:
    head = open_chain(store, _genesis(params, [key_address(VALIDATOR.public_key)]))
    say(f"payouts: {params.epoch_blocks} blocks of epoch 0, the last with {nodes:,} nodes...")
    owners = [key_address(hash32(b"bench-farming/farm-%d" % f)) for f in range(farms)]
    node_keys = [hash32(b"bench-farming/node-%d" % i) for i in range(nodes)]
    records = _farm_records(params, owners, node_keys, nodes_per_farm)
    records |= activity_records(params, nodes)
    setup_s = time.perf_counter()
    last_commit: Commit | None = None
    while head.height < params.epoch_blocks:
        extra = records if head.height == params.epoch_blocks - 1 else {}
        head, last_commit = produce(store, head, last_commit, CHAIN, VALIDATOR, extra)
    setup_s = time.perf_counter() - setup_s

    say(f"payouts: settling epoch 0 for {nodes:,} nodes ({REPEATS} times)...")
    settle_s, rewards = _median_time(lambda: settle_epoch(Overlay(store), params, 0))
    if len(rewards) != nodes:
        raise RuntimeError(f"the epoch settled {len(rewards)} nodes, not {nodes}")

    say("payouts: building and validating the epoch's first block...")
    build_s, boundary = _median_time(lambda: _build(store, head, last_commit))
    validate_s, checked = _median_time(lambda: validate_block(store, head, boundary))
    commit = commit_for(CHAIN, [VALIDATOR], boundary.header)
    commit_s, _ = _timed(
        lambda: store.commit_block(boundary, commit, checked.writes, checked.new_nodes)
    )

    say("payouts: building and validating the next (ordinary) block...")
    parent = boundary.header
    ordinary_s, ordinary = _median_time(lambda: _build(store, parent, commit))
    ordinary_validate_s, _ = _median_time(lambda: validate_block(store, parent, ordinary))
    return PayoutBench(
        nodes=nodes,
        farms=farms,
        block_interval_ms=params.block_interval_ms,
        setup_s=setup_s,
        settle_s=settle_s,
        boundary_build_s=build_s,
        boundary_validate_s=validate_s,
        boundary_commit_s=commit_s,
        ordinary_build_s=ordinary_s,
        ordinary_validate_s=ordinary_validate_s,
        reward_lines=len(boundary.rewards),
        boundary_bytes=len(encode_block(boundary)),
        ordinary_bytes=len(encode_block(ordinary)),
        paid=sum(r.amount for r in boundary.rewards),
    )


def _build(store: ChainStore, parent: Header, last_commit: Commit | None) -> Block:
    """The next block, with no transactions (an epoch's first one carries its rewards)."""
    result, _ = build_block(
        store, parent, last_commit, VALIDATOR.public_key, parent.time_ms + 1000, []
    )
    return result.block


# The command


@dataclass(frozen=True)
class FarmingBench:
    plot_s: float  # making the real plots (not part of any figure)
    epoch: EpochBench
    payouts: PayoutBench

    def to_json(self) -> dict[str, Any]:
        return {
            "plotting_s": round(self.plot_s, 2),
            "verification": self.epoch.to_json(),
            "payouts": self.payouts.to_json(),
        }


def bench_farming(
    nodes: int = 1_000,
    payout_nodes: int = 10_000,
    k: int = 18,
    plots: int = 4,
    say: Progress = lambda _: None,
    params: ChainParams = PARAMS,
) -> FarmingBench:
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-plots-") as tmp:
        say(f"plotting {plots} k={k} plots for {plots} owners...")
        plot_s, made = _timed(lambda: make_plots(Path(tmp), plots, k, say))
        epoch = bench_epoch(nodes, made, params, say)
    return FarmingBench(plot_s, epoch, bench_payouts(payout_nodes, say, params))


__all__ = [
    "PARAMS",
    "ComputeBench",
    "EpochBench",
    "FarmingBench",
    "HeartbeatBench",
    "PayoutBench",
    "StorageBench",
    "bench_compute",
    "bench_epoch",
    "bench_farming",
    "bench_heartbeats",
    "bench_payouts",
    "bench_storage",
    "make_plots",
]
