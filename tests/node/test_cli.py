"""The `gridchain` command line without a running node: keys, genesis files, errors, --help."""

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from chain.genesis_state import genesis_hash
from chain.keys import WrongPassphrase
from genesis.schema import load_genesis
from node.cli.main import cli
from node.config import Home, load_config, load_validator_key
from node.keystore import KeyExists, Keystore

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user keystore, node or devnet leaks in; every test runs in its own directory."""
    for name in ("GRIDCHAIN_KEYSTORE", "GRIDCHAIN_PASSPHRASE", "GRIDCHAIN_NODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDCHAIN_PASSPHRASE", PASSPHRASE)
    return tmp_path / "keys"


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


def new_key(keystore: Path, name: str) -> dict[str, str]:
    info: dict[str, str] = run_json("keys", "new", name, "--keystore", str(keystore))
    return info


# keys


def test_keys_new_list_show(keystore: Path) -> None:
    alice = new_key(keystore, "alice")
    bob = new_key(keystore, "bob")
    assert alice["name"] == "alice" and len(alice["address"]) == 78
    key_file = keystore / "alice.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    body = json.loads(key_file.read_text())
    assert body["address"] == alice["address"] and PASSPHRASE not in key_file.read_text()

    listed = run_json("keys", "list", "--keystore", str(keystore))
    assert [k["name"] for k in listed["keys"]] == ["alice", "bob"]
    assert listed["keys"][1]["address"] == bob["address"]
    assert run_json("keys", "show", "bob", "--keystore", str(keystore)) == bob

    text = run("keys", "list", "--keystore", str(keystore)).stdout
    assert alice["address"] in text and bob["address"] in text
    key = Keystore(keystore).load("alice", PASSPHRASE)
    assert key.public_key.hex() == alice["public_key"]


def test_keystore_from_env(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCHAIN_KEYSTORE", str(keystore))
    run("keys", "new", "carol")
    assert (keystore / "carol.json").exists()
    assert "carol" in run("keys", "list").stdout


def test_passphrase_file_wins_over_env(keystore: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("from-the-file\n")
    run("keys", "new", "dave", "--keystore", str(keystore), "--passphrase-file", str(secret))
    assert Keystore(keystore).load("dave", "from-the-file").public_key
    with pytest.raises(WrongPassphrase):
        Keystore(keystore).load("dave", PASSPHRASE)


def test_keys_refuses_existing_and_bad_names(keystore: Path) -> None:
    new_key(keystore, "alice")
    before = (keystore / "alice.json").read_text()
    error = run_json("keys", "new", "alice", "--keystore", str(keystore), code=1)["error"]
    assert error["code"] == "key_exists" and "alice" in error["message"]
    assert (keystore / "alice.json").read_text() == before
    with pytest.raises(KeyExists):
        Keystore(keystore).new("alice", PASSPHRASE)

    for bad in ("../escape", "with space", "x" * 65, ""):
        result = run("keys", "new", bad, "--keystore", str(keystore), code=1)
        assert "key name" in result.stderr and "Traceback" not in result.output
    result = run("keys", "show", "nobody", "--keystore", str(keystore), code=1)
    assert "no key named 'nobody'" in result.stderr


def test_no_passphrase_without_terminal(tmp_path: Path) -> None:
    result = run("keys", "new", "alice", "--keystore", str(tmp_path / "keys"), code=1)
    assert "GRIDCHAIN_PASSPHRASE" in result.stderr
    assert not (tmp_path / "keys" / "alice.json").exists()


def test_wrong_passphrase(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = new_key(keystore, "alice")
    with pytest.raises(WrongPassphrase, match="alice"):
        Keystore(keystore).load("alice", "not it")
    # The CLI checks the passphrase before it talks to any node.
    monkeypatch.setenv("GRIDCHAIN_PASSPHRASE", "not it")
    args = ["tx", "transfer", "--keystore", str(keystore), "--from", "alice"]
    args += ["--to", alice["address"], "--amount", "5", "--node", "http://127.0.0.1:9"]
    result = run(*args, code=1)
    assert "wrong passphrase for key 'alice'" in result.stderr
    assert "Traceback" not in result.output
    error = run_json(*args, code=1)["error"]
    assert error["code"] == "wrong_passphrase"


# genesis


def make_genesis(keystore: Path, out: Path, *extra: str) -> dict[str, Any]:
    validator = run_json("node", "init", "--home", str(out.parent / "validator-home"))
    alice = new_key(keystore, "alice")
    council = new_key(keystore, "council")
    info: dict[str, Any] = run_json(
        "genesis",
        "new",
        "-o",
        str(out),
        "--chain-id",
        "test-chain",
        "--validator",
        f"{validator['validator_spec']}:10:v0",
        "--balance",
        f"{alice['address']}:1_000_000",
        "--council",
        f"{council['public_key']}:2:required",
        "--genesis-time",
        "2025-01-02T03:04:05Z",
        "--param",
        "block_interval_ms=500",
        *extra,
    )
    return info


def test_genesis_new_validate_round_trip(keystore: Path, tmp_path: Path) -> None:
    out = tmp_path / "genesis.json"
    info = make_genesis(keystore, out)
    state = load_genesis(out)
    assert info["chain_id"] == "test-chain" == state.chain_id
    assert info["genesis_hash"] == genesis_hash(state).hex()
    assert state.council.threshold == 2  # the default: the council's total weight
    assert state.params.block_interval_ms == 500
    assert state.balances[0][1] == 1_000_000

    checked = run_json("genesis", "validate", str(out))
    assert checked["valid"] is True and checked["genesis_hash"] == info["genesis_hash"]
    text = run("genesis", "validate", str(out)).stdout
    assert "OK" in text and info["genesis_hash"] in text

    error = run_json("genesis", "new", "-o", str(out), "--chain-id", "x", code=1)["error"]
    assert "--validator" in error["message"]


def test_genesis_new_refuses_to_overwrite(keystore: Path, tmp_path: Path) -> None:
    out = tmp_path / "genesis.json"
    make_genesis(keystore, out)
    before = out.read_text()
    pubkey = Keystore(keystore).show("alice").public_key
    spec = run_json("node", "show-validator", "--home", str(tmp_path / "validator-home"))
    args = ["genesis", "new", "-o", str(out), "--chain-id", "other"]
    args += ["--validator", f"{spec['validator_spec']}:1", "--council", f"{pubkey}:1"]
    assert run_json(*args, code=1)["error"]["code"] == "file_exists"
    assert out.read_text() == before
    assert run_json(*args, "--force")["chain_id"] == "other"


def test_genesis_new_reports_fields(keystore: Path, tmp_path: Path) -> None:
    pubkey = new_key(keystore, "v")["public_key"]
    args = ["genesis", "new", "-o", str(tmp_path / "g.json"), "--chain-id", "Bad Id"]
    args += ["--validator", f"abcd:ab:{'00' * 96}:1", "--council", f"{pubkey}:1"]
    error = run_json(*args, code=1)["error"]
    fields = {f["field"] for f in error["fields"]}
    assert {"chain_id", "validators.0.public_key", "validators.0.bls_key"} <= fields
    assert not (tmp_path / "g.json").exists()
    result = run(*args, code=1)
    assert "chain_id:" in result.stderr and "validators.0.public_key:" in result.stderr


@pytest.fixture
def genesis_doc(keystore: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "base.json"
    make_genesis(keystore, out)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def validate_broken(tmp_path: Path, text: str) -> tuple[Result, dict[str, Any]]:
    path = tmp_path / "broken.json"
    path.write_text(text)
    result = run("genesis", "validate", str(path), code=1)
    assert "Traceback" not in result.output and result.stdout == ""
    error: dict[str, Any] = run_json("genesis", "validate", str(path), code=1)["error"]
    assert error["code"] == "invalid_genesis"
    return result, error


def test_genesis_validate_bad_json(tmp_path: Path) -> None:
    result, error = validate_broken(tmp_path, '{"chain_id": "x",')
    assert "not JSON" in result.stderr and "not JSON" in error["message"]


def test_genesis_validate_missing_field(tmp_path: Path, genesis_doc: dict[str, Any]) -> None:
    del genesis_doc["chain_id"]
    del genesis_doc["validators"][0]["blockstake"]
    result, error = validate_broken(tmp_path, json.dumps(genesis_doc))
    assert "chain_id:" in result.stderr and "validators.0.blockstake:" in result.stderr
    fields = {f["field"] for f in error["fields"]}
    assert {"chain_id", "validators.0.blockstake"} <= fields


def test_genesis_validate_bad_checksum(tmp_path: Path, genesis_doc: dict[str, Any]) -> None:
    address = genesis_doc["balances"][0]["address"]
    genesis_doc["balances"][0]["address"] = address[:-1] + ("0" if address[-1] != "0" else "1")
    result, error = validate_broken(tmp_path, json.dumps(genesis_doc))
    assert "balances.0.address:" in result.stderr and "checksum" in result.stderr
    assert error["fields"][0]["field"] == "balances.0.address"


def test_genesis_validate_threshold_too_high(tmp_path: Path, genesis_doc: dict[str, Any]) -> None:
    genesis_doc["council"]["threshold"] = 3  # the one signer weighs 2
    result, error = validate_broken(tmp_path, json.dumps(genesis_doc))
    assert "council:" in result.stderr and "threshold 3" in result.stderr
    assert error["fields"][0]["field"] == "council"


def test_genesis_validate_unreadable(tmp_path: Path) -> None:
    error = run_json("genesis", "validate", str(tmp_path / "missing.json"), code=1)["error"]
    assert "cannot read" in error["message"]


# node init (no node is started here)


def test_node_init(keystore: Path, tmp_path: Path) -> None:
    genesis_file = tmp_path / "genesis.json"
    make_genesis(keystore, genesis_file)
    home = tmp_path / "home"
    info = run_json(
        "node", "init", "--home", str(home), "--genesis", str(genesis_file), "--api-port", "27999"
    )
    assert info["created_key"] is True and info["in_validator_set"] is False
    node_home = Home(home)
    assert load_config(node_home).api_port == 27999
    assert node_home.genesis_file.read_text() == genesis_file.read_text()
    key = load_validator_key(node_home)
    assert stat.S_IMODE(node_home.validator_key_file.stat().st_mode) == 0o600

    again = run_json("node", "init", "--home", str(home), "--genesis", str(genesis_file))
    assert again["created_key"] is False and again["api_port"] == 27999
    assert load_validator_key(node_home) == key
    shown = run_json("node", "show-validator", "--home", str(home))
    assert shown["public_key"] == key.public_key.hex()


# errors and help


def test_unreachable_node() -> None:
    result = run("status", "--node", "http://127.0.0.1:9", code=1)
    assert "cannot reach node at http://127.0.0.1:9" in result.stderr
    error = run_json("status", "--node", "http://127.0.0.1:9", code=1)["error"]
    assert error["code"] == "node_unreachable"
    assert run_json("status", "--node", "not-a-url", code=1)["error"]["code"] == "bad_url"


def test_bad_arguments_are_clean() -> None:
    error = run_json("query", "tx", "xyz", "--node", "http://127.0.0.1:9", code=1)["error"]
    assert "64 hex" in error["message"]
    result = run("query", "account", "01abc", "--node", "http://127.0.0.1:9", code=1)
    assert "78" in result.stderr
    error = run_json("devnet", "up", "--validators", "99", code=1)["error"]
    assert "the devnet runs 1 to 32" in error["message"]
    usage = run_json("tx", "transfer", "--amount", "zero", code=2)["error"]
    assert usage["code"] == "usage_error"
    assert "Usage" in run("keys", "nope", code=2).stderr


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


def test_every_command_has_help_and_json() -> None:
    paths = list(walk(cli))
    assert ("devnet", "up") in paths and ("query", "account") in paths
    for path in paths:
        result = run(*path, "--help")
        assert "Usage" in result.stdout, path
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        if not isinstance(command, click.Group):
            assert "--json" in result.stdout, path
