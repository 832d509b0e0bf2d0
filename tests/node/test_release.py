"""A node and a farmer agent against the chain's release: a real node over a real LevelDB
behind its HTTP API, whose council (alice, 1 of 1) approves upgrades on chain."""

from typing import Any

import pytest

from chain.address import key_address
from chain.governance.txs import GovPropose, UpgradePlan
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.ledger.transactions import TxBody, sign_tx
from node.farmer.runner import is_newer, release_verdict
from node.release import VERSION, UpgradeNeeded
from node.service import NodeService
from tests.kit.support import CHAIN_ID

OLDER = "0.0.1"


async def plan_upgrade(node: NodeService, alice: KeyPair, version: str, at: int) -> None:
    """Alice is the whole council: her proposal executes in the block that holds it."""
    plan = UpgradePlan("next", at, version, hash32(b"wheel"), "file:///next.whl")
    sender = key_address(alice.public_key)
    body = TxBody(CHAIN_ID, sender, node.next_nonce(sender), 1, GovPropose("next", plan, 10))
    node.submit(sign_tx(body, [alice]).encoded)
    await node.produce_block()


async def test_a_node_stops_before_a_height_of_another_release(api: Any) -> None:
    client, node, th = api
    await plan_upgrade(node, th.alice, "9.9.9", node.head.height + 3)
    await node.produce_block()
    view = await (await client.get("/v1/upgrade")).json()
    assert view["plan"]["version"] == "9.9.9" and view["node_version"] == VERSION
    with pytest.raises(UpgradeNeeded, match=r"runs release 9\.9\.9") as stopped:
        await node.produce_block()  # the plan's height: this node does not run that release
    assert stopped.value.height == node.head.height + 1 and stopped.value.exit_code == 10


async def test_a_farmer_agent_hears_of_a_plan_and_stops_once_it_is_older(api: Any) -> None:
    client, node, th = api
    at = node.head.height + 2
    await plan_upgrade(node, th.alice, VERSION, at)
    planned = await (await client.get("/v1/upgrade")).json()
    announcement, stop = release_verdict(planned, OLDER)
    assert announcement is not None and f"release {VERSION} at height {at}" in announcement
    assert stop is None  # not yet: the chain still runs what it ran
    assert release_verdict(planned, VERSION) == (None, None)
    while node.head.height < at:
        await node.produce_block()  # this node runs VERSION: it switches with the chain
    switched = await (await client.get("/v1/upgrade")).json()
    assert switched["running"]["version"] == VERSION and switched["plan"] is None
    _, stop = release_verdict(switched, OLDER)
    assert stop is not None and f"this agent runs {OLDER}, older" in stop
    assert release_verdict(switched, "99.0") == (None, None)  # upgraded ahead: goes on


@pytest.mark.parametrize(
    ("version", "than", "newer"),
    [
        ("0.10.0", "0.9.0", True),
        ("0.1.0+up1", "0.1.0", True),
        ("0.1.0", "0.1.0", False),
        ("1.0", "2.0", False),
        ("not a version", "0.1.0", True),
    ],
)
def test_release_order_is_pep_440(version: str, than: str, newer: bool) -> None:
    assert is_newer(version, than) is newer


async def test_status_shows_the_release_and_the_plan(api: Any) -> None:
    client, node, th = api
    status = await (await client.get("/v1/status")).json()
    assert status["version"] == VERSION and status["release"] == {"running": None, "plan": None}
    await plan_upgrade(node, th.alice, "9.9.9", node.head.height + 10)
    status = await (await client.get("/v1/status")).json()
    assert status["release"]["plan"]["version"] == "9.9.9"
