"""`gridchain bench statesync`: how fast a validator joins a long chain from a snapshot.

A 4-validator devnet is prepared in a temporary directory without starting it. A chain of
`blocks` blocks is generated offline on node0's LevelDB (devnet/bench sync's generator: real
commits of all four keys), its first blocks funding `accounts` new accounts; node0's snapshot
of the head is made by the code a node runs at a snapshot height (node/statesync/maker.py),
and node1 and node2 get copies of the database and the snapshot. node0..node2 are started
(3/4 of the blockstake: they carry on with consensus). Then node3 starts with an empty
database and `state_sync_servers` naming the three: its light client verifies the snapshot's
height from genesis, it fetches and checks every chunk, then block-syncs what was decided
meanwhile. Timed: from node3's spawn to its height reaching the snapshot's, and the restore
alone (its data/state-sync.json). Some of its headers and accounts are compared with node0's.
Figures are measured, never asserted.
"""

import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chain.errors import present
from chain.store import ChainStore
from devnet import network
from node.api.client import NodeClient
from node.bench.consensus import peak_rss_mb
from node.bench.sync import (
    Generated,
    Progress,
    api_height,
    cpu_seconds,
    generate_chain,
    new_account,
    prepared,
    quiet,
    wait_for_height,
)
from node.config import load_config, write_config
from node.statesync.maker import make_snapshot
from node.statesync.snapshots import SnapshotDir

VALIDATORS = 4
ACCOUNTS_CHECKED = 5


@dataclass
class StateSyncBench:
    blocks: int
    accounts: int
    generated: Generated
    snapshot_s: float
    chunks: int
    records: int
    spawn_to_api_s: float
    spawn_to_target_s: float
    restore: dict[str, Any]
    final_height: int
    base_height: int
    headers_match: bool
    accounts_match: bool
    cpu_s: float | None
    peak_rss_mb: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "validators": VALIDATORS,
            "blocks": self.blocks,
            "accounts": self.accounts,
            "generate_s": round(self.generated.seconds, 1),
            "snapshot": {
                "seconds": round(self.snapshot_s, 2),
                "chunks": self.chunks,
                "records": self.records,
            },
            "node3": {
                "spawn_to_api_s": round(self.spawn_to_api_s, 2),
                "spawn_to_target_s": round(self.spawn_to_target_s, 2),
                "restore": self.restore,
                "base_height": self.base_height,
                "final_height": self.final_height,
                "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 2),
                "peak_rss_mb": self.peak_rss_mb,
            },
            "headers_match": self.headers_match,
            "accounts_match": self.accounts_match,
        }


def bench_statesync(
    blocks: int = 100_000, accounts: int = 100_000, say: Progress = quiet
) -> StateSyncBench:
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-statesync-") as tmp:
        directory = Path(tmp) / "devnet"
        base = network.free_base_port(VALIDATORS)
        say(f"preparing a {VALIDATORS}-validator devnet in {directory} (not started)")
        devnet = network.up(directory, VALIDATORS, base, say=say, start=False).devnet
        try:
            return _run(devnet, blocks, accounts, say)
        finally:
            say("stopping the devnet")
            network.down(directory, say=say)


def _run(devnet: network.Devnet, blocks: int, accounts: int, say: Progress) -> StateSyncBench:
    directory = devnet.directory
    net = prepared(devnet)
    homes, gen, validators, alice, bob = net.homes, net.genesis, net.validators, net.alice, net.bob
    say(f"generating {blocks} blocks on node0's database, funding {accounts} accounts")
    generated = generate_chain(
        homes[0].db_path, gen, validators, alice, bob, blocks, 0, say, accounts
    )
    say(f"generated in {generated.seconds:.1f} s; making node0's snapshot of height {blocks}")
    started = time.perf_counter()
    store = ChainStore(str(homes[0].db_path))
    try:
        header = present(store.block_at(blocks), "the generated head").header
        manifest = make_snapshot(
            store, header, SnapshotDir(homes[0].snapshots_dir), 2, threading.Event()
        )
    finally:
        store.close()
    snapshot_s = time.perf_counter() - started
    say(
        f"snapshot: {manifest.records} records in {len(manifest.chunks)} chunks, "
        f"{snapshot_s:.1f} s; copying the database and snapshot to node1 and node2"
    )
    for home in homes[1:3]:
        shutil.copytree(homes[0].db_path, home.db_path)
        shutil.copytree(homes[0].snapshots_dir, home.snapshots_dir)
    apis = tuple(n.api for n in devnet.nodes)
    for home in homes[:3]:
        write_config(home, replace(load_config(home), snapshot_interval=blocks))
    write_config(
        homes[3],
        replace(load_config(homes[3]), state_sync_servers=apis[:3], state_sync_min_height=1),
    )
    for entry in devnet.nodes[:3]:
        network.start_node(directory, entry.name, say)
    clients = [NodeClient(api, timeout=10) for api in apis]

    say("starting node3 with an empty database and state sync")
    spawned = time.monotonic()
    network.start_node(directory, "node3", say)
    answered = time.monotonic()
    pid = next(n.pid for n in (network.load_devnet(directory) or devnet).nodes if n.name == "node3")
    samples = wait_for_height(clients[3], blocks, homes[3].log_file, say)
    reached = samples[-1][0]
    cpu_s = cpu_seconds(pid)
    say(f"node3 reached height {blocks} {reached - spawned:.2f} s after its spawn")
    restore = json.loads(homes[3].state_sync_file.read_text())
    status = clients[3].status()
    heights = [blocks, int(status["height"])]
    headers_match = all(
        clients[0].block(h)["header"]["hash"] == clients[3].block(h)["header"]["hash"]
        for h in heights
    )
    step = max(1, accounts // ACCOUNTS_CHECKED)
    accounts_match = all(
        clients[3].account(str(new_account(i)))["balance"]
        == clients[0].account(str(new_account(i)))["balance"]
        == 1
        for i in range(0, accounts, step)
    )
    return StateSyncBench(
        blocks=blocks,
        accounts=accounts,
        generated=generated,
        snapshot_s=snapshot_s,
        chunks=len(manifest.chunks),
        records=manifest.records,
        spawn_to_api_s=answered - spawned,
        spawn_to_target_s=reached - spawned,
        restore=restore,
        final_height=api_height(clients[3]) or 0,
        base_height=int(status.get("base_height", 0)),
        headers_match=headers_match,
        accounts_match=accounts_match,
        cpu_s=cpu_s,
        peak_rss_mb=None if pid is None else peak_rss_mb(pid),
    )
