"""Capacity billing on a real chain: escrow, usage bills paid to the node, grace period,
top-up, out-of-funds cancellation, and credits neither created nor lost."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.address import Address, key_address
from contracts_std.requirement import billing_address
from tests.kit.chainkit import USERS, VALIDATOR, ContractChain, make_genesis

BILLING = billing_address()
ALICE, NODE, MALLORY = USERS["alice"], USERS["node"], USERS["mallory"]
PERIOD = 5
GRACE = 10
PRICES = {"price_cu": 1_000, "price_su": 100, "price_ipv4": 50, "price_nu": 7}


def genesis_params() -> dict[str, int]:
    return {"billing_period_blocks": PERIOD, "grace_period_blocks": GRACE, **PRICES}


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ContractChain]:
    c = ContractChain(tmp_path / "chain", make_genesis(**genesis_params()))
    yield c
    c.close()


def cost(cru: int, mru: int, sru: int, hru: int, ipv4: int, nu: int, blocks: int) -> int:
    """The formulas of ../shared/reference/ledger-and-contracts.md, in thousandths."""
    cu = min(max(mru * 250, cru * 500), max(mru * 125, cru * 1000), max(mru * 500, cru * 250))
    su = hru * 1000 // 1200 + sru * 1000 // 200
    period = (cu * PRICES["price_cu"] + su * PRICES["price_su"]) // 1000
    period += ipv4 * PRICES["price_ipv4"]
    return period * blocks // PERIOD + nu * PRICES["price_nu"]


def supply(chain: ContractChain) -> int:
    accounts: list[Address] = [key_address(k.public_key) for k in USERS.values()]
    accounts += [key_address(VALIDATOR.public_key), BILLING]
    return sum(chain.balance(a) for a in accounts)


def open_billing(chain: ContractChain, escrow: int) -> int:
    bid = chain.ok(ALICE, BILLING, "create", 1, NODE.public_key, value=escrow)
    assert isinstance(bid, int)
    return bid


def test_usage_is_billed_to_the_node_from_escrow(chain: ContractChain) -> None:
    before = supply(chain)
    bid = open_billing(chain, 100_000)
    assert chain.balance(BILLING) == 100_000
    early = chain.call(NODE, BILLING, "report", bid, 2, 4, 100, 0, 1, 3)
    assert (early.status, early.message) == ("revert", "usage is reported once per billing period")
    chain.advance(PERIOD)
    impostor = chain.call(MALLORY, BILLING, "report", bid, 2, 4, 100, 0, 1, 3)
    assert impostor.message == "only the node running the workload reports usage"
    node_before = chain.balance(key_address(NODE.public_key))
    receipt = chain.call(NODE, BILLING, "report", bid, 2, 4, 100, 0, 1, 3)
    assert receipt.status == "ok"
    blocks = PERIOD + 3  # the two refused reports and this one are blocks too
    expected = cost(2, 4, 100, 0, 1, 3, blocks)
    assert receipt.return_value == expected
    assert chain.balance(key_address(NODE.public_key)) == node_before + expected - receipt.fee
    assert chain.query(BILLING, "escrow_of", bid) == 100_000 - expected
    assert [e.topic for e in receipt.events] == ["usage", "bill"]
    assert supply(chain) == before


def test_grace_top_up_and_out_of_funds(chain: ContractChain) -> None:
    before = supply(chain)
    usage = (4, 16, 500, 2400, 1, 0)  # cost per period well above the escrow
    bid = open_billing(chain, 1_000)
    chain.advance(PERIOD)
    paid = chain.ok(NODE, BILLING, "report", bid, *usage)
    assert paid == 1_000  # all the escrow had
    assert chain.query(BILLING, "status", bid) == "grace"
    owed = chain.query(BILLING, "debt_of", bid)
    assert owed == cost(*usage, PERIOD + 1) - 1_000 > 0
    assert chain.ok(ALICE, BILLING, "top_up", bid, value=owed + 500) == "active"
    assert chain.query(BILLING, "debt_of", bid) == 0
    assert chain.query(BILLING, "escrow_of", bid) == 500
    # Short again, and nobody tops up: after the grace period the contract is cancelled.
    chain.advance(PERIOD)
    chain.ok(NODE, BILLING, "report", bid, *usage)
    assert chain.query(BILLING, "status", bid) == "grace"
    assert chain.ok(MALLORY, BILLING, "check", bid) == "grace"  # not over yet
    chain.advance(GRACE)
    assert chain.ok(MALLORY, BILLING, "check", bid) == "cancelled"
    late = chain.call(ALICE, BILLING, "top_up", bid, value=10)
    assert late.message == "billing contract is cancelled"
    assert chain.balance(BILLING) == 0
    assert supply(chain) == before


def test_cancel_refunds_the_escrow(chain: ContractChain) -> None:
    alice = key_address(ALICE.public_key)
    bid = open_billing(chain, 50_000)
    start = chain.balance(alice)
    stranger = chain.call(MALLORY, BILLING, "cancel", bid)
    assert stranger.message == "only the customer can cancel"
    receipt = chain.call(ALICE, BILLING, "cancel", bid)
    assert receipt.status == "ok"
    assert chain.balance(alice) == start + 50_000 - receipt.fee
    assert chain.query(BILLING, "status", bid) == "cancelled"


def test_a_reverted_call_keeps_its_value(chain: ContractChain) -> None:
    alice = key_address(ALICE.public_key)
    start = chain.balance(alice)
    receipt = chain.call(ALICE, BILLING, "create", 1, b"short", value=777)
    assert receipt.status == "revert" and receipt.message == "node key must be 32 bytes"
    assert chain.balance(alice) == start - receipt.fee
    assert chain.balance(BILLING) == 0
    assert receipt.gas_used > 0 and receipt.fee == 1 + receipt.gas_used


def test_out_of_gas_charges_the_whole_limit_and_changes_nothing(chain: ContractChain) -> None:
    alice = key_address(ALICE.public_key)
    start = chain.balance(alice)
    receipt = chain.call(ALICE, BILLING, "create", 1, NODE.public_key, value=500, gas=300)
    assert receipt.status == "out_of_gas"
    assert receipt.gas_used == 300 and receipt.fee == 301
    assert chain.balance(alice) == start - 301
    assert chain.query(BILLING, "last_id") == 0


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(1, 20_000)),
        st.tuples(st.just("report"), st.integers(0, 8), st.integers(0, 64), st.integers(0, 2000)),
        st.tuples(st.just("top_up"), st.integers(1, 20_000)),
        st.tuples(st.just("advance"), st.integers(1, 12)),
        st.tuples(st.just("cancel")),
        st.tuples(st.just("check")),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_supply_is_conserved(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[int, ...]]
) -> None:
    chain = ContractChain(tmp_path_factory.mktemp("chain"), make_genesis(**genesis_params()))
    try:
        before = supply(chain)
        bid = 1
        for op in ops:
            name = op[0]
            if name == "create":
                chain.call(ALICE, BILLING, "create", 1, NODE.public_key, value=int(op[1]))
            elif name == "report":
                chain.call(
                    NODE, BILLING, "report", bid, int(op[1]), int(op[2]), int(op[3]), 0, 0, 1
                )
            elif name == "top_up":
                chain.call(ALICE, BILLING, "top_up", bid, value=int(op[1]))
            elif name == "advance":
                chain.advance(int(op[1]))
            elif name == "cancel":
                chain.call(ALICE, BILLING, "cancel", bid)
            else:
                chain.call(MALLORY, BILLING, "check", bid)
            assert supply(chain) == before
        # what the contract holds is exactly what its open escrows say
        last = chain.query(BILLING, "last_id")
        assert chain.balance(BILLING) == sum(
            chain.query(BILLING, "escrow_of", b) for b in range(1, last + 1)
        )
    finally:
        chain.close()
