"""Epoch rewards as a block carries them: one line per node that did anything in the epoch.

The first block of epoch e+1 carries the rewards for epoch e. Its producer computes them and
every validator computes them again (chain/farming/rules.py); the header commits to them by a Merkle
root, so an auditor can prove what any node was paid and why.
"""

from dataclasses import dataclass
from typing import Any

from chain import merkle
from chain.encoding import encode, expect_fixed_list, expect_int, expect_list
from chain.farming.txs import MAX_ID
from chain.params import BASIS_POINTS

MAX_REWARDS = 1 << 20


@dataclass(frozen=True)
class NodeReward:
    """What `node` of `farm` proved in `epoch`, and the credits its farm is paid for it."""

    epoch: int
    node: int
    farm: int
    storage_bytes: int
    compute_milli_cores: int
    uptime_bp: int
    amount: int


def reward_to_value(r: NodeReward) -> list[int]:
    return [
        r.epoch,
        r.node,
        r.farm,
        r.storage_bytes,
        r.compute_milli_cores,
        r.uptime_bp,
        r.amount,
    ]


def reward_from_value(value: Any, i: int) -> NodeReward:
    items = expect_fixed_list(value, f"reward {i}", 7)
    what = f"reward {i}"
    return NodeReward(
        epoch=expect_int(items[0], f"{what} epoch"),
        node=expect_int(items[1], f"{what} node", 1, MAX_ID),
        farm=expect_int(items[2], f"{what} farm", 1, MAX_ID),
        storage_bytes=expect_int(items[3], f"{what} storage_bytes"),
        compute_milli_cores=expect_int(items[4], f"{what} compute"),
        uptime_bp=expect_int(items[5], f"{what} uptime", 0, BASIS_POINTS),
        amount=expect_int(items[6], f"{what} amount"),
    )


def rewards_to_value(rewards: tuple[NodeReward, ...]) -> list[list[int]]:
    return [reward_to_value(r) for r in rewards]


def rewards_from_value(value: Any) -> tuple[NodeReward, ...]:
    items = expect_list(value, "rewards", MAX_REWARDS)
    return tuple(reward_from_value(item, i) for i, item in enumerate(items))


def reward_leaf(r: NodeReward) -> bytes:
    return merkle.leaf_hash(encode(reward_to_value(r)))


def rewards_root(rewards: tuple[NodeReward, ...]) -> bytes:
    return merkle.root([reward_leaf(r) for r in rewards])


def reward_to_json(r: NodeReward) -> dict[str, int]:
    return {
        "epoch": r.epoch,
        "node": r.node,
        "farm": r.farm,
        "storage_bytes": r.storage_bytes,
        "compute_milli_cores": r.compute_milli_cores,
        "uptime_bp": r.uptime_bp,
        "amount": r.amount,
    }
