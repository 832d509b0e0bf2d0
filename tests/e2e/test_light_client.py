"""`gridchain light`: a light client from the genesis file alone, against real node processes.

A witness agreeing with the primary; a witness with its own certified chain (two nodes of one
genesis and one validator key, never peered: the validator signed two headers for each height)
caught with evidence naming the validator; an impostor (the same chain id, a validator of its own
genesis) reported faulty, not taken for a fork; the verified header kept in the client's home.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.api.client import NodeClient
from tests.kit.netkit import wait_until
from tests.kit.support import NodeProcess, as_json, gridchain, make_home

pytestmark = pytest.mark.slow

ENV = dict(os.environ)


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, NodeProcess]]:
    """Two nodes of one genesis whose one validator key both hold, each making its own chain."""
    nodes = [NodeProcess(make_home(tmp_path / name)) for name in ("left", "right")]
    nodes.append(NodeProcess(make_home(tmp_path / "impostor", validator_key="impostor")))
    try:
        for node in nodes:
            node.start()
        yield nodes[0], nodes[1], nodes[2]
    finally:
        for node in nodes:
            node.stop()


def test_light_client_syncs_and_catches_a_conflicting_witness(
    split: tuple[NodeProcess, NodeProcess, NodeProcess], tmp_path: Path
) -> None:
    left, right, impostor = split
    for node in split:
        client = NodeClient(node.th.url)
        wait_until(lambda c=client: int(c.status()["height"]) >= 5, 60, "five blocks")
    home = tmp_path / "light"
    genesis = str(left.th.home.genesis_file)
    init = as_json(
        gridchain("light", "init", "--genesis", genesis, "--home", str(home), "--json", env=ENV)
    )
    assert init["trusted_height"] == 0

    synced = as_json(
        gridchain("light", "sync", "--node", left.th.url, "--home", str(home), "--json", env=ENV)
    )
    height = synced["trusted_height"]
    assert height >= 5 and synced["verified"][-1] == height
    shown = as_json(
        gridchain("light", "header", str(height), "--home", str(home), "--json", env=ENV)
    )
    assert shown["hash"] == NodeClient(left.th.url).block(height)["header"]["hash"]

    # A witness whose header is certified only by a set of its own: faulty, no fork.
    for node in (right, impostor):  # a witness not that far yet would only be "behind"
        client = NodeClient(node.th.url)
        wait_until(lambda c=client: int(c.status()["height"]) >= height, 60, "the witness")
    impostor_says = as_json(
        gridchain(
            "light",
            "sync",
            "--node",
            left.th.url,
            "--witness",
            impostor.th.url,
            "--height",
            str(height),
            "--home",
            str(home),
            "--json",
            env=ENV,
        )
    )
    [report] = impostor_says["witnesses"]
    assert report["status"] == "faulty" and "not verified from height 0" in report["detail"]

    # The same height from a witness on the other chain: both certified, one validator signed both.
    conflict = gridchain(
        "light",
        "sync",
        "--node",
        left.th.url,
        "--witness",
        right.th.url,
        "--height",
        str(height),
        "--home",
        str(home),
        "--json",
        env=ENV,
        check=False,
    )
    assert conflict.returncode == 3, conflict.stdout + conflict.stderr
    error = json.loads(conflict.stdout)["error"]
    assert error["code"] == "conflicting_headers" and "v0" in error["message"]
    evidence = json.loads((home / f"evidence-{height}.json").read_text())
    assert [v["public_key"] for v in evidence["double_signers"]] == [
        left.th.validator.public_key.hex()
    ]
    assert evidence["trusted"]["header"]["hash"] != evidence["conflicting"]["header"]["hash"]

    # A height nobody verified yet is not shown without a node to verify it from.
    missing = gridchain(
        "light", "header", str(height + 1000), "--home", str(home), "--json", env=ENV, check=False
    )
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "not_verified"
