"""Block sync's batches (NodeService.apply_synced) on real nodes over real LevelDB: a batch is
committed as one write up to the first block that fails, and the outcome says whose fault the
failure is (a commit that does not certify its block is the peer's)."""

from dataclasses import replace
from pathlib import Path

from chain.blocks.block import Block
from chain.blocks.commit import Commit, check_commit
from chain.errors import InvalidBlock, present
from chain.snapshot.manifest import decode_manifest
from chain.state import Overlay
from chain.store import ChainReads
from node.server import build_node
from node.statesync.maker import SnapshotMaker
from node.statesync.snapshots import SnapshotDir
from tests.kit.support import make_home, transfer


def blocks_of(store: ChainReads, last: int) -> list[tuple[Block, Commit]]:
    """Blocks 1..last with their commits, as a peer serves them to block sync."""
    return [
        (present(store.block_at(h), "block"), present(store.commit_at(h), "commit"))
        for h in range(1, last + 1)
    ]


async def test_a_batch_is_committed_up_to_a_failing_block_and_says_why(tmp_path: Path) -> None:
    a, b = make_home(tmp_path / "a"), make_home(tmp_path / "b")  # one genesis, one validator
    source, sink = build_node(a.home), build_node(b.home)
    try:
        for nonce in range(4):
            source.submit(transfer(a.alice, a.bob_address, 1, nonce).encoded)
            await source.produce_block()
        items = blocks_of(source.store, 4)
        third, third_commit = items[2]
        forged = replace(third, txs=())  # its header (and so its commit) no longer fits it
        outcome = await sink.apply_synced([items[0], items[1], (forged, third_commit), items[3]])
        assert [r.block.height for r, _ in outcome.applied] == [1, 2]
        assert isinstance(outcome.failure, InvalidBlock) and not outcome.bad_commit
        assert sink.head.height == 2 == present(sink.store.head(), "head").height
        assert sink.last_commit == items[1][1]

        wrong = await sink.apply_synced([(third, items[3][1])])  # another block's commit
        assert wrong.applied == [] and wrong.bad_commit and sink.head.height == 2

        rest = await sink.apply_synced(items[2:])
        assert rest.failure is None and [r.block.height for r, _ in rest.applied] == [3, 4]
        assert sink.head == source.head
        assert sink.account(a.bob_address) == source.account(a.bob_address)
        assert sink.store.tx_location(third.txs[0].id) == (3, 0)
    finally:
        source.close()
        sink.close()


async def test_one_certificate_stands_for_a_run_and_carried_ones_are_kept(tmp_path: Path) -> None:
    a, b = make_home(tmp_path / "a"), make_home(tmp_path / "b")
    source, sink = build_node(a.home), build_node(b.home)
    try:
        for _ in range(5):
            await source.produce_block()
        items = blocks_of(source.store, 5)
        # a peer's certificates for heights 2..4 that are not certificates at all
        junk = [
            (block, replace(commit, signature=items[4][1].signature)) for block, commit in items
        ]
        outcome = await sink.apply_synced([items[0], *junk[1:4], items[4]])
        assert outcome.failure is None and sink.head == source.head
        vset = Overlay(sink.store).validator_set()
        for height in range(1, 6):  # what is kept is a certificate, whatever the peer sent
            header = present(sink.store.block_at(height), "block").header
            check_commit(sink.chain_id, vset, present(sink.store.commit_at(height), "c"), header)
    finally:
        source.close()
        sink.close()


async def test_a_peer_cannot_make_a_node_keep_a_bad_certificate_or_stop_it(tmp_path: Path) -> None:
    """Blocks whose certified headers come with other bodies (a carried certificate changed,
    or left out): the run is refused, the blocks before the bad one are committed each with
    its own checked certificate, and the node goes on (found by a second review)."""
    a = make_home(tmp_path / "a")
    source = build_node(a.home)
    try:
        for _ in range(6):
            await source.produce_block()
        items = blocks_of(source.store, 6)
        fourth = items[3][0]
        carried = present(fourth.last_commit, "carried")
        junk = replace(carried, signature=items[5][1].signature)
        for n, body in enumerate(
            (replace(fourth, last_commit=junk), replace(fourth, last_commit=None))
        ):
            b = make_home(tmp_path / f"b{n}")
            sink = build_node(b.home)
            try:
                outcome = await sink.apply_synced([*items[:3], (body, items[3][1]), *items[4:]])
                assert [r.block.height for r, _ in outcome.applied] == [1, 2, 3]
                assert isinstance(outcome.failure, InvalidBlock) and not outcome.bad_commit
                vset = Overlay(sink.store).validator_set()
                for height in (1, 2, 3):
                    header = present(sink.store.block_at(height), "block").header
                    stored = present(sink.store.commit_at(height), "commit")
                    check_commit(sink.chain_id, vset, stored, header)
                assert sink.last_commit == items[2][1]
            finally:
                sink.close()
    finally:
        source.close()


async def test_a_run_is_written_at_snapshot_heights_with_checked_certificates(
    tmp_path: Path,
) -> None:
    a, b = make_home(tmp_path / "a"), make_home(tmp_path / "b")
    source, sink = build_node(a.home), build_node(b.home)
    sink.snapshots = SnapshotMaker(SnapshotDir(tmp_path / "snapshots"), interval=2, keep=3)
    try:
        for _ in range(5):
            await source.produce_block()
        items = blocks_of(source.store, 5)
        outcome = await sink.apply_synced(items)
        sink.snapshots.wait()
        assert outcome.failure is None and sink.head == source.head
        # the state of height 2 was written, and seen, before block 3 (4's may be skipped: a
        # snapshot height that comes while the last is still being made is)
        assert 2 in sink.snapshots.directory.heights()
        snapshot = decode_manifest(present(sink.snapshots.directory.manifest(2), "manifest"))
        assert snapshot.state_root == present(source.store.block_at(2), "block").header.state_root
    finally:
        source.close()
        sink.close()
