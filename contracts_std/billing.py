"""Capacity billing: a customer escrows credits; the node running the workload reports its usage
once per billing period; the contract pays the node's key address from the escrow.

Cost of one period (tfchain's formulas, in thousandths of a unit so everything stays integer):
  CU = min(max(mru/4, cru/2), max(mru/8, cru), max(mru/2, cru/4))   (mru in GB, cru in cores)
  SU = hru/1200 + sru/200                                           (GB)
  cost = (CU * price_cu + SU * price_su) / 1000 + ipv4 * price_ipv4, pro-rated over the blocks
  since the last bill, plus nu * price_nu for the GB of traffic; prices are chain parameters.

When the escrow cannot pay a bill, what it holds is paid, the rest is owed and the contract
enters its grace period; a top-up that covers the debt restores it; a contract still owing after
grace_period_blocks is cancelled as out of funds. Credits only move: escrow in, bills out to the
node, the remainder back to the customer on cancel.
"""

from vm.lang import (
    Map,
    bytes_of,
    caller,
    emit,
    height,
    int_to_bytes,
    key_address,
    param,
    public,
    transfer,
    value,
)

MAX_UNITS = 1_000_000_000  # bound on any reported quantity

counter = Map(bytes, int)  # b"last" -> the last billing id handed out
customer = Map(int, bytes)  # raw address that escrowed and gets refunds
node = Map(int, bytes)  # public key of the node that reports usage and is paid
workload = Map(int, int)  # the workload contract's id this bills for
escrow = Map(int, int)
debt = Map(int, int)
state = Map(int, str)  # active, grace, cancelled
last_billed = Map(int, int)  # height up to which usage is billed
grace_since = Map(int, int)


def head(bid: int) -> bytes:
    return int_to_bytes(bid, 8)


def amount_bytes(amount: int) -> bytes:
    return int_to_bytes(amount, 16)


def set_state(bid: int, new: str) -> None:
    state[bid] = new
    emit("state", head(bid) + bytes_of(new))


def running(bid: int) -> None:
    st = state[bid]
    assert st != "", "no such billing contract"
    assert st == "active" or st == "grace", "billing contract is cancelled"


def cu_milli(cru: int, mru: int) -> int:
    a = max(mru * 250, cru * 500)
    b = max(mru * 125, cru * 1000)
    c = max(mru * 500, cru * 250)
    return min(min(a, b), c)


def su_milli(sru: int, hru: int) -> int:
    return hru * 1000 // 1200 + sru * 1000 // 200


def period_cost(cru: int, mru: int, sru: int, hru: int, ipv4: int) -> int:
    units = cu_milli(cru, mru) * param("price_cu") + su_milli(sru, hru) * param("price_su")
    return units // 1000 + ipv4 * param("price_ipv4")


def grace_over(bid: int) -> bool:
    return state[bid] == "grace" and height() > grace_since[bid] + param("grace_period_blocks")


def close(bid: int, why: str) -> None:
    """Refund what the escrow still holds and end the contract."""
    left = escrow[bid]
    if left > 0:
        escrow[bid] = 0
        transfer(customer[bid], left)
    emit("refund", head(bid) + amount_bytes(left) + bytes_of(why))
    set_state(bid, "cancelled")


def pay_debt(bid: int) -> int:
    """Pay the node what is owed, as far as the escrow goes; returns what was paid."""
    owed = debt[bid]
    paid = min(owed, escrow[bid])
    if paid > 0:
        escrow[bid] = escrow[bid] - paid
        transfer(key_address(node[bid]), paid)
    debt[bid] = owed - paid
    emit("bill", head(bid) + amount_bytes(paid) + amount_bytes(owed - paid))
    return paid


def end_out_of_funds(bid: int) -> None:
    pay_debt(bid)
    close(bid, "out of funds")


def settle(bid: int) -> int:
    """Pay the debt; owing nothing ends a grace period, owing starts one, and owing after it
    ends the contract."""
    paid = pay_debt(bid)
    if debt[bid] == 0:
        if state[bid] == "grace":
            set_state(bid, "active")
    elif state[bid] == "active":
        grace_since[bid] = height()
        set_state(bid, "grace")
    elif grace_over(bid):
        close(bid, "out of funds")
    return paid


@public
def create(wid: int, node_key: bytes) -> int:
    """Open billing for workload `wid` run by `node_key`; the credits sent are the escrow."""
    assert value() > 0, "send the escrow with the call (value > 0)"
    assert len(node_key) == 32, "node key must be 32 bytes"
    bid = counter[b"last"] + 1
    counter[b"last"] = bid
    customer[bid] = caller()
    node[bid] = node_key
    workload[bid] = wid
    escrow[bid] = value()
    last_billed[bid] = height()
    state[bid] = "active"
    emit("open", head(bid) + int_to_bytes(wid, 8) + node_key + amount_bytes(value()))
    return bid


@public
def report(bid: int, cru: int, mru: int, sru: int, hru: int, ipv4: int, nu: int) -> int:
    """The node's usage since the last bill; bills it and returns what was paid."""
    running(bid)
    assert caller() == key_address(node[bid]), "only the node running the workload reports usage"
    assert min(min(min(cru, mru), min(sru, hru)), min(ipv4, nu)) >= 0, "usage is negative"
    assert max(max(max(cru, mru), max(sru, hru)), max(ipv4, nu)) <= MAX_UNITS, "usage too large"
    period = param("billing_period_blocks")
    blocks = height() - last_billed[bid]
    assert blocks >= period, "usage is reported once per billing period"
    cost = period_cost(cru, mru, sru, hru, ipv4) * blocks // period + nu * param("price_nu")
    last_billed[bid] = height()
    emit(
        "usage",
        head(bid)
        + int_to_bytes(blocks, 8)
        + int_to_bytes(cru, 4)
        + int_to_bytes(mru, 4)
        + int_to_bytes(sru, 4)
        + int_to_bytes(hru, 4)
        + int_to_bytes(ipv4, 4)
        + int_to_bytes(nu, 4)
        + amount_bytes(cost),
    )
    debt[bid] = debt[bid] + cost
    return settle(bid)


@public
def top_up(bid: int) -> str:
    """Add the credits sent to the escrow; pays any debt, which ends a grace period."""
    running(bid)
    assert value() > 0, "send the top-up with the call (value > 0)"
    escrow[bid] = escrow[bid] + value()
    emit("topup", head(bid) + amount_bytes(value()))
    if grace_over(bid):
        end_out_of_funds(bid)
    elif debt[bid] > 0:
        settle(bid)
    return state[bid]


@public
def check(bid: int) -> str:
    """Anyone may end a contract whose grace period ran out."""
    running(bid)
    if grace_over(bid):
        end_out_of_funds(bid)
    return state[bid]


@public
def cancel(bid: int) -> None:
    """The customer ends the contract: the debt is paid as far as it goes, the rest refunded."""
    running(bid)
    assert caller() == customer[bid], "only the customer can cancel"
    if debt[bid] > 0:
        settle(bid)
    if state[bid] != "cancelled":
        close(bid, "cancelled by customer")


@public
def status(bid: int) -> str:
    return state[bid]


@public
def escrow_of(bid: int) -> int:
    return escrow[bid]


@public
def debt_of(bid: int) -> int:
    return debt[bid]


@public
def last_id() -> int:
    return counter[b"last"]
