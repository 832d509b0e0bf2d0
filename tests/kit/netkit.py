"""A devnet of validator processes for tests: start it, send load, wait, compare headers.

Real processes started by the devnet code, real LevelDB, real signatures, real encrypted peer
links; the helpers only read the nodes' HTTP APIs.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.address import Address, parse_address
from chain.keys import KeyPair
from devnet import network
from node.api.client import ApiError, NodeClient
from node.keystore import DEVNET_PASSPHRASE, Keystore
from tests.kit.support import transfer

CHAIN_ID = network.CHAIN_ID


@dataclass
class Net:
    directory: Path
    clients: dict[str, NodeClient]
    alice: KeyPair
    bob: Address
    nonce: int = 0

    def height(self, name: str) -> int:
        return int(self.clients[name].status()["height"])

    def heights(self, names: list[str]) -> dict[str, int]:
        return {name: self.height(name) for name in names}

    def send(self, via: str, count: int) -> list[str]:
        """Transfers from alice, all through one node so nonces arrive in order."""
        ids = []
        for _ in range(count):
            tx = transfer(self.alice, self.bob, 1, self.nonce, chain_id=CHAIN_ID)
            self.clients[via].submit_tx(tx.encoded)
            self.nonce += 1
            ids.append(tx.id.hex())
        return ids

    def pid(self, name: str) -> int:
        devnet = network.load_devnet(self.directory)
        assert devnet is not None
        pid = next(n.pid for n in devnet.nodes if n.name == name)
        assert pid is not None, f"{name} is not running"
        return pid

    def validators(self, via: str) -> dict[str, Any]:
        view: dict[str, Any] = self.clients[via].get("/v1/validators")
        return view


@contextmanager
def running_net(directory: Path, validators: int, params: dict[str, int]) -> Iterator[Net]:
    """A devnet of `validators` nodes in `directory`, brought down (whole process groups) after."""
    base = network.free_base_port(validators)
    result = network.up(directory, validators, base, params=params)
    try:
        store = Keystore(directory / "keys")
        alice = store.load("alice", DEVNET_PASSPHRASE)
        bob = parse_address(result.devnet.accounts["bob"])
        clients = {n.name: NodeClient(n.api, timeout=5) for n in result.devnet.nodes}
        yield Net(directory, clients, alice, bob)
    finally:
        network.down(directory)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ApiError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def names(*indexes: int) -> list[str]:
    return [f"node{i}" for i in indexes]


def committed(net: Net, name: str, tx_ids: list[str]) -> bool:
    return all(net.clients[name].tx(t)["status"] == "committed" for t in tx_ids)


def assert_same_headers(net: Net, nodes: list[str], up_to: int, start: int = 1) -> None:
    for height in range(start, up_to + 1):
        hashes = {name: net.clients[name].block(height)["header"]["hash"] for name in nodes}
        assert len(set(hashes.values())) == 1, f"fork at height {height}: {hashes}"


def signers_of_commit(net: Net, name: str, height: int) -> set[str]:
    """Validators whose precommit for `height` is in block height + 1."""
    block = net.clients[name].block(height + 1)
    return set(block["last_commit"]["validators"])


def validator_key(net: Net, name: str) -> str:
    return str(net.clients[name].status()["validator"])
