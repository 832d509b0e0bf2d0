"""The issue's acceptance path, with real processes: a workload spec submitted with the CLI
becomes authorized exactly when its 2-of-3 requirement is met, the audit log shows every step,
and `gridchain audit verify` accepts the proofs offline and rejects tampered ones."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.light.blocks import decode_light_block
from contracts_std.requirement import workload_address
from tests.kit.netkit import wait_until
from tests.kit.support import NodeProcess, funded_home

SIGNERS = ("alice", "bob", "carol")
SPEC = {
    "name": "web",
    "workloads": [
        {"type": "disk", "name": "data", "size_gb": 10},
        {
            "type": "vm",
            "name": "web1",
            "image": "https://hub.example/ubuntu.flist",
            "cpu": 2,
            "memory_mb": 2048,
            "mounts": [{"disk": "data", "mountpoint": "/data"}],
        },
    ],
    "placement": {"countries": ["BE"]},
    "budget": 5000,
}


class Cli:
    def __init__(self, keystore: Path, passphrase: Path, url: str = "") -> None:
        self.keystore, self.passphrase, self.url = keystore, passphrase, url
        self.genesis = Path()

    def run(self, *args: str, keys: bool = False) -> tuple[int, Any]:
        command = [sys.executable, "-m", "node", *args, "--json"]
        if keys:
            command += ["--keystore", str(self.keystore), "--passphrase-file", str(self.passphrase)]
        if self.url and args[:2] != ("audit", "verify"):  # verify is offline: no node
            command += ["--node", self.url]
        done = subprocess.run(command, capture_output=True, timeout=120)
        return done.returncode, json.loads(done.stdout or done.stderr)

    def ok(self, *args: str, keys: bool = False) -> Any:
        code, out = self.run(*args, keys=keys)
        assert code == 0, out
        return out


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("workload-cli")
    passphrase = root / "passphrase"
    passphrase.write_text("correct horse\n")
    tool = Cli(root / "keys", passphrase)
    addresses = [tool.ok("keys", "new", name, keys=True)["address"] for name in (*SIGNERS, "dave")]
    th = funded_home(
        root / "node", addresses, {"block_interval_ms": 100, "empty_block_interval_ms": 1000}
    )
    node = NodeProcess(th)
    node.start()
    tool.url = th.url
    tool.genesis = th.home.genesis_file
    try:
        yield tool
    finally:
        node.stop()


def test_submit_approve_audit_verify(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "web.json"
    spec.write_text(json.dumps(SPEC))
    requires = [arg for name in SIGNERS for arg in ("--require", name)]
    submitted = cli.ok(
        "workload", "submit", str(spec), *requires, "--threshold", "2", "--from", "alice",
        keys=True,
    )  # fmt: skip
    wid = str(submitted["id"])
    assert cli.ok("workload", "status", wid)["state"] == "pending"

    assert cli.ok("workload", "approve", wid, "--key", "alice", keys=True)["state"] == "pending"
    code, refused = cli.run("workload", "approve", wid, "--key", "dave", keys=True)
    assert code != 0 and "key is not a signer of this workload" in refused["error"]["message"]
    assert cli.ok("workload", "status", wid)["state"] == "pending"  # one signature is not enough
    assert cli.ok("workload", "approve", wid, "--key", "bob", keys=True)["state"] == "authorized"
    status = cli.ok("workload", "status", wid)
    assert status["state"] == "authorized" and status["signed_weight"] == 2
    assert [s["signed"] for s in status["signers"]].count(True) == 2

    # The audit log shows every step, in order.
    # The block after the authorization tries to place it: no farm node is registered here.
    def topics() -> list[str]:
        found = cli.ok("audit", "entries", "--contract", str(workload_address()))["entries"]
        return [e["topic"] for e in found]

    wait_until(lambda: "unplaceable" in topics(), 30, "the placement's first try")
    entries = cli.ok("audit", "entries", "--contract", str(workload_address()))["entries"]
    assert [e["topic"] for e in entries] == [
        "request", "signature", "signature", "authorized", "state", "funded", "unplaceable",
    ]  # fmt: skip

    # Inclusion proof of the authorization, verified offline; tampering is caught.
    bundle_file = tmp_path / "proof.json"
    cli.ok("audit", "proof", str(entries[3]["index"]), "--out", str(bundle_file))
    verified = cli.ok("audit", "verify", str(bundle_file))
    assert verified["ok"] and verified["topic"] == "authorized"
    bundle = json.loads(bundle_file.read_text())
    block = cli.ok("query", "block", str(bundle["header"]["height"]))
    trusted = tmp_path / "header.json"
    trusted.write_text(json.dumps(block["header"]))
    assert cli.ok("audit", "verify", str(bundle_file), "--header", str(trusted))["ok"]

    def tampered(change: Any) -> tuple[int, Any]:
        copy = json.loads(json.dumps(bundle))
        change(copy)
        path = tmp_path / "tampered.json"
        path.write_text(json.dumps(copy))
        return cli.run("audit", "verify", str(path), "--header", str(trusted))

    def flip(text: str) -> str:
        return ("1" if text[0] == "0" else "0") + text[1:]

    cases = {
        "entry data": lambda b: b["entry"].update(data=flip(b["entry"]["data"])),
        "proof hash": lambda b: b["proof"].__setitem__(0, flip(b["proof"][0])),
        "index": lambda b: b.update(index=b["index"] - 1),
        "header root": lambda b: b["header"].update(audit_root=flip(b["header"]["audit_root"])),
    }
    for what, change in cases.items():
        code, out = tampered(change)
        assert code != 0, what
        assert out["error"]["code"] == "invalid_proof", (what, out)

    # With the genesis file alone: the header is final, reached by the bundle's certificates.
    genesis = str(cli.genesis)
    final = cli.ok("audit", "verify", str(bundle_file), "--genesis", genesis)
    assert final["finality"]["heights_verified"][-1] == bundle["header"]["height"]
    blocks = bundle["finality"]["light_blocks"]
    assert blocks, "a header above genesis needs at least one certificate"

    def cut_certificate(b: Any) -> None:
        raw = bytes.fromhex(b["finality"]["light_blocks"][-1])
        signature = raw.rindex(bytes.fromhex(light_signature(raw)))
        b["finality"]["light_blocks"][-1] = (
            raw[:signature] + bytes(96) + raw[signature + 96 :]
        ).hex()

    finality_cases = {
        "certificate": cut_certificate,
        "no finality": lambda b: b.pop("finality"),
        "a light block left out": lambda b: b["finality"]["light_blocks"].pop(),
        "another genesis": lambda b: b["finality"].update(genesis_hash="00" * 32),
    }
    for what, change in finality_cases.items():
        copy = json.loads(json.dumps(bundle))
        change(copy)
        path = tmp_path / "unproven.json"
        path.write_text(json.dumps(copy))
        code, out = cli.run("audit", "verify", str(path), "--genesis", genesis)
        assert code != 0 and out["error"]["code"] == "invalid_proof", (what, out)

    # The log at the first entry is a prefix of today's log.
    consistency = tmp_path / "consistency.json"
    cli.ok("audit", "consistency", "1", "--out", str(consistency))
    assert cli.ok("audit", "verify", str(consistency))["kind"] == "consistency"
    assert cli.ok("audit", "verify", str(consistency), "--genesis", str(cli.genesis))["ok"]


def light_signature(raw: bytes) -> str:
    """The aggregate signature of an encoded light block's certificate, in hex."""
    block = decode_light_block(raw)
    assert block.commit is not None
    return block.commit.signature.hex()
