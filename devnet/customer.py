"""A devnet's customer, as the benches and the chaos harness play it: alice signing her own
calls against one validator (fees from its status, nonces counted here), her workloads with her
as their one signer (1 of 1), and a small web page as the workload.
"""

import contextlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from chain.address import key_address
from chain.encoding import decode
from chain.keys import KeyPair
from chain.ledger.transactions import Call, Payload, TxBody, sign_tx
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from devnet.processes import DevnetError
from node.api.client import ApiError, NodeClient

GAS = 300_000
PORT = 8080
DEPOSIT = 1_000_000  # ~40 billing periods of one replica at the devnet's prices
POLL = 0.02  # seconds between looks at the chain while waiting for a transaction
AUDIT_PAGE = 500


def web_spec(name: str, subdomain: str, page: str, countries: Sequence[str] = ()) -> dict[str, Any]:
    """A web workload on the node's own system: `python3 -m http.server` serving `page`
    behind the gateway name `subdomain`; with `countries`, placed only on nodes there."""
    placement: dict[str, Any] = {"replicas": 1}
    if countries:
        placement["countries"] = sorted(countries)  # the spec wants them sorted
    return {
        "name": name,
        "workloads": [
            {
                "type": "container",
                "name": "site",
                "image": "host",
                "cpu": 1,
                "memory_mb": 128,
                "entrypoint": f"sh -c 'echo {page} > /tmp/index.html && cd /tmp && "
                f"exec python3 -m http.server {PORT}'",
                "ports": [PORT],
            },
            {"type": "gateway_name", "name": "web", "subdomain": subdomain,
             "backends": [f"site:{PORT}"]},
        ],
        "placement": placement,
        "budget": DEPOSIT,
        "expiry_blocks": 600,
    }  # fmt: skip


@dataclass
class Sender:
    """Alice's calls, signed here and sent to one validator."""

    client: NodeClient
    key: KeyPair
    chain_id: str
    fee: int
    nonce: int

    @classmethod
    def open(cls, client: NodeClient, key: KeyPair) -> "Sender":
        status = client.status()
        fees = status.get("fees") or {}
        fee = int(fees.get("min_fee", 1)) + GAS * int(fees.get("gas_price", 1))
        nonce = int(client.account(str(key_address(key.public_key)))["next_nonce"])
        return cls(client, key, str(status["chain_id"]), fee, nonce)

    def send(self, payload: Payload) -> str:
        body = TxBody(
            self.chain_id, key_address(self.key.public_key), self.nonce, self.fee, payload
        )
        signed = sign_tx(body, [self.key])
        self.client.submit_tx(signed.encoded)
        self.nonce += 1
        return signed.id.hex()

    def committed(self, tx_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The transaction's view once committed; its receipt must say ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ApiError):
                view = self.client.tx(tx_id)
                if view.get("status") == "committed":
                    receipt = view.get("receipt") or {}
                    if receipt.get("status", "ok") != "ok":
                        raise DevnetError(f"transaction {tx_id}: {receipt.get('message')}")
                    return view
                if view.get("status") == "rejected":
                    raise DevnetError(f"transaction {tx_id} was refused: {view.get('error')}")
            time.sleep(POLL)
        raise DevnetError(f"transaction {tx_id} not committed within {timeout:g} s")


@dataclass
class Owner:
    """Alice as the one signer (1 of 1) of her workloads on the workload contract."""

    sender: Sender

    @property
    def client(self) -> NodeClient:
        return self.sender.client

    def submit(self, specs: Sequence[dict[str, Any]], deposit: int = DEPOSIT) -> list[int]:
        """Every spec submitted with `deposit` (pending: nothing is placed before its
        authorization), sent together and then waited for; their workload ids in order."""
        owner = make_requirement([RequiredSigner(self.sender.key.public_key, 1, False)], 1)
        requirement = encode_requirement(owner)
        height = int(self.client.status()["height"])
        sent = []
        for spec in specs:
            data = spec_bytes(load_spec(spec))
            args = (data, requirement, height + 10_000)
            sent.append(self.sender.send(Call(workload_address(), "submit", args, deposit, GAS)))
        return [int(self.sender.committed(tx_id)["receipt"]["return_value"]) for tx_id in sent]

    def approve(self, wid: int) -> int:
        """Alice's signature, which authorizes it: the height of the authorizing block."""
        contract = workload_address()
        spec = self.query("spec_of", wid)
        requirement = self.query("requirement_of", wid)
        signature = self.sender.key.sign(signing_hash(contract, wid, 1, spec, requirement))
        args = (wid, self.sender.key.public_key, signature)
        view = self.sender.committed(self.sender.send(Call(contract, "approve", args, 0, GAS)))
        if view["receipt"].get("return_value") != "authorized":
            raise DevnetError(f"workload {wid} is {view['receipt'].get('return_value')}")
        return int(view["block"]["height"])

    def cancel(self, wid: int) -> int:
        """The height of the block that cancels it."""
        call = Call(workload_address(), "cancel", (wid,), 0, GAS)
        view = self.sender.committed(self.sender.send(call))
        return int(view["block"]["height"])

    def query(self, function: str, wid: int) -> bytes:
        answer = self.client.query(str(workload_address()), function, [wid], None)
        return bytes.fromhex(answer["value"]["hex"])

    def deployment(self, wid: int) -> dict[str, Any]:
        return self.client.deployment(str(workload_address()), wid)


@dataclass(frozen=True)
class Event:
    """An audit entry of a deployment step (chain/deployment/journal.py): its topic, its
    block and its fields."""

    topic: str
    height: int
    data: dict[str, Any]


def deployment_events(
    client: NodeClient, wids: Collection[int], topics: Collection[str]
) -> list[Event]:
    """Every entry of the workload contract's audit log with one of `topics` about one of
    `wids`, in log order."""
    contract = str(workload_address())
    wanted, start = set(wids), 0
    found: list[Event] = []
    while True:
        entries = client.audit_entries(start, AUDIT_PAGE, contract)["entries"]
        for entry in entries:
            if entry["topic"] not in topics:
                continue  # before decoding: the contract's own events are not CBOR maps
            data = decode(bytes.fromhex(entry["data"]))
            if isinstance(data, dict) and data.get("wid") in wanted:
                found.append(Event(entry["topic"], int(entry["height"]), data))
        if len(entries) < AUDIT_PAGE:
            return found
        start = int(entries[-1]["index"]) + 1  # positions in the whole log
