"""`gridchain bench consensus`: finalized transfers per second on a real multi-validator devnet.

A devnet of N validator processes runs on loopback. Many funded senders' transfers are signed
in advance, then offered at a steady rate for a fixed time through every node's batch API (each
sender's transactions through one node, so their nonces arrive in order). A watcher follows the
chain on node0 and records when each transaction became final. Figures are measured, never
asserted; they go to docs/benchmarks.md.
"""

import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.address import Address, key_address
from chain.encoding import encode
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.transactions import SignedTx, Transfer, TxBody, sign_tx
from devnet import network
from node.keystore import DEVNET_PASSPHRASE, Keystore

Progress = Callable[[str], None]
TICK = 0.05
MAX_BATCH = 2000
FEE = 1


@dataclass(frozen=True)
class ConsensusBench:
    validators: int
    seconds: float
    offered_rate: int
    offered: int
    accepted: int
    finalized: int
    finalized_in_window: int
    tx_per_s: float
    p50_s: float
    p99_s: float
    max_s: float
    blocks: int
    mean_block_txs: float
    submit: str = "json"
    cpu_s: float | None = None  # CPU of the validators' process groups over the load window
    peak_rss_mb: tuple[float, ...] = ()  # each validator's node process, at the end

    @property
    def cpu_us_per_tx_per_validator(self) -> float | None:
        if self.cpu_s is None or not self.finalized_in_window:
            return None
        return self.cpu_s / self.validators / self.finalized_in_window * 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "validators": self.validators,
            "load_seconds": round(self.seconds, 1),
            "offered_tx_per_s": self.offered_rate,
            "offered": self.offered,
            "accepted": self.accepted,
            "finalized": self.finalized,
            "finalized_tx_per_s": round(self.tx_per_s),
            "latency_s": {
                "p50": round(self.p50_s, 3),
                "p99": round(self.p99_s, 3),
                "max": round(self.max_s, 3),
            },
            "blocks": self.blocks,
            "mean_block_txs": round(self.mean_block_txs, 1),
            "submit": self.submit,
            "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 2),
            "cpu_us_per_tx_per_validator": None
            if self.cpu_us_per_tx_per_validator is None
            else round(self.cpu_us_per_tx_per_validator),
            "peak_rss_mb": list(self.peak_rss_mb),
        }


def _post(url: str, body: Any, timeout: float = 30) -> Any:
    return _post_bytes(url, json.dumps(body).encode(), "application/json", timeout)


def _post_bytes(url: str, data: bytes, content_type: str, timeout: float = 30) -> Any:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _get(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _sender_keys(count: int) -> list[KeyPair]:
    return [
        keypair_from_seed(hash32(b"bench-consensus/" + i.to_bytes(4, "big"))) for i in range(count)
    ]


def _fund(api: str, chain_id: str, alice: KeyPair, senders: list[KeyPair], amount: int) -> None:
    """One block of transfers from alice gives every sender its balance."""
    txs = [
        sign_tx(
            TxBody(
                chain_id,
                key_address(alice.public_key),
                nonce,
                FEE,
                Transfer(key_address(s.public_key), amount),
            ),
            [alice],
        )
        for nonce, s in enumerate(senders)
    ]
    _post(f"{api}/v1/txs/batch", {"txs": [tx.encoded.hex() for tx in txs]})
    last = txs[-1].id.hex()
    deadline = time.monotonic() + 60
    while _get(f"{api}/v1/txs/{last}").get("status") != "committed":
        if time.monotonic() > deadline:
            raise RuntimeError("funding the senders did not finalize within 60 s")
        time.sleep(0.1)


def _sign_load(
    chain_id: str, senders: list[KeyPair], per_sender: int, sink: Address
) -> list[list[SignedTx]]:
    return [
        [
            sign_tx(TxBody(chain_id, key_address(s.public_key), nonce, FEE, Transfer(sink, 1)), [s])
            for nonce in range(per_sender)
        ]
        for s in senders
    ]


class _Watcher(threading.Thread):
    """Follows node0's chain and notes when each transaction became final."""

    def __init__(self, api: str, start_height: int) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.height = start_height
        self.final_at: dict[str, float] = {}
        self.block_sizes: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            head = int(_get(f"{self.api}/v1/status")["height"])
            while self.height < head:
                self.height += 1
                block = _get(f"{self.api}/v1/blocks/{self.height}")
                now = time.monotonic()
                self.block_sizes.append(len(block["txs"]))
                for tx in block["txs"]:
                    self.final_at[tx["id"]] = now
            self.stop.wait(0.05)


def bench_consensus(
    seconds: float = 60,
    rate: int = 2000,
    validators: int = 4,
    senders: int = 400,
    say: Progress = lambda _: None,
    binary: bool = False,
) -> ConsensusBench:
    offered_total = int(rate * seconds)
    per_sender = -(-offered_total // senders) + 1
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-") as tmp:
        directory = Path(tmp) / "devnet"
        base = network.free_base_port(validators)
        say(f"starting {validators} validators on 127.0.0.1:{base}..")
        result = network.up(directory, validators, base, say=say)
        try:
            return _run(result.devnet, seconds, rate, senders, per_sender, say, binary)
        finally:
            network.down(directory)


def _run(
    devnet: network.Devnet,
    seconds: float,
    rate: int,
    senders: int,
    per_sender: int,
    say: Progress,
    binary: bool,
) -> ConsensusBench:
    apis = [n.api for n in devnet.nodes]
    alice = Keystore(Path(devnet.keystore)).load("alice", DEVNET_PASSPHRASE)
    keys = _sender_keys(senders)
    say(f"funding {senders} senders")
    _fund(apis[0], devnet.chain_id, alice, keys, per_sender * (FEE + 1) + 10)
    say(f"signing {senders * per_sender} transfers")
    sink = key_address(alice.public_key)
    load = _sign_load(devnet.chain_id, keys, per_sender, sink)
    watcher = _Watcher(apis[0], int(_get(f"{apis[0]}/v1/status")["height"]))
    watcher.start()
    submitted_at: dict[str, float] = {}
    cursor = [0] * senders
    queues: list[list[SignedTx]] = [[] for _ in apis]
    lock = threading.Lock()
    done = threading.Event()
    submitters = [
        threading.Thread(
            target=_submitter,
            args=(api, queues[i], lock, done, submitted_at, binary),
            daemon=True,
        )
        for i, api in enumerate(apis)
    ]
    for t in submitters:
        t.start()
    say(f"offering {rate} tx/s for {seconds:g} s")
    groups = [n.pid for n in devnet.nodes if n.pid is not None]
    cpu_before = sum(group_cpu_seconds(g) for g in groups)
    started = time.monotonic()
    next_report = started + 10
    tick = 0
    offered = 0
    while time.monotonic() - started < seconds:
        tick += 1
        due = int(rate * TICK * tick) - offered
        with lock:
            for _ in range(due):
                sender = offered % senders
                offered += 1
                if cursor[sender] < per_sender:
                    queues[sender % len(apis)].append(load[sender][cursor[sender]])
                    cursor[sender] += 1
        now = time.monotonic()
        if now >= next_report:
            say(
                f"  {now - started:.0f} s: {len(submitted_at)} accepted, "
                f"{len(watcher.final_at)} final"
            )
            next_report += 10
        sleep = started + tick * TICK - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    done.set()
    for t in submitters:
        t.join()
    load_end = time.monotonic()
    cpu_s = sum(group_cpu_seconds(g) for g in groups) - cpu_before
    peak_rss = tuple(peak_rss_mb(g) or 0.0 for g in groups)
    accepted = len(submitted_at)
    say("waiting for the last transactions to finalize")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(submitted_at) <= set(watcher.final_at):
        time.sleep(0.2)
    watcher.stop.set()
    watcher.join()
    latencies = sorted(
        watcher.final_at[t] - submitted_at[t] for t in submitted_at if t in watcher.final_at
    )
    in_window = sum(1 for t in submitted_at if started <= watcher.final_at.get(t, -1) <= load_end)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    sizes = watcher.block_sizes
    return ConsensusBench(
        validators=len(apis),
        seconds=load_end - started,
        offered_rate=rate,
        offered=offered,
        accepted=accepted,
        finalized=len(latencies),
        finalized_in_window=in_window,
        tx_per_s=in_window / (load_end - started),
        p50_s=quantiles[49],
        p99_s=quantiles[98],
        max_s=latencies[-1] if latencies else 0.0,
        blocks=len(sizes),
        mean_block_txs=statistics.fmean(sizes) if sizes else 0.0,
        submit="cbor" if binary else "json",
        cpu_s=cpu_s,
        peak_rss_mb=peak_rss,
    )


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes of a process group (a node, its signature
    workers and their fork server), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident size (VmHWM), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _submitter(
    api: str,
    queue: list[SignedTx],
    lock: threading.Lock,
    done: threading.Event,
    submitted_at: dict[str, float],
    binary: bool,
) -> None:
    """Sends whatever is due for one node, as one batch per request, until the load ends."""
    while True:
        with lock:
            txs = queue[:MAX_BATCH]
            del queue[: len(txs)]
        if not txs:
            if done.is_set():
                return
            time.sleep(TICK / 5)
            continue
        now = time.monotonic()
        if binary:
            body = encode([tx.encoded for tx in txs])
            answer = _post_bytes(f"{api}/v1/txs/batch", body, "application/cbor")
        else:
            answer = _post(f"{api}/v1/txs/batch", {"txs": [tx.encoded.hex() for tx in txs]})
        for tx, result in zip(txs, answer["results"], strict=True):
            if result.get("status") == "pending":
                submitted_at[tx.id.hex()] = now
