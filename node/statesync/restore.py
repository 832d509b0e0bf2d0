"""Joining from a snapshot (state sync, as cometbft's statesync/): an empty node starts from the
state of a recent height instead of replaying every block since genesis.

Nothing a server says is trusted. The node's light client verifies the snapshot's header from
the genesis file (node/light/client.py: the first server offering the snapshot is its primary,
the other servers witnesses that must not hold another header); the manifest must join into
that header's state root and each chunk into its line of the manifest (chain/snapshot/); the
block must be the header's. A server whose manifest, chunk or block fails is left out and the
part asked of another. The state is written into a database of its own (chain.db.restoring),
renamed into place only once its head is written: a crash leaves no database, and the next
start begins again, or the whole state.
"""

import functools
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from chain import smt
from chain.blockchain import check_body
from chain.blocks.block import Block, decode_block
from chain.errors import InvalidSnapshot, LocalFault, RuleViolation
from chain.genesis_state import GenesisState, genesis_hash
from chain.light.blocks import LightBlock
from chain.snapshot.chunks import Record, check_chunk, decode_chunk
from chain.snapshot.manifest import (
    Manifest,
    check_manifest,
    decode_headers,
    decode_manifest,
    earlier_hashes,
)
from chain.store import ChainStore
from node.api.client import ApiError, NodeClient, NodeUnreachable
from node.config import Home, NodeConfig, fsync_directory, write_file_atomically
from node.light.client import ConflictingHeaders, LightSyncError, initialize, sync
from node.light.store import LightStore

log = logging.getLogger("gridchain.statesync")

FETCHERS = 4  # chunks fetched at once, from the servers in turn
SERVER_TIMEOUT = 30.0
RETRIES = 3  # tries of a request that failed for a transient reason
RETRY_SECONDS = 0.5
OFFERS_PER_SERVER = 8
T = TypeVar("T")


class StateSyncFailed(LocalFault):
    """No server offered a snapshot that could be verified and fetched whole."""

    code = "state_sync_failed"


@dataclass
class Progress:
    """What the state sync has done so far (served as the status while it runs)."""

    phase: str = "looking for snapshots"
    height: int = 0
    chunks: int = 0
    chunks_done: int = 0
    records: int = 0
    refused: list[str] = field(default_factory=list)  # servers left out, and why
    started: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, object]:
        view = asdict(self)
        view["seconds"] = round(time.monotonic() - self.started, 3)
        del view["started"]
        return view


@dataclass(frozen=True)
class Offer:
    height: int
    manifest_hash: str
    servers: tuple[NodeClient, ...]


def offers(clients: Sequence[NodeClient], min_height: int) -> list[Offer]:
    """The snapshots the servers say they have, at least `min_height` high: the highest first,
    and of one height the one most servers offer (at most OFFERS_PER_SERVER of each server's:
    a server cannot make the node try snapshots without end). Raises StateSyncFailed when no
    server answered at all (replaying from genesis is not what the operator asked for)."""
    found: dict[tuple[int, str], list[NodeClient]] = {}
    answered = 0
    for client in clients:
        try:
            listed = retrying(client.snapshots)
        except ApiError as exc:
            log.warning("state sync: %s lists no snapshots: %s", client.url, exc.message)
            continue
        answered += 1
        for item in listed[:OFFERS_PER_SERVER]:
            height, manifest_hash = item.get("height"), item.get("hash")
            if isinstance(height, int) and height >= min_height and isinstance(manifest_hash, str):
                found.setdefault((height, manifest_hash), []).append(client)
    if not answered:
        raise StateSyncFailed("no state sync server answered: " + ", ".join(c.url for c in clients))
    ranked = sorted(found.items(), key=lambda item: (item[0][0], len(item[1])), reverse=True)
    return [Offer(height, digest, tuple(servers)) for (height, digest), servers in ranked]


def transient(exc: ApiError) -> bool:
    """A failure worth asking again: the server unreachable or failing, not refusing."""
    return isinstance(exc, NodeUnreachable) or (exc.status or 0) >= 500


def retrying(read: Callable[[], T]) -> T:
    """`read`, asked again after a transient failure (RETRIES times, backing off)."""
    for attempt in range(RETRIES):
        try:
            return read()
        except ApiError as exc:
            if not transient(exc) or attempt == RETRIES - 1:
                raise
        time.sleep(RETRY_SECONDS * 2**attempt)
    raise AssertionError("unreachable")


class Servers:
    """The servers of one offer still trusted to serve it, taken in turn (by the chunk
    fetchers' threads too: the list is guarded)."""

    def __init__(self, servers: Sequence[NodeClient], progress: Progress) -> None:
        self._good = list(servers)
        self._lock = threading.Lock()
        self.progress = progress

    def pick(self, turn: int) -> NodeClient:
        with self._lock:
            if not self._good:
                raise StateSyncFailed("every server of the snapshot failed or served a wrong part")
            return self._good[turn % len(self._good)]

    def trusted(self, server: NodeClient) -> bool:
        with self._lock:
            return server in self._good

    def refuse(self, server: NodeClient, why: str) -> None:
        log.warning("state sync: %s left out: %s", server.url, why)
        with self._lock:
            self.progress.refused.append(f"{server.url}: {why}")
            if server in self._good:
                self._good.remove(server)


def ask(servers: Servers, what: str, read: Callable[[NodeClient], T]) -> T:
    """`read` of the first server that answers it without fault (transient failures asked
    again first)."""
    turn = 0
    while True:
        server = servers.pick(turn)
        try:
            return retrying(functools.partial(read, server))
        except (ApiError, RuleViolation) as exc:
            servers.refuse(server, f"{what}: {exc.message}")
        turn += 1


def verified_header(
    home: Home, genesis: GenesisState, offer: Offer, witnesses: Sequence[NodeClient]
) -> LightBlock:
    """The snapshot height's light block, verified from the genesis file by this node's light
    client; a witness holding another certified header stops the sync (ConflictingHeaders)."""
    light = LightStore(home.light_db_path)
    try:
        initialize(light, genesis)
        failures = []
        for primary in offer.servers:
            others = [w for w in witnesses if w is not primary]
            try:
                result = sync(light, genesis.chain_id, primary, others, offer.height)
            except LightSyncError as exc:
                failures.append(exc.message)
                continue
            for report in result.witnesses:
                if report.status == "faulty":
                    log.warning("state sync: witness %s: %s", report.url, report.detail)
            return result.trusted
    finally:
        light.close()
    raise StateSyncFailed(f"height {offer.height} could not be verified: {'; '.join(failures)}")


def fetch_manifest(servers: Servers, offer: Offer, trusted: LightBlock) -> Manifest:
    """The offer's manifest, checked against the verified header. It must be the one the
    offer's servers named: a manifest that makes the root with lying record counts would
    otherwise fail every honest server's chunks, and leave them out in its place."""

    def read(server: NodeClient) -> Manifest:
        manifest = decode_manifest(server.snapshot_manifest(trusted.height))
        if manifest.hash.hex() != offer.manifest_hash:
            raise InvalidSnapshot("the manifest is not the one the server listed")
        check_manifest(manifest, trusted.header)
        return manifest

    return ask(servers, "manifest", read)


def fetch_block(servers: Servers, trusted: LightBlock) -> Block:
    def read(server: NodeClient) -> Block:
        block = decode_block(server.snapshot_block(trusted.height))
        if block.header != trusted.header:
            raise InvalidSnapshot(f"block {trusted.height} is not the verified one")
        check_body(block)
        return block

    return ask(servers, "block", read)


def fetch_earlier_hashes(servers: Servers, trusted: LightBlock) -> dict[int, bytes]:
    def read(server: NodeClient) -> dict[int, bytes]:
        headers = decode_headers(server.snapshot_headers(trusted.height))
        return earlier_hashes(headers, trusted.header)

    return ask(servers, "headers", read)


def fetch_chunks(
    servers: Servers, manifest: Manifest, store: ChainStore, progress: Progress
) -> None:
    """Every chunk, checked and written; up to FETCHERS fetched ahead, from the servers in
    turn. A chunk that fails is asked of the next server, its server left out."""
    total = len(manifest.chunks)

    def fetch(index: int, turn: int) -> tuple[NodeClient, bytes | ApiError]:
        server = servers.pick(turn)
        try:
            return server, retrying(
                functools.partial(server.snapshot_chunk, manifest.height, index)
            )
        except ApiError as exc:
            return server, exc

    def checked(index: int, data: bytes) -> tuple[tuple[Record, ...], dict[bytes, bytes]]:
        records = decode_chunk(data)
        return records, check_chunk(manifest, index, records)

    with ThreadPoolExecutor(FETCHERS, thread_name_prefix="chunk") as pool:
        ahead: dict[int, Future[tuple[NodeClient, bytes | ApiError]]] = {}
        for index in range(total):
            for later in range(index, min(total, index + FETCHERS)):
                if later not in ahead:
                    ahead[later] = pool.submit(fetch, later, later)
            server, answer = ahead.pop(index).result()
            turn = index
            while True:
                if servers.trusted(server):
                    try:
                        if isinstance(answer, ApiError):
                            raise answer
                        records, nodes = checked(index, answer)
                        break
                    except (ApiError, RuleViolation) as exc:
                        servers.refuse(server, f"chunk {index}: {exc.message}")
                turn += 1
                server, answer = fetch(index, turn)
            store.put_restored_chunk(records, nodes)
            progress.chunks_done += 1
            progress.records += len(records)
            if progress.chunks_done % 16 == 0 or progress.chunks_done == total:
                log.info(
                    "state sync: %d of %d chunks, %d records",
                    progress.chunks_done,
                    total,
                    progress.records,
                )
    store.put_restored_chunk((), smt.join(manifest.chunks)[1])


def restore_offer(
    home: Home,
    genesis: GenesisState,
    offer: Offer,
    witnesses: Sequence[NodeClient],
    progress: Progress,
) -> None:
    progress.phase, progress.height = "verifying the snapshot's header", offer.height
    trusted = verified_header(home, genesis, offer, witnesses)
    assert trusted.commit is not None  # a height above 0 has its certificate
    servers = Servers(offer.servers, progress)
    progress.phase = "fetching the manifest, the block and the headers before it"
    manifest = fetch_manifest(servers, offer, trusted)
    block = fetch_block(servers, trusted)
    earlier = fetch_earlier_hashes(servers, trusted)
    progress.phase, progress.chunks = "fetching chunks", len(manifest.chunks)
    progress.chunks_done = progress.records = 0
    shutil.rmtree(home.restoring_db_path, ignore_errors=True)
    store = ChainStore(str(home.restoring_db_path))
    try:
        fetch_chunks(servers, manifest, store, progress)
        store.finish_restore(
            block, trusted.commit, trusted.validators, genesis_hash(genesis), earlier
        )
    finally:
        store.close()
    os.replace(home.restoring_db_path, home.db_path)
    fsync_directory(home.db_path.parent)


def state_sync(home: Home, genesis: GenesisState, config: NodeConfig, progress: Progress) -> bool:
    """Start this empty node from the highest snapshot the servers offer that can be verified
    and fetched whole; False when none is offered at least `state_sync_min_height` high (the
    node then replays from genesis). Raises StateSyncFailed when none of those offered could
    be had."""
    home.db_path.parent.mkdir(parents=True, exist_ok=True)
    clients = [NodeClient(url, timeout=SERVER_TIMEOUT) for url in config.state_sync_servers]
    found = offers(clients, config.state_sync_min_height)
    if not found:
        log.info("state sync: no snapshot at height %d or above", config.state_sync_min_height)
        return False
    failures = []
    for offer in found:
        log.info(
            "state sync: snapshot of height %d from %d servers",
            offer.height,
            len(offer.servers),
        )
        try:
            restore_offer(home, genesis, offer, clients, progress)
        except ConflictingHeaders as conflict:
            # An attack on the chain or on this node: the evidence is kept for the operator.
            evidence = json.dumps(conflict.evidence, indent=2) + "\n"
            write_file_atomically(home.conflict_evidence_file, evidence)
            log.critical(
                "state sync: %s; evidence in %s", conflict.message, home.conflict_evidence_file
            )
            raise
        except StateSyncFailed as exc:
            failures.append(f"height {offer.height}: {exc.message}")
            log.warning("state sync: snapshot of height %d failed: %s", offer.height, exc.message)
            continue
        report = {**progress.to_json(), "phase": "done"}
        write_file_atomically(home.state_sync_file, json.dumps(report, indent=2) + "\n")
        log.info(
            "state sync: started from height %d: %d records in %d chunks, %.1f s",
            offer.height,
            progress.records,
            progress.chunks,
            report["seconds"],
        )
        return True
    raise StateSyncFailed("no snapshot could be restored: " + "; ".join(failures))
