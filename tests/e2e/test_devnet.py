"""The README's path, end to end: real CLI commands, a real node process, real LevelDB.

`gridchain devnet up` starts a node; `tx transfer --wait` lands in a block; `query account`
verifies the account's state proof against that block's state root; bad transactions are
refused with clear errors and change nothing; `devnet down` stops it and `up` resumes the chain.
"""

import os
from pathlib import Path
from typing import Any

import pytest

from tests.kit.support import as_json, free_port, gridchain


@pytest.fixture
def devnet(tmp_path: Path) -> Any:
    directory = tmp_path / "devnet"
    port = free_port()
    env = {
        **os.environ,
        "GRIDCHAIN_KEYSTORE": str(directory / "keys"),
        "GRIDCHAIN_PASSPHRASE": "gridchain-devnet",
        "GRIDCHAIN_NODE": f"http://127.0.0.1:{port}",
    }
    up = as_json(
        gridchain(
            "devnet", "up", "--dir", str(directory), "--base-port", str(port), "--json", env=env
        )
    )
    try:
        yield directory, port, env, up
    finally:
        gridchain("devnet", "down", "--dir", str(directory), "--json", env=env, check=False)


def test_transfer_with_the_cli_lands_and_its_proof_verifies(devnet: Any) -> None:
    directory, _, env, _ = devnet
    keys = {k["name"]: k for k in as_json(gridchain("keys", "list", "--json", env=env))["keys"]}
    alice, bob = keys["alice"]["address"], keys["bob"]["address"]
    before = as_json(gridchain("query", "account", bob, "--json", env=env))

    sent = as_json(
        gridchain(
            "tx",
            "transfer",
            "--from",
            "alice",
            "--to",
            bob,
            "--amount",
            "1234",
            "--wait",
            "--json",
            env=env,
        )
    )
    assert sent["status"] == "committed"
    height = sent["block"]["height"]
    assert height >= 1

    after = as_json(gridchain("query", "account", bob, "--json", env=env))
    assert after["balance"] == before["balance"] + 1234
    proven = after["verified"]  # the CLI checked the proof against this block's state root
    assert proven["height"] >= height and proven["state_root"] == after["state_root"]
    tx = as_json(gridchain("query", "tx", sent["id"], "--json", env=env))
    assert tx["status"] == "committed" and tx["block"]["height"] == height
    block = as_json(gridchain("query", "block", str(height), "--json", env=env))
    assert sent["id"] in [t["id"] for t in block["txs"]]

    mistyped = bob[:-1] + ("1" if bob.endswith("0") else "0")  # one character off
    # An over-spend is refused with a clear error and changes nothing.
    alice_before = as_json(gridchain("query", "account", alice, "--json", env=env))
    refused = gridchain(
        "tx",
        "transfer",
        "--from",
        "bob",
        "--to",
        alice,
        "--amount",
        str(10**15),
        "--json",
        env=env,
        check=False,
    )
    assert refused.returncode != 0
    assert as_json(refused)["error"]["code"] == "insufficient_balance"
    refused = gridchain(
        "tx",
        "transfer",
        "--from",
        "alice",
        "--to",
        mistyped,
        "--amount",
        "1",
        env=env,
        check=False,
    )
    assert refused.returncode != 0 and "checksum" in refused.stderr
    assert (
        as_json(gridchain("query", "account", alice, "--json", env=env))["balance"]
        == (alice_before["balance"])
    )

    status = as_json(gridchain("devnet", "status", "--dir", str(directory), "--json", env=env))
    assert status["nodes"][0]["height"] >= height


def test_devnet_down_and_up_resumes_the_chain(devnet: Any) -> None:
    directory, port, env, _ = devnet
    keys = {k["name"]: k for k in as_json(gridchain("keys", "list", "--json", env=env))["keys"]}
    sent = as_json(
        gridchain(
            "tx",
            "transfer",
            "--from",
            "alice",
            "--to",
            keys["bob"]["address"],
            "--amount",
            "7",
            "--wait",
            "--json",
            env=env,
        )
    )
    gridchain("devnet", "down", "--dir", str(directory), env=env)
    unreachable = gridchain("status", "--json", env=env, check=False)
    assert unreachable.returncode != 0
    gridchain("devnet", "up", "--dir", str(directory), "--base-port", str(port), env=env)
    status = as_json(gridchain("status", "--json", env=env))
    assert status["height"] >= sent["block"]["height"]
    tx = as_json(gridchain("query", "tx", sent["id"], "--json", env=env))
    assert tx["status"] == "committed"
