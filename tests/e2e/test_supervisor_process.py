"""`gridchain node supervise` as a process: a kill -9 of the supervisor takes its node with it,
and a supervisor started again runs the node on the same ports."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.api.client import ApiError, NodeClient
from tests.kit.netkit import wait_until
from tests.kit.support import make_home

pytestmark = pytest.mark.slow


def supervise(home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "node", "node", "supervise", "--home", str(home), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def answering(client: NodeClient) -> bool:
    try:
        return int(client.status()["height"]) >= 1
    except ApiError:
        return False


def test_a_killed_supervisor_leaves_no_node_behind(tmp_path: Path) -> None:
    th = make_home(tmp_path / "node")
    client = NodeClient(th.url, timeout=2)
    first = supervise(th.home.root)
    try:
        wait_until(lambda: answering(client), 60, "the supervised node")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        deadline = time.monotonic() + 30
        while answering(client) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not answering(client), "the node outlived its supervisor"
    finally:
        with contextlib.suppress(ProcessLookupError):  # an orphan, if the test failed
            os.killpg(first.pid, signal.SIGKILL)
    second = supervise(th.home.root)
    try:
        wait_until(lambda: answering(client), 60, "the node under a new supervisor")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
