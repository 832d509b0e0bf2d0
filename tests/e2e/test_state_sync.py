"""State sync with real processes: a validator that joins with an empty database starts from a
peer's snapshot, verified against a header its light client verified from the genesis file,
and then decides blocks with the others. Servers that lie are left out: one serves a manifest
whose root is not the verified header's, another a chunk with one record changed.

node0 and node1 make snapshots every 8 blocks; node2 makes none (a witness only). node2 is
stopped once the chain is past 16, so the chain halts (2 of 4 validators) and the snapshots
stop changing; node3 joins, and with it the chain goes on (3 of 4), which only a node that
votes can make happen.
"""

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from chain.address import key_address
from chain.keys import generate_keypair
from chain.snapshot.chunks import decode_chunk, encode_chunk
from chain.snapshot.manifest import decode_manifest, encode_manifest
from devnet import network
from node.api.client import ApiError, NodeClient
from node.config import Home, load_config, write_config
from node.keystore import DEVNET_PASSPHRASE, Keystore
from tests.kit.netkit import wait_until
from tests.kit.support import transfer

pytestmark = pytest.mark.slow

INTERVAL = 8


def snapshot_heights(client: NodeClient) -> list[int]:
    return [int(s["height"]) for s in client.snapshots()]


def settled_height(client: NodeClient) -> int:
    """The height once it has not moved for 3 s (the chain has halted)."""
    height, since = -1, time.monotonic()
    while time.monotonic() - since < 3:
        now = int(client.status()["height"])
        if now != height:
            height, since = now, time.monotonic()
        time.sleep(0.2)
    return height


def test_a_validator_joins_from_a_snapshot_and_lying_servers_are_left_out(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "devnet"
    devnet = network.up(directory, 4, network.free_base_port(4), start=False).devnet
    homes = {n.name: Home(Path(n.home)) for n in devnet.nodes}
    apis = {n.name: n.api for n in devnet.nodes}
    for name in ("node0", "node1"):
        config = load_config(homes[name])
        write_config(homes[name], replace(config, snapshot_interval=INTERVAL, snapshot_keep=10))
    write_config(
        homes["node3"],
        replace(
            load_config(homes["node3"]),
            state_sync_servers=(apis["node0"], apis["node1"], apis["node2"]),
            state_sync_min_height=INTERVAL,
        ),
    )
    clients = {name: NodeClient(api, timeout=10) for name, api in apis.items()}
    try:
        for name in ("node0", "node1", "node2"):
            network.start_node(directory, name)
        alice = Keystore(directory / "keys").load("alice", DEVNET_PASSPHRASE)
        fresh = [key_address(generate_keypair().public_key) for _ in range(5)]
        for nonce, address in enumerate(fresh):
            tx = transfer(alice, address, 1000 + nonce, nonce, chain_id=network.CHAIN_ID)
            clients["node0"].submit_tx(tx.encoded)
        wait_until(
            lambda: all(
                max(snapshot_heights(clients[n]), default=0) >= 2 * INTERVAL
                for n in ("node0", "node1")
            ),
            120,
            "snapshots at height 16 on node0 and node1",
        )
        network.stop_node(directory, "node2")
        halted = settled_height(clients["node0"])
        top = halted // INTERVAL * INTERVAL
        wait_until(
            lambda: all(top in snapshot_heights(clients[n]) for n in ("node0", "node1")),
            30,
            f"the snapshot of height {top} on node0 and node1",
        )
        # node0's newest manifest: the older snapshot's chunks and root, claiming height `top`
        snaps0 = homes["node0"].snapshots_dir
        older = decode_manifest((snaps0 / str(top - INTERVAL) / "manifest").read_bytes())
        (snaps0 / str(top) / "manifest").write_bytes(encode_manifest(replace(older, height=top)))
        # node1's newest chunk 0: one record's value changed
        chunk_file = homes["node1"].snapshots_dir / str(top) / "chunk-0"
        records = list(decode_chunk(chunk_file.read_bytes()))
        key, value = records[-1]
        records[-1] = (key, value[:-1] + bytes([value[-1] ^ 1]))
        chunk_file.write_bytes(encode_chunk(records))

        network.start_node(directory, "node3")
        wait_until(
            lambda: int(clients["node3"].status()["height"]) >= halted + 3,
            120,
            f"node3 and the chain past height {halted + 3}",
        )
        status = clients["node3"].status()
        base = top - INTERVAL  # both servers of `top` lied: the one before it
        assert status["base_height"] == base
        report = json.loads(homes["node3"].state_sync_file.read_text())
        assert report["phase"] == "done" and report["height"] == base
        assert report["chunks"] == report["chunks_done"] >= 1
        refused = "\n".join(report["refused"])
        assert f"{apis['node0']}: manifest: the manifest names state root" in refused
        assert f"{apis['node1']}: chunk 0: chunk 0's records make subtree" in refused
        # node3 holds the chain from its base on, block for block as node0 does
        for height in (base, base + 1, halted, halted + 2):
            assert (
                clients["node3"].block(height)["header"] == clients["node0"].block(height)["header"]
            )
        with pytest.raises(ApiError, match=r"not_found|no block"):
            clients["node3"].block(base - 1)
        for nonce, address in enumerate(fresh):
            ours = clients["node3"].account(str(address))
            assert ours["exists"] and ours["balance"] == 1000 + nonce
        # the chain went on past the halt: node3 votes (node2 is still stopped)
        last = clients["node0"].block(halted + 2)["last_commit"]["validators"]
        assert status["validator"] in last or any(
            status["validator"] in clients["node0"].block(h)["last_commit"]["validators"]
            for h in (halted + 1, halted + 3)
        )
    finally:
        network.down(directory)
