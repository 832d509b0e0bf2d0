"""The issue's acceptance path with real processes: one node, the CLI in subprocesses. An honest
farmer plots, registers and runs `gridchain farmer run`; its farm is paid every settled epoch,
exactly what the blocks' reward lines say. A cheater registered beside it sends the honest
farmer's proofs from its own node: the node leaves them out (invalid_proof) and the cheater's
farm earns nothing. SIGTERM stops the farmer cleanly."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chain.address import key_address, parse_address
from chain.farming.txs import StorageProofs
from chain.ledger.transactions import TxBody, sign_tx
from node.farmer.plots import find_proofs, load_plots
from node.keystore import Keystore
from tests.kit.support import CHAIN_ID, NodeProcess, dev_key, funded_home, http

PASSPHRASE = "correct horse"
# devnet/network.py's farming parameters, with epochs short enough for a test: 12 blocks of
# 6 heartbeat slots (compute windows shortened to fit: 12 - 4 - 4 - 1 heights to be asked at).
FARMING = {
    "block_interval_ms": 300,
    "empty_block_interval_ms": 300,
    "plot_min_k": 18,
    "epoch_blocks": 12,
    "heartbeat_interval_blocks": 2,
    "storage_challenges": 32,
    "compute_units_per_core": 16,
    "compute_scrypt_log_n": 12,
    "compute_scrypt_r": 8,
    "compute_samples": 4,
    "compute_deadline_blocks": 4,
    "compute_reveal_blocks": 4,
    "farm_min_bond": 10_000,
    "reward_per_gib": 1_000_000_000,
    "reward_per_core": 1_000_000,
}
HONEST_PAYOUT = str(key_address(dev_key("honest-payout").public_key))
CHEAT_PAYOUT = str(key_address(dev_key("cheat-payout").public_key))
WHERE = ("--country", "BE", "--city", "Ghent", "--latitude", "51.054342", "--longitude", "3.717424")
RESOURCES = ("--cores", "1", "--memory-mb", "4096", "--ssd-gb", "1", "--hdd-gb", "0")


@dataclass
class Farm:
    cli: "Cli"
    root: Path
    plots: Path
    owner_address: str


class Cli:
    def __init__(self, root: Path, url: str) -> None:
        self.keystore = root / "keys"
        self.passphrase = root / "passphrase"
        self.url = url

    def command(self, *args: str) -> list[str]:
        """`gridchain farmer ...` with the options its subcommand takes."""
        keys = ["--keystore", str(self.keystore)]
        node = ["--node", self.url]
        options = {"plot": keys, "status": node}.get(
            args[1], [*keys, "--passphrase-file", str(self.passphrase), *node]
        )
        return [sys.executable, "-m", "node", *args, *options, "--json"]

    def run(self, *args: str) -> tuple[int, Any]:
        done = subprocess.run(self.command(*args), capture_output=True, timeout=120)
        return done.returncode, json.loads(done.stdout or done.stderr)

    def ok(self, *args: str) -> Any:
        code, out = self.run(*args)
        assert code == 0, out
        return out

    def get(self, path: str) -> Any:
        status, body = http(self.url + path)
        assert status == 200, body
        return body


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """A running node whose genesis funds the honest and the cheating owner, the keystore, and
    one k=18 plot of the honest owner (made with `farmer plot`)."""
    root = tmp_path_factory.mktemp("farmer-cli")
    (root / "passphrase").write_text(PASSPHRASE + "\n")
    store = Keystore(root / "keys")
    names = ("honest", "honest-node", "cheat", "cheat-node")
    keys = {name: store.new(name, PASSPHRASE) for name in names}
    th = funded_home(root / "node", [keys[n].address for n in ("honest", "cheat")], FARMING)
    node = NodeProcess(th)
    node.start()
    cli = Cli(root, th.url)
    plots = root / "plots"
    try:
        made = cli.ok("farmer", "plot", "--owner", "honest", "--k", "18", "--dir", str(plots))
        assert [p["k"] for p in made] == [18] and made[0]["bytes"] > 3_000_000
        yield Farm(cli, root, plots, keys["honest"].address)
    finally:
        node.stop()


def register(cli: Cli, owner: str, payout: str) -> dict[str, Any]:
    out: dict[str, Any] = cli.ok(
        "farmer", "register", "--owner", owner, "--node-key", f"{owner}-node",
        "--name", f"{owner}-farm", "--bond", "50000", "--payout", payout, *RESOURCES, *WHERE,
        "--no-container",  # farming only: `farmer run` then needs no sandbox runtime
    )  # fmt: skip
    return out


def balance(cli: Cli, address: str) -> int:
    return int(cli.get(f"/v1/accounts/{address}")["balance"])


def wait_for_epoch(cli: Cli, epoch: int, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while (cli.get("/v1/farming")["epoch"] or {}).get("epoch", -1) < epoch:
        assert time.monotonic() < deadline, f"epoch {epoch} did not begin in {timeout} s"
        time.sleep(0.2)


def early_in_an_epoch(cli: Cli, timeout: float = 15) -> Any:
    """GET /v1/farming at a head within the first half of its epoch."""
    deadline = time.monotonic() + timeout
    while True:
        info = cli.get("/v1/farming")
        if info["height"] - info["epoch"]["start"] < FARMING["epoch_blocks"] // 2:
            return info
        assert time.monotonic() < deadline, "no early epoch height seen"
        time.sleep(0.1)


def wait_for_event(log: Path, kind: str, epoch: int, timeout: float = 30) -> Any:
    """The farmer's `sent` event for a `kind` transaction of `epoch`, once it is logged."""
    deadline = time.monotonic() + timeout
    while True:
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("type") == kind and event.get("epoch") == epoch:
                return event
        assert time.monotonic() < deadline, f"no {kind} for epoch {epoch} in {timeout} s"
        time.sleep(0.05)


def wait_for_tx(cli: Cli, tx_id: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status, body = http(f"{cli.url}/v1/txs/{tx_id}")
        if status == 200 and body["status"] != "pending":
            return body
        assert time.monotonic() < deadline, f"{tx_id} still pending after {timeout} s"
        time.sleep(0.1)


def test_bad_input_is_refused_before_anything_runs(farm: Farm, tmp_path: Path) -> None:
    cli = farm.cli
    code, out = cli.run("farmer", "plot", "--owner", "honest", "--k", "17", "--dir", str(tmp_path))
    assert code == 1 and "--k 17 is outside 18..50" in out["error"]["message"]
    assert not any(tmp_path.iterdir())
    code, out = cli.run(
        "farmer", "register", "--owner", "cheat", "--node-key", "cheat-node", "--name", "x",
        "--bond", "50000", *RESOURCES, *WHERE[:4], "--latitude", "51.0543421", *WHERE[6:],
    )  # fmt: skip
    assert code == 1 and "--latitude 51.0543421 has more than 6 decimals" in out["error"]["message"]
    code, out = cli.run(
        "farmer", "register", "--owner", "cheat", "--node-key", "cheat-node", "--name", "x",
        "--bond", "9999", *RESOURCES, *WHERE,
    )  # fmt: skip
    assert code == 1 and "below this chain's minimum farm bond 10000" in out["error"]["message"]
    assert cli.get("/v1/farming")["next_farm"] == 1  # nothing was sent


def test_honest_farmer_is_paid_and_cheater_is_not(farm: Farm) -> None:
    cli = farm.cli
    honest = register(cli, "honest", HONEST_PAYOUT)
    cheat = register(cli, "cheat", CHEAT_PAYOUT)
    assert (honest["farm"], honest["node"], cheat["farm"], cheat["node"]) == (1, 1, 2, 2)
    assert honest["payout"] == HONEST_PAYOUT
    assert cli.get(f"/v1/nodes/{honest['node']}")["location"]["latitude"] == 51_054_342

    # The cheater cannot farm the honest farmer's plots: they were made for another owner.
    cheat_owner = cli.get("/v1/farms/2")["owner"]
    code, out = cli.run(
        "farmer", "run", "--node-key", "cheat-node", "--plots", str(farm.plots),
        "--owner-address", cheat_owner, "--once",
    )  # fmt: skip
    assert code == 1 and out["error"]["code"] == "bad_plot"
    assert f"was not plotted for {cheat_owner}" in out["error"]["message"]

    command = cli.command(
        "farmer", "run", "--node-key", "honest-node", "--plots", str(farm.plots),
        "--owner-address", farm.owner_address, "--poll", "0.1", "--workers", "2",
    )  # fmt: skip
    log_path = farm.root / "farmer.log"
    with open(log_path, "wb") as log:
        farmer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        # So the cheater sends the honest proofs from its own node, early in an epoch (so the
        # block that takes it is in the same epoch).
        info = early_in_an_epoch(cli)
        first = info["epoch"]["epoch"]  # the farmer starts in it: the next two are whole
        stolen = list(
            find_proofs(
                load_plots(farm.plots, parse_address(farm.owner_address)),
                bytes.fromhex(info["epoch"]["seed"]),
                FARMING["storage_challenges"],
            )
        )
        assert stolen
        cheat_key = Keystore(farm.root / "keys").load("cheat-node", PASSPHRASE)
        sender = key_address(cheat_key.public_key)
        nonce = cli.get(f"/v1/accounts/{sender}")["next_nonce"]
        payload = StorageProofs(cheat["node"], first, tuple(stolen))
        signed = sign_tx(TxBody(CHAIN_ID, sender, nonce, 1, payload), [cheat_key])
        status, body = http(cli.url + "/v1/txs", {"tx": signed.encoded.hex()})
        if status == 202:
            body = wait_for_tx(cli, signed.id.hex())
        assert body["error"]["code"] == "invalid_proof", body
        assert "is not a proof of space" in body["error"]["message"]

        wait_for_epoch(cli, first + 3)  # epochs first + 1 and first + 2 are settled
        assert farmer.poll() is None, log_path.read_text()[-3000:]
        status_view = cli.ok("farmer", "status", "--farm", "1", "--epochs", "1000")
        # Stopped right after a compute commitment, it opens it before it exits.
        last_commit = wait_for_event(log_path, "compute_commit", first + 3)
        farmer.send_signal(signal.SIGTERM)
        code = farmer.wait(15)
    finally:
        if farmer.poll() is None:
            farmer.kill()
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert code == 0, events[-5:]
    assert events[0]["event"] == "start" and events[-1]["event"] == "stop"
    after = events[events.index(last_commit) :]
    assert any(e.get("type") == "compute_reveal" and e["epoch"] == first + 3 for e in after)

    # Every settled epoch the farmer ran through paid the honest farm, exactly its lines.
    settled = cli.get("/v1/farms/1/rewards?epochs=1000")["epochs"]
    by_epoch = {e["epoch"]: e for e in settled}
    for epoch in (first + 1, first + 2):
        (line,) = by_epoch[epoch]["lines"]
        assert line["amount"] > 0 and line["node"] == honest["node"]
        assert line["storage_bytes"] > 0 and line["compute_milli_cores"] == 1000
        assert line["uptime_bp"] == 10_000
    assert balance(cli, HONEST_PAYOUT) == sum(e["total"] for e in settled) > 0

    # The cheater's farm earned nothing.
    assert balance(cli, CHEAT_PAYOUT) == 0
    cheat_settled = cli.get("/v1/farms/2/rewards?epochs=1000")["epochs"]
    assert len(cheat_settled) >= 3 and all(e["total"] == 0 for e in cheat_settled)

    # `farmer status` shows the farm, its node and what each epoch paid.
    assert status_view["farm"]["id"] == 1 and status_view["farm"]["slashed_epoch"] is None
    assert [n["id"] for n in status_view["nodes"]] == [honest["node"]]
    shown = {e["epoch"]: e["total"] for e in status_view["epochs"]}
    assert shown[first + 1] == by_epoch[first + 1]["total"] > 0
    assert shown[first + 2] == by_epoch[first + 2]["total"] > 0
    assert status_view["earned"] == sum(shown.values())

    # The farmer's own log: what it sent, and the rewards as they were settled.
    sent = {e["type"] for e in events if e["event"] == "sent"}
    assert sent == {"heartbeat", "storage_proofs", "compute_commit", "compute_reveal"}
    told = {e["epoch"]: e["amount"] for e in events if e["event"] == "reward"}
    assert told[first + 1] == by_epoch[first + 1]["total"]
