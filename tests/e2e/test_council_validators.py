"""The council adds a fifth validator to a running 4-validator devnet, and it signs blocks.

Real processes started by the devnet code, real LevelDB, real BLS certificates, real encrypted
peer links; the council's transaction goes through the CLI as an operator would send it.
"""

import json
import os
from collections.abc import Iterator

import pytest

from chain.genesis_state import COUNCIL_ADDRESS
from chain.staking.validators import decode_validator_set, validator_set_hash
from devnet import network
from node.api.client import NodeClient
from node.keystore import DEVNET_PASSPHRASE
from tests.kit.netkit import (
    Net,
    assert_same_headers,
    committed,
    names,
    running_net,
    signers_of_commit,
    wait_until,
)
from tests.kit.support import as_json, gridchain, transfer

pytestmark = pytest.mark.slow

PARAMS = {"block_interval_ms": 200, "empty_block_interval_ms": 1000}
FOUNDERS = names(0, 1, 2, 3)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with running_net(tmp_path_factory.mktemp("council") / "devnet", 4, PARAMS) as net:
        yield net


def cli_env(net: Net) -> dict[str, str]:
    """The environment an operator of this devnet works in."""
    return {
        **os.environ,
        "GRIDCHAIN_KEYSTORE": str(net.directory / "keys"),
        "GRIDCHAIN_PASSPHRASE": DEVNET_PASSPHRASE,
        "GRIDCHAIN_NODE": net.clients["node0"].url,
    }


def test_the_council_adds_a_fifth_validator_that_then_signs(net: Net) -> None:
    env = cli_env(net)
    fund = transfer(net.alice, COUNCIL_ADDRESS, 1_000, net.nonce, chain_id=network.CHAIN_ID)
    net.clients["node0"].submit_tx(fund.encoded)
    net.nonce += 1
    wait_until(lambda: committed(net, "node0", [fund.id.hex()]), 60, "the council's fees")

    # The devnet's council is a real 2-of-3 multisig of keys in its keystore.
    status = as_json(gridchain("devnet", "status", "--dir", str(net.directory), "--json", env=env))
    council = status["council"]
    assert council["members"] == ["council1", "council2", "council3"]
    assert council["threshold"] == 2 and council["account"] == str(COUNCIL_ADDRESS)

    joined = as_json(gridchain("devnet", "join", "--dir", str(net.directory), "--json", env=env))
    assert joined["node"] == "node4"
    newcomer = joined["validator_spec"].split(":")[0]
    add = [
        "tx",
        "validator-add",
        f"{joined['validator_spec']}:{network.VALIDATOR_BLOCKSTAKE}:node4",
    ]
    one = gridchain(*add, "--signer", "council1", "--json", env=env, check=False)
    assert one.returncode == 1, one.stdout
    assert json.loads(one.stdout)["error"]["code"] == "policy_not_satisfied"
    two = ["--signer", "council1", "--signer", "council2"]
    added = as_json(gridchain(*add, *two, "--wait", "--json", env=env))
    decided = added["block"]["height"]
    assert added["effective_height"] == decided + 2

    network.start_node(net.directory, "node4")
    net.clients["node4"] = NodeClient(joined["api"], timeout=5)
    everyone = [*FOUNDERS, "node4"]

    # The header after the decision names the five as its next set; they sign from decided + 2.
    node0 = net.clients["node0"]
    wait_until(lambda: net.height("node0") >= decided + 2, 60, "two blocks after the decision")
    header = node0.block(decided + 1)["header"]
    assert node0.block(decided)["header"]["next_validators_hash"] == header["validators_hash"]
    five = node0.get(f"/v1/validator-sets/{header['next_validators_hash']}")
    vset = decode_validator_set(bytes.fromhex(five["encoded"]))
    assert validator_set_hash(vset).hex() == header["next_validators_hash"]
    assert newcomer in {v.public_key.hex() for v in vset.validators}

    wait_until(lambda: net.height("node4") >= decided + 2, 90, "node4 to catch up")
    ids = net.send("node0", 5)
    wait_until(lambda: committed(net, "node4", ids), 60, "transfers on node4")
    wait_until(
        lambda: any(
            newcomer in signers_of_commit(net, "node0", h)
            for h in range(decided + 2, net.height("node0"))
        ),
        60,
        "node4's precommit in a certificate",
    )
    assert net.clients["node4"].status()["consensus"]["validator"] is True
    assert_same_headers(net, everyone, min(net.heights(everyone).values()))

    # A light client holding only the genesis file follows the change, the newcomer's node
    # as a witness.
    light = net.directory / "light"
    genesis = str(net.directory / "genesis.json")
    gridchain("light", "init", "--genesis", genesis, "--home", str(light), env=env)
    synced = as_json(
        gridchain(
            "light",
            "sync",
            "--node",
            node0.url,
            "--witness",
            net.clients["node4"].url,
            "--home",
            str(light),
            "--json",
            env=env,
        )
    )
    assert synced["trusted_height"] >= decided + 2
    assert synced["witnesses"] == [
        {"url": net.clients["node4"].url, "status": "agrees", "detail": ""}
    ]

    # The council changes the newcomer's stake; an audit proof of that decision, taken from a
    # node, verifies with nothing but the genesis file, through both changes of the set.
    # Signed without a shared machine: council2 writes the transaction, council3 signs a copy,
    # the files are combined and sent.
    files = net.directory / "offline"
    files.mkdir()
    stake = ["tx", "validator-stake", newcomer, "2000", "--signer", "council2"]
    gridchain(*stake, "--out", str(files / "by2.json"), env=env)
    alone = gridchain("tx", "send", str(files / "by2.json"), "--json", env=env, check=False)
    assert json.loads(alone.stdout)["error"]["code"] == "policy_not_satisfied"
    by3 = files / "by3.json"
    gridchain(
        "tx", "sign", str(files / "by2.json"), "--key", "council3", "--out", str(by3), env=env
    )
    both = files / "both.json"
    gridchain("tx", "combine", str(files / "by2.json"), str(by3), "--out", str(both), env=env)
    restaked = as_json(gridchain("tx", "send", str(both), "--wait", "--json", env=env))
    entries = node0.audit_entries(0, 1000, str(COUNCIL_ADDRESS))["entries"]
    decision = entries[-1]
    assert decision["topic"] == "validator_change_decided"
    assert decision["height"] == restaked["block"]["height"]
    bundle = net.directory / "proof.json"
    gridchain("audit", "proof", str(decision["index"]), "--out", str(bundle), env=env)
    verified = as_json(
        gridchain("audit", "verify", str(bundle), "--genesis", genesis, "--json", env=env)
    )
    assert verified["ok"] and verified["height"] > decided + 2
    assert verified["finality"]["heights_verified"][-1] == verified["height"]

    # An account read through the light client: its proof's block verified from genesis.
    council = as_json(
        gridchain("query", "account", str(COUNCIL_ADDRESS), "--light-home", str(light), "--json",
                  env=env)
    )  # fmt: skip
    assert council["verified"]["finality"] == "light client"
