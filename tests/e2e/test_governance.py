"""The council governs a running devnet through `gridchain gov`: each member signs with their
own keystore key, a proposal executes when two of the three have approved, and one that is not
approved in time expires and does nothing. Real node processes, real signatures, the CLI as a
council member types it."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.genesis_state import COUNCIL_ADDRESS
from node.keystore import DEVNET_PASSPHRASE
from tests.kit.netkit import Net, running_net, wait_until
from tests.kit.support import as_json, gridchain

pytestmark = pytest.mark.slow

PARAMS = {"block_interval_ms": 200, "empty_block_interval_ms": 500}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with running_net(tmp_path_factory.mktemp("gov") / "devnet", 1, PARAMS) as net:
        yield net


@pytest.fixture(scope="module")
def env(net: Net) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDCHAIN_KEYSTORE": str(net.directory / "keys"),
        "GRIDCHAIN_PASSPHRASE": DEVNET_PASSPHRASE,
        "GRIDCHAIN_NODE": net.clients["node0"].url,
    }


def gov(env: dict[str, str], *args: str) -> Any:
    return as_json(gridchain("gov", *args, "--json", env=env))


def refused(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = gridchain("gov", *args, "--json", env=env, check=False)
    assert result.returncode != 0, result.stdout
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    return error


def test_a_parameter_change_needs_two_of_the_three_members(net: Net, env: dict[str, str]) -> None:
    status = as_json(gridchain("devnet", "status", "--dir", str(net.directory), "--json", env=env))
    assert status["council"]["members"] == ["council1", "council2", "council3"]
    node = net.clients["node0"]
    assert node.status()["fees"]["min_fee"] == 1

    proposed = gov(env, "propose", "params", "min_fee=2", "--key", "council1", "--wait")
    proposal_id = proposed["id"]
    waiting = proposed["proposal"]
    assert waiting["status"] == "open"
    assert (waiting["approved_weight"], waiting["threshold"]) == (1, 2)
    assert node.status()["fees"]["min_fee"] == 1  # one member is not enough

    approved = gov(env, "approve", proposal_id, "--key", "council2", "--wait")
    assert approved["proposal"]["status"] == "executed"
    assert node.status()["fees"]["min_fee"] == 2
    # The third member is too late; the CLI says so before signing anything.
    assert refused(env, "approve", proposal_id, "--key", "council3")["code"] == "proposal_closed"
    shown = gov(env, "status", proposal_id)
    assert shown["kind"] == "params" and shown["content"] == {"min_fee": 2}
    assert len(shown["approvals"]) == 2

    entries = node.get(f"/v1/audit/contracts/{COUNCIL_ADDRESS}/entries?start=0&limit=100")
    topics = [e["topic"] for e in entries["entries"]]
    assert topics[-3:] == ["proposal_submitted", "proposal_approved", "proposal_executed"]


def test_a_reward_change_by_two_members(net: Net, env: dict[str, str]) -> None:
    node = net.clients["node0"]
    before = node.get("/v1/farming")["params"]
    proposed = gov(
        env,
        "propose",
        "rewards",
        "--per-gib",
        "77",
        "--per-core",
        "88",
        "--key",
        "council3",
        "--wait",
    )
    assert node.get("/v1/farming")["params"] == before
    gov(env, "approve", proposed["id"], "--key", "council1", "--wait")
    params = node.get("/v1/farming")["params"]
    assert (params["reward_per_gib"], params["reward_per_core"]) == (77, 88)


def test_an_expired_proposal_does_nothing(net: Net, env: dict[str, str]) -> None:
    node = net.clients["node0"]
    proposed = gov(
        env, "propose", "params", "min_fee=9", "--voting-blocks", "2", "--key", "council2", "--wait"
    )
    expires_after = proposed["proposal"]["expires_after"]
    wait_until(lambda: net.height("node0") > expires_after, 30, "the proposal to expire")
    shown = gov(env, "status", proposed["id"])
    assert shown["status"] == "expired" and shown["closed_at"] == expires_after + 1
    assert refused(env, "approve", proposed["id"], "--key", "council1")["code"] == "proposal_closed"
    assert node.status()["fees"]["min_fee"] != 9
    listed = gov(env, "list")
    statuses = {p["id"]: p["status"] for p in listed["proposals"]}
    assert statuses[proposed["id"]] == "expired"
    assert sorted(statuses.values()).count("executed") >= 1


def test_the_council_spends_from_its_account_with_signatures_gathered_offline(
    net: Net, env: dict[str, str], tmp_path: Path
) -> None:
    """Offline multisig for a transfer: one member writes the file, another signs it on their
    own machine, the files are combined and sent; one signature alone is refused."""
    node = net.clients["node0"]
    fee = str(node.status()["fees"]["min_fee"])
    tx = ("tx", "transfer")
    as_json(
        gridchain(
            *tx,
            "--from",
            "alice",
            "--to",
            str(COUNCIL_ADDRESS),
            "--amount",
            "1000",
            "--fee",
            fee,
            "--wait",
            "--json",
            env=env,
        )
    )
    before = node.account(str(net.bob))["balance"]
    first, second, both = (str(tmp_path / n) for n in ("c1.json", "c3.json", "both.json"))
    as_json(
        gridchain(
            *tx,
            "--from",
            str(COUNCIL_ADDRESS),
            "--to",
            str(net.bob),
            "--amount",
            "7",
            "--fee",
            fee,
            "--signer",
            "council1",
            "--out",
            first,
            "--json",
            env=env,
        )
    )
    alone = gridchain("tx", "send", first, "--json", env=env, check=False)
    assert alone.returncode != 0
    assert json.loads(alone.stdout)["error"]["code"] == "policy_not_satisfied"
    as_json(gridchain("tx", "sign", first, "--key", "council3", "--out", second, "--json", env=env))
    as_json(gridchain("tx", "combine", first, second, "--out", both, "--json", env=env))
    sent = as_json(gridchain("tx", "send", both, "--wait", "--json", env=env))
    assert sent["status"] == "committed"
    assert node.account(str(net.bob))["balance"] == before + 7
