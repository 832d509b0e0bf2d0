"""The farm node agent's side of deployment: what the node's API answers it (a replica of a
one-container web spec, optionally with a health check) and stand-ins for what it is given
(a clock the test moves, a `say` that keeps what was said)."""

from typing import Any

from chain.hashing import hash32
from contracts_std.requirement import workload_address
from contracts_std.spec import load_spec, spec_bytes
from node.farmer.deployer import replica_key

NODE = 7
CONTRACT = str(workload_address())


def web_spec(**fields: Any) -> bytes:
    """A spec of one host-image container `site` on port 8080; `fields` change or add to it."""
    site = {
        "type": "container",
        "name": "site",
        "image": "host",
        "cpu": 1,
        "memory_mb": 128,
        "entrypoint": "python3 -m http.server 8080",
        "ports": [8080],
    }
    return spec_bytes(load_spec({"name": "web", "workloads": [site | fields], "budget": 1}))


SPEC = web_spec()


def replica(
    wid: int = 1, state: str = "assigned", raw: bytes = SPEC, **over: Any
) -> dict[str, Any]:
    """One item of GET /v1/nodes/{id}/replicas: replica 0 of `site` of workload `wid`."""
    item = {
        "contract": CONTRACT,
        "workload_id": wid,
        "version": 1,
        "workload": "site",
        "index": 0,
        "state": state,
        "message": "",
        "endpoint": None,
        "billed_until": 0,
        "paused": False,
        "spec_hash": hash32(raw).hex(),
        "spec": raw.hex(),
    }
    return item | over


def key(wid: int = 1, version: int = 1) -> str:
    """The runtime's key of that replica."""
    return replica_key(CONTRACT, wid, "site", 0, version)


class Said:
    """A `say` that keeps each event and its text."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, text: str, **data: Any) -> None:
        self.events.append((event, text))

    def of(self, event: str) -> list[str]:
        return [text for e, text in self.events if e == event]


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
