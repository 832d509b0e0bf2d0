"""The snapshots a node makes and keeps: made from a real chain's store, read back whole and
proven against the head; the newest kept; a snapshot stopped half-way never listed."""

import threading
from pathlib import Path

import pytest

from chain.errors import present
from chain.snapshot.chunks import check_chunk, decode_chunk
from chain.snapshot.manifest import check_manifest, decode_manifest
from node.statesync.maker import SnapshotMaker, Stopped, make_snapshot
from node.statesync.snapshots import SnapshotDir
from tests.kit.chainkit import ContractChain


def test_a_snapshot_is_made_read_back_and_proven(chain: ContractChain, tmp_path: Path) -> None:
    directory = SnapshotDir(tmp_path / "snapshots")
    made = []
    for _ in range(4):
        chain.advance(2)
        made.append(make_snapshot(chain.store, chain.head, directory, 3, threading.Event()))
    assert directory.heights() == [8, 6, 4]  # the newest three kept
    manifest = decode_manifest(present(directory.manifest(8), "manifest"))
    assert manifest == made[-1]
    check_manifest(manifest, chain.head)
    records = []
    for index in range(len(manifest.chunks)):
        chunk = decode_chunk(present(directory.chunk(8, index), f"chunk {index}"))
        check_chunk(manifest, index, chunk)
        records += chunk
    assert records == list(chain.store.state_items())
    assert directory.chunk(2, 0) is None and directory.manifest(2) is None


def test_a_snapshot_stopped_half_way_is_never_listed(chain: ContractChain, tmp_path: Path) -> None:
    directory = SnapshotDir(tmp_path / "snapshots")
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        make_snapshot(chain.store, chain.head, directory, 2, stop)
    assert directory.heights() == []
    # what a killed maker leaves (a .tmp folder) is removed when the next maker starts
    (tmp_path / "snapshots" / "9.tmp").mkdir(parents=True)
    SnapshotMaker(directory, interval=10, keep=2)
    assert not (tmp_path / "snapshots" / "9.tmp").exists()


def test_the_maker_snapshots_only_due_heights_in_the_background(
    chain: ContractChain, tmp_path: Path
) -> None:
    maker = SnapshotMaker(SnapshotDir(tmp_path / "snapshots"), interval=3, keep=2)
    try:
        for _ in range(6):
            chain.advance(1)
            maker.block_committed(chain.store, chain.head)
            maker.wait()  # the test waits; a node goes on committing
    finally:
        maker.close()
    assert maker.directory.heights() == [6, 3]
