"""The customers: senders that keep one transfer each in flight through whatever node answers.

Each sender signs a transfer with its next nonce and offers it to the validators in a random
order until one accepts it (202) or refuses it by a rule; then it asks the validators about it
until one says it is committed or rejected (with a reason), and goes on with the next nonce.
It never sends a transaction again once a node accepted it: the harness holds the node to what
it accepted, so a transaction that is lost stays lost (and its sender stuck on that nonce).

An offer whose answer did not come (the node paused or cut off mid-request) is not counted as
accepted; the sender offers the same bytes elsewhere, which is harmless: one id.
"""

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chain.address import key_address
from chain.keys import KeyPair, generate_keypair
from chain.ledger.transactions import Transfer, TxBody, sign_tx
from devnet.customer import Sender
from node.api.client import BUSY_CODES, ApiError, NodeClient, NodeUnreachable

REQUEST_TIMEOUT = 2.0
POLL = 0.3
FUNDS = 10_000_000


@dataclass
class Outcome:
    tx_id: str
    sender: str
    nonce: int
    accepted_by: str  # the API that accepted it
    accepted_at: float  # time.monotonic()
    status: str = "pending"  # committed | rejected
    reason: str = ""
    final_at: float | None = None


@dataclass
class Load:
    apis: list[str]
    chain_id: str
    fee: int
    senders: list[KeyPair]
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # refused at submission, by code
    unanswered: int = 0  # offers whose answer never came
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def funded(cls, apis: list[str], alice: KeyPair, count: int, seed: int) -> "Load":
        """`count` new senders, each paid FUNDS by alice (waited for)."""
        client = NodeClient(apis[0], timeout=10)
        payer = Sender.open(client, alice)
        senders = [generate_keypair() for _ in range(count)]
        sent = [payer.send(Transfer(key_address(s.public_key), FUNDS)) for s in senders]
        for tx_id in sent:
            payer.committed(tx_id)
        return cls(apis, payer.chain_id, payer.fee, senders, seed)

    def start(self) -> None:
        for n, key in enumerate(self.senders):
            rng = random.Random(self.seed * 1_000 + n)
            thread = threading.Thread(target=self._send, args=(key, rng), daemon=True)
            thread.start()
            self.threads.append(thread)

    def halt(self) -> None:
        self.stop.set()

    def pending(self) -> list[Outcome]:
        with self.lock:
            return [o for o in self.outcomes if o.status == "pending"]

    # A sender

    def _send(self, key: KeyPair, rng: random.Random) -> None:
        me = key_address(key.public_key)
        nonce = self._next_nonce(str(me), rng)
        while not self.stop.is_set():
            to = key_address(rng.choice(self.senders).public_key)
            signed = sign_tx(TxBody(self.chain_id, me, nonce, self.fee, Transfer(to, 1)), [key])
            answer = self._offer(signed.encoded, rng)
            if answer is None:
                continue  # stopped before any node answered
            api, refusal = answer
            if refusal is not None:
                with self.lock:
                    self.refused[refusal] = self.refused.get(refusal, 0) + 1
                nonce = self._next_nonce(str(me), rng)
                continue
            outcome = Outcome(signed.id.hex(), str(me), nonce, api, time.monotonic())
            with self.lock:
                self.outcomes.append(outcome)
            self.follow(outcome, rng, self.stop)
            if outcome.status == "pending":
                return  # stopped: the harness follows it from here
            nonce = nonce + 1 if outcome.status == "committed" else self._next_nonce(str(me), rng)

    def _offer(self, encoded: bytes, rng: random.Random) -> tuple[str, str | None] | None:
        """(the API that answered, None if it accepted or the rule code it refused with)."""
        while not self.stop.is_set():
            for api in rng.sample(self.apis, len(self.apis)):
                client = NodeClient(api, timeout=REQUEST_TIMEOUT, busy_retry=0)
                try:
                    client.post("/v1/txs", {"tx": encoded.hex()})
                    return api, None
                except NodeUnreachable:
                    with self.lock:
                        self.unanswered += 1
                except ApiError as exc:
                    if exc.code in BUSY_CODES:
                        continue
                    if exc.code == "duplicate":
                        return api, None  # it has it already: accepted
                    return api, exc.code
            self.stop.wait(POLL)
        return None

    def follow(self, outcome: Outcome, rng: random.Random, stop: threading.Event) -> None:
        """Ask the validators about `outcome` until one knows its end, or `stop`."""
        while not stop.is_set():
            for api in rng.sample(self.apis, len(self.apis)):
                view = _ask(api, outcome.tx_id)
                if view is None:
                    continue
                if view.get("status") in ("committed", "rejected"):
                    self._settle(outcome, view)
                    return
            stop.wait(POLL)

    def resolve(self, deadline: float) -> None:
        """Ask about every pending outcome, round after round, until each is resolved or the
        deadline passes (always at least one round: none is called lost unasked)."""
        rng = random.Random(self.seed)
        never = threading.Event()
        first = True
        while True:
            for outcome in self.pending():
                if not first and time.monotonic() > deadline:
                    return
                for api in rng.sample(self.apis, len(self.apis)):
                    view = _ask(api, outcome.tx_id)
                    if view is not None and view.get("status") in ("committed", "rejected"):
                        self._settle(outcome, view)
                        break
            first = False
            if not self.pending() or time.monotonic() > deadline:
                return
            never.wait(POLL)

    def _settle(self, outcome: Outcome, view: dict[str, Any]) -> None:
        error = view.get("error") or {}
        with self.lock:
            outcome.status = str(view["status"])
            outcome.reason = f"{error.get('code')}: {error.get('message')}"
            outcome.final_at = time.monotonic()

    def _next_nonce(self, address: str, rng: random.Random) -> int:
        while not self.stop.is_set():
            for api in rng.sample(self.apis, len(self.apis)):
                try:
                    account = NodeClient(api, timeout=REQUEST_TIMEOUT).account(address)
                    return int(account["next_nonce"])
                except ApiError:
                    continue
            self.stop.wait(POLL)
        return 0  # stopped: the nonce is not used


def _ask(api: str, tx_id: str) -> dict[str, Any] | None:
    try:
        return NodeClient(api, timeout=REQUEST_TIMEOUT).tx(tx_id)
    except ApiError:
        return None  # unreachable, or not known there (yet)
