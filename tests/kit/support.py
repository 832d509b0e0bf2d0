"""Shared test helpers: real genesis files, real keys, real node processes on loopback."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chain.address import Address, key_address
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.transactions import Call, SignedTx, Transfer, TxBody, sign_tx
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from devnet.processes import free_port
from genesis.schema import genesis_document, parse_genesis, validator_document
from node.api.client import ApiError, NodeClient
from node.config import Home, NodeConfig, write_config, write_validator_key

CHAIN_ID = "gridchain-test"


def dev_key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"test-key/" + name.encode()))


def addr(k: KeyPair) -> Address:
    return key_address(k.public_key)


@dataclass
class NodeHome:
    home: Home
    validator: KeyPair
    alice: KeyPair
    bob: KeyPair
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alice_address(self) -> Address:
        return key_address(self.alice.public_key)

    @property
    def bob_address(self) -> Address:
        return key_address(self.bob.public_key)


def make_home(
    root: Path,
    params: dict[str, int] | None = None,
    port: int | None = None,
    validator_key: str = "validator",
) -> NodeHome:
    validator, alice, bob = dev_key(validator_key), dev_key("alice"), dev_key("bob")
    doc = genesis_document(
        CHAIN_ID,
        datetime(2026, 1, 1, tzinfo=UTC),
        [validator_document(validator, 100, "v0")],
        {"signers": [{"public_key": alice.public_key.hex(), "weight": 1}], "threshold": 1},
        [
            {"address": str(key_address(alice.public_key)), "amount": 10**12},
            {"address": str(key_address(bob.public_key)), "amount": 1000},
        ],
        {"block_interval_ms": 100, "empty_block_interval_ms": 1000, **(params or {})},
    )
    parse_genesis(doc)
    home = Home(root)
    home.genesis_file.parent.mkdir(parents=True, exist_ok=True)
    home.genesis_file.write_text(json.dumps(doc, indent=2))
    write_validator_key(home, validator)
    port = port or free_port()
    write_config(home, NodeConfig(api_port=port, p2p_port=free_port(), verify_workers=1))
    return NodeHome(home, validator, alice, bob, port)


def funded_home(root: Path, funded: Iterable[str], params: dict[str, int]) -> NodeHome:
    """A one-validator node home whose genesis gives each address in `funded` 10**12 (the
    validator is the council too), for tests whose accounts are made by the CLI."""
    validator = dev_key("validator")
    doc = genesis_document(
        CHAIN_ID,
        datetime(2026, 1, 1, tzinfo=UTC),
        [validator_document(validator, 100, "v0")],
        {"signers": [{"public_key": validator.public_key.hex(), "weight": 1}], "threshold": 1},
        [{"address": a, "amount": 10**12} for a in funded],
        params,
    )
    parse_genesis(doc)
    home = Home(root)
    home.genesis_file.parent.mkdir(parents=True, exist_ok=True)
    home.genesis_file.write_text(json.dumps(doc))
    write_validator_key(home, validator)
    port = free_port()
    write_config(home, NodeConfig(api_port=port, p2p_port=free_port(), verify_workers=1))
    return NodeHome(home, validator, validator, validator, port)


def transfer(
    sender: KeyPair, to: Address, amount: int, nonce: int, fee: int = 1, chain_id: str = CHAIN_ID
) -> SignedTx:
    body = TxBody(chain_id, key_address(sender.public_key), nonce, fee, Transfer(to, amount))
    return sign_tx(body, [sender])


AUDIT_REQUEST_GAS = 2_000_000


def audit_request(sender: KeyPair, nonce: int, tag: int, chain_id: str = CHAIN_ID) -> SignedTx:
    """A workload submission: one `request` entry in the audit log. `tag` is the spec's budget,
    so requests with different tags make different entries (and different logs)."""
    workload = {"type": "container", "name": "web", "image": "host", "cpu": 1, "memory_mb": 64}
    spec = spec_bytes(load_spec({"name": "web", "workloads": [workload], "budget": tag}))
    requirement = encode_requirement(make_requirement([RequiredSigner(sender.public_key)], 1))
    call = Call(workload_address(), "submit", (spec, requirement, 2**40), 0, AUDIT_REQUEST_GAS)
    fee = 1 + AUDIT_REQUEST_GAS  # min_fee + gas * gas_price of the default parameters
    body = TxBody(chain_id, key_address(sender.public_key), nonce, fee, call)
    return sign_tx(body, [sender])


def gridchain(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`gridchain ARGS` in a subprocess, as a user types it; fails the test on an error
    unless `check` is False."""
    result = subprocess.run(
        [sys.executable, "-m", "node", *args], env=env, capture_output=True, text=True, timeout=180
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"gridchain {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def http(url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, JSON body) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class NodeProcess:
    """A real `gridchain node run` process."""

    def __init__(self, th: NodeHome) -> None:
        self.th = th
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        log = open(self.th.home.log_file, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node", "node", "run", "--home", str(self.th.home.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited:\n{self.th.home.log_file.read_text()[-3000:]}")
            try:
                status, _ = http(self.th.url + "/v1/status", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("node did not answer in time")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def status(self) -> dict[str, Any]:
        code, body = http(self.th.url + "/v1/status")
        assert code == 200, body
        result: dict[str, Any] = body
        return result


class Load(threading.Thread):
    """Batches of transfers from one sender to random live nodes until stopped.

    Each batch takes the sender's committed nonce from the node it goes to; refusals (a node
    down, catching up, a nonce already pending) are expected under faults and only counted.
    """

    def __init__(self, urls: list[str], sender: KeyPair, chain_id: str, batch: int = 300) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.sender = sender
        self.chain_id = chain_id
        self.batch = batch
        self.stop_event = threading.Event()
        self.recipients = [key_address(bytes([i + 1]) * 32) for i in range(50)]
        self.accepted = 0

    def run(self) -> None:
        rng = random.Random(1)
        address = key_address(self.sender.public_key)
        while not self.stop_event.is_set():
            client = NodeClient(rng.choice(self.urls), timeout=5)
            try:
                nonce = int(client.account(str(address))["nonce"])
                txs = [
                    transfer(
                        self.sender,
                        rng.choice(self.recipients),
                        1 + rng.randrange(9),
                        nonce + i,
                        chain_id=self.chain_id,
                    ).encoded.hex()
                    for i in range(self.batch)
                ]
                answer = client.post("/v1/txs/batch", {"txs": txs})
                self.accepted += int(answer.get("accepted", 0))
            except (ApiError, OSError, KeyError, ValueError):
                pass  # the node is down, restarting or refusing: try another
            time.sleep(0.05)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)


def signature_workers(pgid: int) -> list[int]:
    """The fork server and signature workers in a node's process group (from /proc)."""
    from devnet.processes import group_members

    found = []
    for pid in group_members(pgid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.forkserver" in cmdline:
            found.append(pid)
    return found
