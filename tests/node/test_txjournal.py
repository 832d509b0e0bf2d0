"""The mempool's journal over a real node home (LevelDB, the journal file): what the node
accepted survives the node dying, what a block committed meanwhile is not admitted twice, what
is no longer valid is reported rejected with its reason, and a torn tail loses only itself.

A "crash" here closes the store (LevelDB's lock is per process) but never the journal: the
journal is left exactly as a kill -9 would leave it, with what the node had flushed."""

from pathlib import Path

import pytest

from chain.state import Account
from node.server import build_node
from node.service import NodeService, Verdicted
from node.txjournal import JournalError, TxJournal, Verdict
from tests.kit.support import make_home, transfer


def crash(node: NodeService) -> None:
    node.verifier.close()
    node.view.close()
    node.store.close()


async def test_accepted_transactions_survive_a_crash_and_are_committed_after_it(
    tmp_path: Path,
) -> None:
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    txs = [transfer(th.alice, th.bob_address, 5, nonce=n) for n in range(3)]
    for tx in txs:
        node.submit(tx.encoded)
    crash(node)

    node = build_node(th.home)
    try:
        assert [node.mempool.get(tx.id) for tx in txs] == txs
        header = await node.produce_block()
        assert node.store.block_at(header.height).txs == tuple(txs)  # type: ignore[union-attr]
    finally:
        node.close()


async def test_committed_transactions_are_dropped_and_invalid_ones_reported_rejected(
    tmp_path: Path,
) -> None:
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    committed = transfer(th.alice, th.bob_address, 5, nonce=0)
    node.submit(committed.encoded)
    await node.produce_block()
    # A transaction with the nonce the block used up, as a journal may hold it when another
    # node's block took a different transaction of the same sender.
    stale = transfer(th.alice, th.bob_address, 6, nonce=0)
    assert node.journal is not None
    node.journal.add(stale.encoded)
    node.journal.flush()
    crash(node)

    node = build_node(th.home)
    try:
        assert len(node.mempool) == 0
        assert node.store.tx_location(committed.id) is not None
        assert node.rejected[stale.id].code == "stale_nonce"
    finally:
        node.close()
    # The rewritten journal holds the verdict and nothing pending: a second restart still
    # reports the stale transaction rejected, and does not admit it again.
    records = TxJournal(th.home.mempool_journal_file).open()
    assert [r.tx_id for r in records if isinstance(r, Verdict)] == [stale.id]
    node = build_node(th.home)
    try:
        assert node.rejected[stale.id].code == "stale_nonce" and len(node.mempool) == 0
    finally:
        node.close()


def test_a_torn_tail_loses_only_the_torn_record(tmp_path: Path) -> None:
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    whole = transfer(th.alice, th.bob_address, 5, nonce=0)
    node.submit(whole.encoded)
    torn = transfer(th.alice, th.bob_address, 5, nonce=1)
    node.submit(torn.encoded)
    crash(node)
    path = th.home.mempool_journal_file
    path.write_bytes(path.read_bytes()[:-7])  # the write of the last record cut short

    node = build_node(th.home)
    try:
        assert node.mempool.get(whole.id) == whole
        assert node.mempool.get(torn.id) is None
    finally:
        node.close()


async def test_a_transaction_reported_rejected_is_not_revived_by_a_restart(
    tmp_path: Path,
) -> None:
    """Left out of a block (the builder refused it), it is rejected with the reason; the
    journal, which accepted it, keeps that verdict, so a restart does not admit it again."""
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    overspend = transfer(th.bob, th.alice_address, 5000, nonce=0)
    # in the journal as an accepted transaction would be, then refused by the block builder
    node.mempool.add(overspend, Account(balance=10**6), min_fee=1)
    assert node.journal is not None
    node.journal.add(overspend.encoded)
    await node.produce_block()
    assert node.rejected[overspend.id].code == "insufficient_balance"
    crash(node)

    node = build_node(th.home)
    try:
        assert overspend.id not in node.mempool
        verdict = node.rejected[overspend.id]
        # the journal's verdict, not a new refusal of a transaction admitted again
        assert isinstance(verdict, Verdicted) and verdict.code == "insufficient_balance"
    finally:
        node.close()


async def test_a_broken_journal_refuses_submissions_until_a_block_rewrites_it(
    tmp_path: Path,
) -> None:
    """A journal write that failed (a full disk) is no reason to stop consensus, but nothing
    can be accepted while the journal cannot keep it: journal_error, until the next block's
    rewrite succeeds."""
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    try:
        assert node.journal is not None
        node.journal.broken = "No space left on device"  # as a failed write leaves it
        tx = transfer(th.alice, th.bob_address, 5, nonce=0)
        with pytest.raises(JournalError):
            node.submit(tx.encoded)
        assert tx.id not in node.mempool
        await node.produce_block()  # the rewrite at the block succeeds: the disk has room
        assert node.journal.broken is None
        node.submit(tx.encoded)
        assert tx.id in node.mempool
    finally:
        node.close()


def test_a_replaced_transaction_is_reported_and_a_readmitted_one_is_pending(
    tmp_path: Path,
) -> None:
    th = make_home(tmp_path / "home")
    node = build_node(th.home)
    try:
        first = transfer(th.alice, th.bob_address, 5, nonce=0, fee=10)
        bumped = transfer(th.alice, th.bob_address, 5, nonce=0, fee=20)
        node.submit(first.encoded)
        node.submit(bumped.encoded)
        assert node.rejected[first.id].code == "replaced"
        # sent again with a higher fee still: accepted, and no longer reported rejected
        again = transfer(th.alice, th.bob_address, 5, nonce=0, fee=40)
        node.submit(again.encoded)
        node.rejected[again.id] = node.rejected[first.id]  # a stale verdict on its id
        node.mempool.drop(again)
        node.submit(again.encoded)
        assert again.id not in node.rejected and again.id in node.mempool
    finally:
        node.close()
