"""The mempool: gap-free nonce runs per sender, fee priority, bounds, replace-by-fee, updates."""

import contextlib

import pytest

from chain.address import key_address, multisig_address
from chain.errors import (
    FeeTooLow,
    FutureNonce,
    InsufficientBalance,
    PolicyNotSatisfied,
    StaleNonce,
    UnknownAccount,
)
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import CreateMultisig, SignedTx, Transfer, TxBody, sign_tx
from chain.state import Account
from node.mempool import DuplicateTx, Mempool, MempoolFull, NoncePending
from tests.kit.support import addr

CHAIN = "gridchain-mempool"
MIN_FEE = 1
ALICE, BOB, CAROL, DAVE = (
    keypair_from_seed(hash32(b"mempool/" + n)) for n in (b"a", b"b", b"c", b"d")
)
SINK = key_address(keypair_from_seed(hash32(b"mempool/sink")).public_key)
RICH = Account(balance=10**9, nonce=0)


def tx(sender: KeyPair, nonce: int, fee: int = 1, amount: int = 10) -> SignedTx:
    return sign_tx(TxBody(CHAIN, addr(sender), nonce, fee, Transfer(SINK, amount)), [sender])


def pool(max_txs: int = 1000, max_bytes: int = 10**7) -> Mempool:
    return Mempool(max_txs, max_bytes)


def ids(txs: list[SignedTx]) -> list[bytes]:
    return [t.id for t in txs]


def check_accounting(mempool: Mempool, expected: list[SignedTx]) -> None:
    assert len(mempool) == len(expected)
    assert mempool.bytes == sum(len(t.encoded) for t in expected)
    for t in expected:
        assert t.id in mempool
        assert mempool.get(t.id) == t


# --- admission ----------------------------------------------------------------------------------


def test_add_and_get() -> None:
    mempool = pool()
    t = tx(ALICE, 0)
    mempool.add(t, RICH, MIN_FEE)
    check_accounting(mempool, [t])
    assert mempool.get(hash32(b"unknown")) is None
    assert hash32(b"unknown") not in mempool


def test_duplicate_is_refused() -> None:
    mempool = pool()
    t = tx(ALICE, 0)
    mempool.add(t, RICH, MIN_FEE)
    with pytest.raises(DuplicateTx):
        mempool.add(t, RICH, MIN_FEE)
    check_accounting(mempool, [t])


def test_stale_nonce() -> None:
    mempool = pool()
    with pytest.raises(StaleNonce):
        mempool.add(tx(ALICE, 2), Account(10**9, 3), MIN_FEE)
    check_accounting(mempool, [])


def test_future_nonce_gap() -> None:
    mempool = pool()
    with pytest.raises(FutureNonce):
        mempool.add(tx(ALICE, 1), RICH, MIN_FEE)
    first = tx(ALICE, 0)
    mempool.add(first, RICH, MIN_FEE)
    with pytest.raises(FutureNonce, match="next expected nonce is 1"):
        mempool.add(tx(ALICE, 2), RICH, MIN_FEE)
    second = tx(ALICE, 1)
    mempool.add(second, RICH, MIN_FEE)
    check_accounting(mempool, [first, second])


def test_run_starts_at_the_accounts_nonce() -> None:
    mempool = pool()
    account = Account(10**9, 7)
    with pytest.raises(FutureNonce):
        mempool.add(tx(ALICE, 8), account, MIN_FEE)
    mempool.add(tx(ALICE, 7), account, MIN_FEE)
    mempool.add(tx(ALICE, 8), account, MIN_FEE)
    assert len(mempool) == 2


def test_fee_below_minimum() -> None:
    mempool = pool()
    with pytest.raises(FeeTooLow):
        mempool.add(tx(ALICE, 0, fee=4), RICH, 5)
    mempool.add(tx(ALICE, 0, fee=5), RICH, 5)


def test_unknown_sender() -> None:
    with pytest.raises(UnknownAccount):
        pool().add(tx(ALICE, 0), None, MIN_FEE)


def test_insufficient_balance_counts_pending_spend() -> None:
    mempool = pool()
    account = Account(100, 0)
    first = tx(ALICE, 0, fee=1, amount=59)  # spend 60
    mempool.add(first, account, MIN_FEE)
    with pytest.raises(InsufficientBalance, match="pending spend 111"):
        mempool.add(tx(ALICE, 1, fee=1, amount=50), account, MIN_FEE)
    exact = tx(ALICE, 1, fee=1, amount=39)  # 60 + 40 = 100
    mempool.add(exact, account, MIN_FEE)
    check_accounting(mempool, [first, exact])
    with pytest.raises(InsufficientBalance):
        mempool.add(tx(ALICE, 2, fee=1, amount=1), account, MIN_FEE)


def test_multisig_sender_must_satisfy_its_policy() -> None:
    policy = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 2)
    ms = multisig_address(addr(ALICE), 0)
    account = Account(1000, 0, policy)
    body = TxBody(CHAIN, ms, 0, 1, Transfer(SINK, 10))
    mempool = pool()
    with pytest.raises(PolicyNotSatisfied):
        mempool.add(sign_tx(body, [ALICE]), account, MIN_FEE)
    with pytest.raises(PolicyNotSatisfied):
        mempool.add(sign_tx(body, [ALICE, DAVE]), account, MIN_FEE)
    mempool.add(sign_tx(body, [ALICE, CAROL]), account, MIN_FEE)
    assert len(mempool) == 1


# --- limits -------------------------------------------------------------------------------------


def test_max_txs() -> None:
    mempool = pool(max_txs=2)
    kept = [tx(ALICE, 0), tx(BOB, 0)]
    for t in kept:
        mempool.add(t, RICH, MIN_FEE)
    with pytest.raises(MempoolFull):
        mempool.add(tx(CAROL, 0), RICH, MIN_FEE)
    with pytest.raises(MempoolFull):
        mempool.add(tx(ALICE, 1), RICH, MIN_FEE)
    check_accounting(mempool, kept)


def test_max_bytes() -> None:
    first = tx(ALICE, 0)
    mempool = pool(max_bytes=2 * len(first.encoded))
    second = tx(BOB, 0)
    assert len(second.encoded) == len(first.encoded)
    mempool.add(first, RICH, MIN_FEE)
    mempool.add(second, RICH, MIN_FEE)  # exactly at the limit
    with pytest.raises(MempoolFull):
        mempool.add(tx(CAROL, 0), RICH, MIN_FEE)
    check_accounting(mempool, [first, second])


def test_room_comes_back_after_removal() -> None:
    mempool = pool(max_txs=1)
    first = tx(ALICE, 0)
    mempool.add(first, RICH, MIN_FEE)
    with pytest.raises(MempoolFull):
        mempool.add(tx(BOB, 0), RICH, MIN_FEE)
    mempool.drop(first)
    mempool.add(tx(BOB, 0), RICH, MIN_FEE)
    assert len(mempool) == 1


# --- selection ----------------------------------------------------------------------------------


def test_sender_stays_in_nonce_order_even_if_a_later_tx_pays_more() -> None:
    mempool = pool()
    a0, a1, a2 = tx(ALICE, 0, fee=1), tx(ALICE, 1, fee=100), tx(ALICE, 2, fee=50)
    b0 = tx(BOB, 0, fee=10)
    for t in (a0, a1, a2, b0):
        mempool.add(t, RICH, MIN_FEE)
    selected = list(mempool.select(10))
    assert ids(selected) == ids([b0, a0, a1, a2])


def test_fee_priority_across_senders() -> None:
    mempool = pool()
    low, high, mid = tx(ALICE, 0, fee=5), tx(BOB, 0, fee=20), tx(CAROL, 0, fee=10)
    for t in (low, high, mid):
        mempool.add(t, RICH, MIN_FEE)
    assert ids(list(mempool.select(10))) == ids([high, mid, low])


def test_interleaving_by_fee_of_each_senders_next_tx() -> None:
    mempool = pool()
    a = [tx(ALICE, 0, fee=30), tx(ALICE, 1, fee=5)]
    b = [tx(BOB, 0, fee=20), tx(BOB, 1, fee=25)]
    for t in (*a, *b):
        mempool.add(t, RICH, MIN_FEE)
    # heads: A30, B20 -> A30; heads: A5, B20 -> B20; heads: A5, B25 -> B25; then A5
    assert ids(list(mempool.select(10))) == ids([a[0], b[0], b[1], a[1]])


def test_equal_fees_go_in_arrival_order() -> None:
    mempool = pool()
    order = [tx(CAROL, 0, fee=3), tx(ALICE, 0, fee=3), tx(BOB, 0, fee=3)]
    for t in order:
        mempool.add(t, RICH, MIN_FEE)
    assert ids(list(mempool.select(10))) == ids(order)


def test_select_limit_and_no_side_effects() -> None:
    mempool = pool()
    all_txs = [tx(ALICE, n, fee=1) for n in range(5)]
    for t in all_txs:
        mempool.add(t, RICH, MIN_FEE)
    assert ids(list(mempool.select(3))) == ids(all_txs[:3])
    assert list(mempool.select(0)) == []
    check_accounting(mempool, all_txs)


def test_select_from_empty_pool() -> None:
    assert list(pool().select(10)) == []


# --- replace-by-fee -----------------------------------------------------------------------------


def test_replace_needs_ten_percent_more_fee() -> None:
    mempool = pool()
    old = tx(ALICE, 0, fee=100)
    mempool.add(old, RICH, MIN_FEE)
    for fee in (1, 100, 109):
        with pytest.raises(NoncePending, match="fee >= 110"):
            mempool.add(tx(ALICE, 0, fee=fee, amount=11), RICH, MIN_FEE)
    new = tx(ALICE, 0, fee=110, amount=11)
    mempool.add(new, RICH, MIN_FEE)
    assert old.id not in mempool
    check_accounting(mempool, [new])


def test_replace_small_fee_needs_at_least_one_more() -> None:
    mempool = pool()
    mempool.add(tx(ALICE, 0, fee=3), RICH, MIN_FEE)
    with pytest.raises(NoncePending):
        mempool.add(tx(ALICE, 0, fee=3, amount=11), RICH, MIN_FEE)
    mempool.add(tx(ALICE, 0, fee=4, amount=11), RICH, MIN_FEE)
    assert len(mempool) == 1


def test_replace_in_the_middle_of_a_run_keeps_the_order() -> None:
    mempool = pool()
    run = [tx(ALICE, n, fee=10) for n in range(3)]
    for t in run:
        mempool.add(t, RICH, MIN_FEE)
    better = tx(ALICE, 1, fee=11)
    mempool.add(better, RICH, MIN_FEE)
    expected = [run[0], better, run[2]]
    assert ids(list(mempool.select(10))) == ids(expected)
    check_accounting(mempool, expected)


def test_replace_must_still_be_affordable() -> None:
    mempool = pool()
    account = Account(100, 0)
    mempool.add(tx(ALICE, 0, fee=10, amount=40), account, MIN_FEE)
    mempool.add(tx(ALICE, 1, fee=10, amount=40), account, MIN_FEE)  # pending spend 100
    with pytest.raises(InsufficientBalance):
        mempool.add(tx(ALICE, 0, fee=11, amount=40), account, MIN_FEE)
    mempool.add(tx(ALICE, 0, fee=11, amount=39), account, MIN_FEE)
    assert mempool.bytes == sum(len(t.encoded) for t in mempool.select(10))


def test_replacement_respects_max_bytes() -> None:
    small = tx(ALICE, 0, fee=10)
    mempool = pool(max_bytes=len(small.encoded))
    mempool.add(small, RICH, MIN_FEE)
    policy = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL, DAVE)], 2)
    body = TxBody(CHAIN, addr(ALICE), 0, 20, CreateMultisig(policy, 10))
    bigger = sign_tx(body, [ALICE])
    assert len(bigger.encoded) > len(small.encoded)
    with contextlib.suppress(MempoolFull):
        mempool.add(bigger, RICH, MIN_FEE)
    assert mempool.bytes <= mempool.max_bytes


# --- after a block ------------------------------------------------------------------------------


def test_update_drops_included_txs() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(4)]
    other = tx(BOB, 0)
    for t in (*run, other):
        mempool.add(t, RICH, MIN_FEE)
    # A block included Alice's nonces 0 and 1.
    after = Account(RICH.balance - run[0].spend - run[1].spend, 2)
    mempool.update(lambda a: after if a == addr(ALICE) else RICH, {addr(ALICE)})
    check_accounting(mempool, [run[2], run[3], other])
    assert ids(list(mempool.select(10))) == ids([run[2], run[3], other])  # equal fees: arrival


def test_update_drops_everything_once_all_included() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(3)]
    for t in run:
        mempool.add(t, RICH, MIN_FEE)
    mempool.update(lambda a: Account(1, 3), {addr(ALICE)})
    check_accounting(mempool, [])
    assert list(mempool.select(10)) == []
    # The sender can start a new run from its new nonce.
    mempool.add(tx(ALICE, 3, amount=1, fee=0), Account(10, 3), 0)
    assert len(mempool) == 1


def test_update_drops_successors_that_became_unaffordable() -> None:
    mempool = pool()
    account = Account(1000, 0)
    run = [tx(ALICE, n, fee=1, amount=99) for n in range(5)]  # 100 each
    for t in run:
        mempool.add(t, account, MIN_FEE)
    # One included; meanwhile the balance dropped (another tx of the sender was applied).
    after = Account(250, 1)
    mempool.update(lambda a: after, {addr(ALICE)})
    check_accounting(mempool, run[1:3])


def test_update_drops_a_run_that_no_longer_starts_at_the_nonce() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(3)]
    for t in run:
        mempool.add(t, RICH, MIN_FEE)
    # A competing transaction with nonce 0 was included instead: nonce 1 is now next.
    mempool.update(lambda a: Account(RICH.balance - 100, 1), {addr(ALICE)})
    check_accounting(mempool, run[1:])
    # Later both were superseded by transactions that reached a block another way.
    mempool.update(lambda a: Account(RICH.balance - 200, 3), {addr(ALICE)})
    check_accounting(mempool, [])


def test_update_drops_a_sender_whose_account_vanished() -> None:
    mempool = pool()
    mempool.add(tx(ALICE, 0), RICH, MIN_FEE)
    mempool.update(lambda a: None, {addr(ALICE)})
    check_accounting(mempool, [])


def test_update_leaves_untouched_senders_alone() -> None:
    mempool = pool()
    a, b = tx(ALICE, 0), tx(BOB, 0)
    mempool.add(a, RICH, MIN_FEE)
    mempool.add(b, RICH, MIN_FEE)
    mempool.update(lambda _: Account(0, 5), {addr(CAROL)})
    check_accounting(mempool, [a, b])


def test_update_keeps_a_still_valid_run() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(3)]
    for t in run:
        mempool.add(t, RICH, MIN_FEE)
    mempool.update(lambda a: RICH, {addr(ALICE)})
    check_accounting(mempool, run)


# --- drop ---------------------------------------------------------------------------------------


def test_drop_removes_a_tx_and_its_senders_later_txs() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(4)]
    other = [tx(BOB, 0), tx(BOB, 1)]
    for t in (*run, *other):
        mempool.add(t, RICH, MIN_FEE)
    mempool.drop(run[2])
    check_accounting(mempool, [run[0], run[1], *other])
    # The run can be refilled from the dropped nonce.
    refill = tx(ALICE, 2, amount=77)
    mempool.add(refill, RICH, MIN_FEE)
    check_accounting(mempool, [run[0], run[1], refill, *other])


def test_drop_the_head_removes_the_whole_run() -> None:
    mempool = pool()
    run = [tx(ALICE, n) for n in range(3)]
    for t in run:
        mempool.add(t, RICH, MIN_FEE)
    mempool.drop(run[0])
    check_accounting(mempool, [])
    assert list(mempool.select(10)) == []


def test_drop_of_an_unknown_tx_changes_nothing() -> None:
    mempool = pool()
    kept = tx(ALICE, 0)
    mempool.add(kept, RICH, MIN_FEE)
    mempool.drop(tx(ALICE, 1))
    mempool.drop(tx(BOB, 0))
    check_accounting(mempool, [kept])


def test_bytes_accounting_returns_to_zero() -> None:
    mempool = pool()
    txs = [tx(k, n, fee=n + 1) for k in (ALICE, BOB, CAROL) for n in range(3)]
    for t in txs:
        mempool.add(t, RICH, MIN_FEE)
    assert mempool.bytes == sum(len(t.encoded) for t in txs) > 0
    mempool.add(tx(ALICE, 1, fee=50), RICH, MIN_FEE)  # a replacement
    mempool.drop(txs[0])  # all of Alice
    mempool.update(lambda a: Account(RICH.balance, 1), {addr(BOB)})  # Bob's first included
    mempool.update(lambda a: Account(RICH.balance, 3), {addr(BOB), addr(CAROL)})
    assert len(mempool) == 0
    assert mempool.bytes == 0
