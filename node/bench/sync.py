"""`gridchain bench sync`: how fast a node far behind catches up by block sync.

A 4-validator devnet is prepared in a temporary directory without starting it (devnet/network.py
with start=False). Its chain is generated offline on node0's LevelDB: blocks built by the chain's
own build_block from transfers of the funded devnet account alice, each finalized by a real
commit (precommit signatures of all 4 validator keys) and carried as the next block's
last_commit, stored with the same synced ChainStore.commit_block a node uses. node1 and node2
get a copy of that database; node3 starts from an empty one.

node0..node2 are started first (they hold 3/4 of the blockstake and carry on with consensus).
Then node3 is started, and its /v1/status height is polled every 50 ms until it reaches the
generated height: catch-up speed in blocks per second, from its API answering and from process
start. Its gridchain_synced_blocks counter confirms the blocks came by block sync, and a few of
its headers are compared with node0's.

Afterwards an offline replay of the same blocks times each step of the sync path one by one
(serving reads, message codec, decoding, commit verification, validate_block, the synced store
write), to tell where the time goes. Figures are measured, never asserted.
"""

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.address import Address, key_address, parse_address
from chain.blockchain import build_block, open_chain
from chain.blocks.block import decode_block
from chain.blocks.commit import (
    Commit,
    decode_commit,
    encode_commit,
)
from chain.genesis_state import GenesisState
from chain.keys import KeyPair
from chain.ledger.transactions import SignedTx, Transfer, TxBody, sign_tx
from chain.store import ChainStore
from devnet import network, processes
from genesis.schema import load_genesis
from node.api.client import ApiError, NodeClient
from node.bench.blocks import Certifier
from node.config import Home, load_validator_key
from node.keystore import DEVNET_PASSPHRASE, Keystore
from node.p2p.messages import Blocks, decode_message, encode_message
from node.server import build_node

Progress = Callable[[str], None]

VALIDATORS = 4
POLL_SECONDS = 0.05
STALL_SECONDS = 60.0  # node3's height not moving for this long fails the run
SERVE_BATCH = 200  # blocks per GetBlocks answer, as node/consensus/blocksync.py's SYNC_BATCH
FEE = 1
HEADERS_CHECKED = 5
FAN_OUT_PER_BLOCK = 5_000  # new accounts funded per generated block


def quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class Generated:
    blocks: int
    txs: int
    seconds: float


@dataclass(frozen=True)
class Breakdown:
    """Seconds spent per step of the sync path, replaying `blocks` blocks in one process."""

    blocks: int
    seconds: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        total = sum(v for k, v in self.seconds.items() if not k.startswith("of_which"))
        per_block = {k: round(v / self.blocks * 1000, 3) for k, v in self.seconds.items()}
        return {
            "blocks": self.blocks,
            "ms_per_block": per_block,
            "total_ms_per_block": round(total / self.blocks * 1000, 3),
            "blocks_per_s_if_serial": round(self.blocks / total) if total else 0,
        }


@dataclass
class SyncBench:
    blocks: int
    txs_per_block: int
    generated: Generated
    spawn_to_api_s: float
    height_at_api: int
    api_to_target_s: float
    spawn_to_target_s: float
    steady_blocks_per_s: float | None
    synced_blocks: int
    final_height: int
    headers: list[dict[str, Any]]
    load_average: float = 0.0  # 1-minute load average when node3 was started
    cpu_s: float | None = None  # CPU time node3 used from its API answering to the target
    breakdown: Breakdown | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def blocks_per_s(self) -> float | None:
        """From node3's API answering to its height reaching the target."""
        caught_up = self.blocks - self.height_at_api
        if caught_up <= 0 or self.api_to_target_s <= 0:
            return None
        return caught_up / self.api_to_target_s

    @property
    def headers_match(self) -> bool:
        return bool(self.headers) and all(h["node0"] == h["node3"] for h in self.headers)

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "validators": VALIDATORS,
            "blocks": self.blocks,
            "txs_per_block": self.txs_per_block,
            "generate": {
                "blocks": self.generated.blocks,
                "txs": self.generated.txs,
                "seconds": round(self.generated.seconds, 2),
            },
            "node3": {
                "spawn_to_api_s": round(self.spawn_to_api_s, 3),
                "height_at_api": self.height_at_api,
                "api_to_target_s": round(self.api_to_target_s, 3),
                "spawn_to_target_s": round(self.spawn_to_target_s, 3),
                "final_height": self.final_height,
                "synced_blocks": self.synced_blocks,
                "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 2),
            },
            "blocks_per_s": rounded(self.blocks_per_s),
            "blocks_per_s_including_start": rounded(
                self.blocks / self.spawn_to_target_s if self.spawn_to_target_s else None
            ),
            "steady_blocks_per_s": rounded(self.steady_blocks_per_s),
            "blocks_per_cpu_s": rounded(
                (self.blocks - self.height_at_api) / self.cpu_s if self.cpu_s else None
            ),
            "headers_match": self.headers_match,
            "headers": self.headers,
            "load_average_at_start": round(self.load_average, 2),
            "breakdown": None if self.breakdown is None else self.breakdown.to_json(),
        }


# Generating the chain offline


def generate_chain(
    db_path: Path,
    gen: GenesisState,
    validators: list[KeyPair],
    sender: KeyPair,
    recipient: Address,
    blocks: int,
    txs_per_block: int,
    say: Progress = quiet,
    accounts: int = 0,
) -> Generated:
    """Blocks 1..`blocks` on a fresh database, each with `txs_per_block` transfers of 1 from
    `sender` to `recipient`, proposed by the validators in turn and finalized by all of them;
    block k + 1 carries block k's commit as its last_commit. With `accounts`, the first blocks
    instead fund that many new accounts, FAN_OUT_PER_BLOCK a block (a state of that size)."""
    started = time.perf_counter()
    sender_address = key_address(sender.public_key)
    nonce = 0
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = ChainStore(str(db_path))
    try:
        head = open_chain(store, gen)
        last_commit: Commit | None = None
        report = max(1, blocks // 10)
        certifier = Certifier.of(gen.chain_id, validators)
        funded = 0
        for height in range(1, blocks + 1):
            recipients = [recipient] * txs_per_block
            if funded < accounts:
                count = min(FAN_OUT_PER_BLOCK, accounts - funded)
                recipients = [new_account(funded + i) for i in range(count)]
                funded += count
            txs: list[SignedTx] = []
            for to in recipients:
                body = TxBody(gen.chain_id, sender_address, nonce, FEE, Transfer(to, 1))
                txs.append(sign_tx(body, [sender]))
                nonce += 1
            proposer = validators[height % len(validators)].public_key
            result, rejected = build_block(
                store, head, last_commit, proposer, head.time_ms + 1, txs
            )
            if rejected or len(result.block.txs) != len(txs):
                reason = rejected[0].error.message if rejected else "block is full"
                raise processes.DevnetError(
                    f"generated block {height} left out a transfer: {reason}"
                )
            commit = certifier.certify(result.block.header)
            store.commit_block(result.block, commit, result.writes, result.new_nodes)
            head, last_commit = result.block.header, commit
            if height % report == 0 or height == blocks:
                elapsed = time.perf_counter() - started
                say(f"  generated {height}/{blocks} blocks ({height / elapsed:,.0f} blocks/s)")
    finally:
        store.close()
    return Generated(blocks, nonce, time.perf_counter() - started)


def new_account(index: int) -> Address:
    """The `index`th account a generated chain funds (nobody holds its key)."""
    return key_address(hashlib.blake2b(b"bench/account/%d" % index, digest_size=32).digest())


# Running the devnet


def api_height(client: NodeClient) -> int | None:
    try:
        return int(client.status()["height"])
    except (ApiError, KeyError, TypeError, ValueError):
        return None


def synced_blocks(api: str) -> int:
    """The node's gridchain_synced_blocks counter, from its Prometheus metrics."""
    with urllib.request.urlopen(f"{api}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^gridchain_synced_blocks(?:_total)?\s+([0-9.e+]+)$", text, re.M)
    return int(float(match.group(1))) if match else 0


def wait_for_height(
    client: NodeClient, target: int, log: Path, say: Progress
) -> list[tuple[float, int]]:
    """(monotonic time, height) every POLL_SECONDS until `target`; fails if it stalls."""
    samples: list[tuple[float, int]] = []
    last_height, last_move = -1, time.monotonic()
    next_report = time.monotonic() + 2
    while True:
        height = api_height(client)
        now = time.monotonic()
        if height is not None:
            samples.append((now, height))
            if height > last_height:
                last_height, last_move = height, now
            if height >= target:
                return samples
        if now - last_move > STALL_SECONDS:
            raise processes.DevnetError(
                f"node3 stayed at height {last_height} for {STALL_SECONDS:g} s; "
                f"last lines of {log}:\n{processes.log_tail(log)}"
            )
        if now >= next_report:
            say(f"  node3 at height {last_height}/{target}")
            next_report = now + 2
        time.sleep(POLL_SECONDS)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process and its threads (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _steady_rate(samples: list[tuple[float, int]], target: int) -> float | None:
    """Blocks/s between the first samples at or above 10% and 90% of the target."""
    low = next((s for s in samples if s[1] >= target // 10), None)
    high = next((s for s in samples if s[1] >= target * 9 // 10), None)
    if low is None or high is None or high[0] <= low[0]:
        return None
    return (high[1] - low[1]) / (high[0] - low[0])


def _compare_headers(node0: NodeClient, node3: NodeClient, blocks: int) -> list[dict[str, Any]]:
    heights = sorted({1, max(1, blocks // 4), max(1, blocks // 2), max(1, blocks - 1), blocks})
    return [
        {
            "height": h,
            "node0": node0.block(h)["header"]["hash"],
            "node3": node3.block(h)["header"]["hash"],
        }
        for h in heights[:HEADERS_CHECKED]
    ]


# Where the time goes


def replay_breakdown(source: Path, home: Path, blocks: int) -> Breakdown:
    """Replay blocks 1..`blocks` of the database at `source` into a fresh node on `home` (an
    empty home of this devnet), doing what a serving peer and a syncing node do for each
    answer of SERVE_BATCH blocks: the peer's reads and the message codec, then the syncing
    node's decode and its own `NodeService.apply_synced` (certificates, validation, signatures
    in the worker pool, one synced write), all in one process."""
    seconds = dict.fromkeys(
        ("serve_read", "message_codec", "decode", "apply_synced", "of_which_cpu_in_process"),
        0.0,
    )
    src = ChainStore(str(source))
    node = build_node(Home(home))
    clock = time.perf_counter

    async def replay() -> None:
        for start in range(1, blocks + 1, SERVE_BATCH):
            t0 = clock()
            raws: list[tuple[bytes, bytes]] = []
            for height in range(start, min(start + SERVE_BATCH, blocks + 1)):
                block_hash = src.block_hash_at(height)
                commit = src.commit_at(height)
                raw = src.block_bytes(block_hash) if block_hash else None
                if raw is None or commit is None:
                    raise processes.DevnetError(f"block {height} is missing from {source}")
                raws.append((raw, encode_commit(commit)))
            t1 = clock()
            message = decode_message(encode_message(Blocks(tuple(raws))))
            assert isinstance(message, Blocks)
            t2 = clock()
            items = [(decode_block(b), decode_commit(c)) for b, c in message.items]
            t3 = clock()
            cpu = time.process_time()
            outcome = await node.apply_synced(items)
            seconds["of_which_cpu_in_process"] += time.process_time() - cpu
            t4 = clock()
            if outcome.failure is not None:
                raise processes.DevnetError(f"replay stopped: {outcome.failure}")
            seconds["serve_read"] += t1 - t0
            seconds["message_codec"] += t2 - t1
            seconds["decode"] += t3 - t2
            seconds["apply_synced"] += t4 - t3

    try:
        asyncio.run(replay())
    finally:
        src.close()
        node.close()
    return Breakdown(blocks, seconds)


# The benchmark


def bench_sync(
    blocks: int = 10_000,
    txs_per_block: int = 10,
    breakdown_blocks: int = 2_000,
    say: Progress = quiet,
) -> SyncBench:
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-sync-") as tmp:
        directory = Path(tmp) / "devnet"
        base = network.free_base_port(VALIDATORS)
        say(f"preparing a {VALIDATORS}-validator devnet in {directory} (not started)")
        devnet = network.up(directory, VALIDATORS, base, say=say, start=False).devnet
        try:
            result = _run(devnet, blocks, txs_per_block, say)
        finally:
            say("stopping the devnet")
            network.down(directory, say=say)
        if breakdown_blocks > 0:
            count = min(blocks, breakdown_blocks)
            say(f"replaying {count} blocks offline, step by step")
            source = Home(Path(devnet.nodes[1].home)).db_path
            home = Path(tmp) / "replay-home"  # node3's home without its data
            shutil.copytree(devnet.nodes[3].home, home, ignore=shutil.ignore_patterns("data"))
            result.breakdown = replay_breakdown(source, home, count)
    return result


@dataclass(frozen=True)
class PreparedDevnet:
    """What generating a chain offline needs of a devnet that is not started."""

    homes: list[Home]
    genesis: GenesisState
    validators: list[KeyPair]
    alice: KeyPair
    bob: Address


def prepared(devnet: network.Devnet) -> PreparedDevnet:
    homes = [Home(Path(n.home)) for n in devnet.nodes]
    return PreparedDevnet(
        homes,
        load_genesis(devnet.genesis),
        [load_validator_key(home) for home in homes],
        Keystore(Path(devnet.keystore)).load("alice", DEVNET_PASSPHRASE),
        parse_address(devnet.accounts["bob"]),
    )


def _run(devnet: network.Devnet, blocks: int, txs_per_block: int, say: Progress) -> SyncBench:
    directory = devnet.directory
    net = prepared(devnet)
    homes, gen, validators, alice, bob = net.homes, net.genesis, net.validators, net.alice, net.bob

    say(f"generating {blocks} blocks of {txs_per_block} transfers on node0's database")
    generated = generate_chain(
        homes[0].db_path, gen, validators, alice, bob, blocks, txs_per_block, say
    )
    say(f"generated in {generated.seconds:.1f} s; copying it to node1 and node2")
    for home in homes[1:3]:
        home.db_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(homes[0].db_path, home.db_path)

    for entry in devnet.nodes[:3]:
        network.start_node(directory, entry.name, say)
    clients = [NodeClient(n.api, timeout=5) for n in devnet.nodes]
    for name, client in zip(("node0", "node1", "node2"), clients[:3], strict=True):
        height = api_height(client)
        if height is None or height < blocks:
            raise processes.DevnetError(f"{name} answers at height {height}, expected {blocks}")

    load_average = os.getloadavg()[0]
    say(f"starting node3 with an empty database (load average {load_average:.2f})")
    spawned = time.monotonic()
    network.start_node(directory, "node3", say)
    answered = time.monotonic()
    height_at_api = api_height(clients[3]) or 0
    pid = next(n.pid for n in (network.load_devnet(directory) or devnet).nodes if n.name == "node3")
    cpu_at_api = cpu_seconds(pid)
    say(f"node3 answers after {answered - spawned:.2f} s at height {height_at_api}")
    samples = wait_for_height(clients[3], blocks, homes[3].log_file, say)
    reached = samples[-1][0]
    cpu_at_target = cpu_seconds(pid)
    cpu_s = None if cpu_at_api is None or cpu_at_target is None else cpu_at_target - cpu_at_api
    say(f"node3 reached height {blocks} {reached - answered:.2f} s after its API answered")
    return SyncBench(
        blocks=blocks,
        txs_per_block=txs_per_block,
        generated=generated,
        spawn_to_api_s=answered - spawned,
        height_at_api=height_at_api,
        api_to_target_s=reached - answered,
        spawn_to_target_s=reached - spawned,
        steady_blocks_per_s=_steady_rate(samples, blocks),
        synced_blocks=synced_blocks(devnet.nodes[3].api),
        final_height=samples[-1][1],
        headers=_compare_headers(clients[0], clients[3], blocks),
        load_average=load_average,
        cpu_s=cpu_s,
        samples=samples,
    )
