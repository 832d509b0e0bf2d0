"""`gridchain node run`: load a home folder and serve the node until SIGINT or SIGTERM."""

import asyncio
import logging
import shutil
import tempfile
from typing import NoReturn

from aiohttp import web

from chain.errors import GridchainError, LocalFault
from chain.genesis_state import GenesisState
from chain.store import ChainStore
from genesis.schema import load_genesis
from node.api.app import make_app
from node.api.statesync import make_syncing_app
from node.config import ConfigError, Home, NodeConfig, load_config, load_validator_key
from node.consensus.wiring import build_consensus
from node.release import UpgradeNeeded, write_upgrade_info
from node.service import NodeService
from node.statesync.maker import SnapshotMaker
from node.statesync.restore import Progress, state_sync
from node.statesync.snapshots import SnapshotDir
from node.txjournal import TxJournal


def build_node(home: Home) -> NodeService:
    if not home.genesis_file.exists():
        raise ConfigError(f"{home.root} has no genesis file at {home.genesis_file}")
    genesis = load_genesis(home.genesis_file)
    config = load_config(home)
    key = load_validator_key(home)
    home.db_path.parent.mkdir(parents=True, exist_ok=True)
    store = ChainStore(str(home.db_path))
    try:
        node = NodeService(store, genesis, key, config)
    except BaseException:
        store.close()
        raise
    try:
        node.restore_mempool(TxJournal(home.mempool_journal_file))
        if config.snapshot_interval:
            node.snapshots = SnapshotMaker(
                SnapshotDir(home.snapshots_dir), config.snapshot_interval, config.snapshot_keep
            )
    except BaseException:
        node.close()
        raise
    return node


def state_sync_first(home: Home) -> None:
    """An empty node that has state sync servers starts from a snapshot when one is offered
    high enough (node/statesync/restore.py), serving its progress at /v1/status meanwhile; a
    node that has a database goes on from it (block sync)."""
    shutil.rmtree(home.restoring_db_path, ignore_errors=True)  # what a crash left half-done
    config = load_config(home)
    if not config.state_sync_servers or home.db_path.exists():
        return
    if not home.genesis_file.exists():
        raise ConfigError(f"{home.root} has no genesis file at {home.genesis_file}")
    genesis = load_genesis(home.genesis_file)
    asyncio.run(_state_sync_serving_progress(home, genesis, config))


async def _state_sync_serving_progress(
    home: Home, genesis: GenesisState, config: NodeConfig
) -> None:
    progress = Progress()
    runner = web.AppRunner(make_syncing_app(genesis, progress), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.api_host, config.api_port).start()
        await asyncio.to_thread(state_sync, home, genesis, config, progress)
    finally:
        await runner.cleanup()


def use_scratch_dir(home: Home) -> None:
    """Make the home's scratch folder this process's temporary folder, emptied first.

    multiprocessing keeps its fork server's socket in a temporary folder that only a clean exit
    removes; under the system's /tmp a node killed with -9 would leave one behind at every kill."""
    shutil.rmtree(home.scratch_dir, ignore_errors=True)
    home.scratch_dir.mkdir(parents=True)
    tempfile.tempdir = str(home.scratch_dir)


def run_node(home: Home) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    use_scratch_dir(home)
    state_sync_first(home)
    node = build_node(home)
    config = node.config
    consensus = build_consensus(node, home, config)
    app = make_app(node, config.max_request_bytes, consensus)
    logging.getLogger("gridchain.node").info(
        "chain %s at height %d; API on http://%s:%d, peers on %s:%d",
        node.chain_id,
        node.head.height,
        config.api_host,
        config.api_port,
        config.p2p_host,
        config.p2p_port,
    )
    try:
        web.run_app(app, host=config.api_host, port=config.api_port, print=None, access_log=None)
    except UpgradeNeeded as needed:  # at start: the head is already at the upgrade's height
        stop_for_upgrade(home, needed)
    failure = consensus.reactor.failure
    if isinstance(failure, UpgradeNeeded):
        stop_for_upgrade(home, failure)
    if failure is not None:  # stopped by the failure, not by an operator: exit non-zero
        code = failure.code if isinstance(failure, GridchainError) else "internal"
        raise NodeFailed(f"the node stopped on a failure ({code}): {failure}")


def stop_for_upgrade(home: Home, needed: UpgradeNeeded) -> NoReturn:
    """Say which release the chain needs, where the supervisor looks, and exit with
    UPGRADE_EXIT_CODE (the CLI turns the error into that code)."""
    write_upgrade_info(home, needed)
    logging.getLogger("gridchain.node").critical(
        'UPGRADE "%s" NEEDED at height %d: %s; wrote %s',
        needed.release.name,
        needed.height,
        needed.message,
        home.upgrade_info_file,
    )
    raise needed


class NodeFailed(LocalFault):
    """The node stopped itself: a consensus task failed (a local fault, or a bug)."""

    code = "node_failed"
