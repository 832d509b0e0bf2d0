"""`gridchain devnet status`: each node's process and consensus, each farmer's process and
its node's activity."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devnet.farmers import farmer_status
from devnet.network import DEFAULT_DIR, Devnet, require
from devnet.processes import pid_alive
from node.api.client import ApiError, NodeClient


@dataclass(frozen=True)
class NodeStatus:
    name: str
    pid: int | None
    alive: bool
    api: str
    height: int | None = None
    block_hash: str | None = None
    round: int | None = None
    step: str | None = None
    peers: int | None = None
    validator: bool | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def status(
    directory: Path = DEFAULT_DIR,
) -> tuple[Devnet, list[NodeStatus], list[dict[str, Any]]]:
    """Each node's process and consensus, and each farmer's process and node's activity."""
    devnet = require(directory)
    out = []
    for entry in devnet.nodes:
        alive = pid_alive(entry.pid, entry.home)
        if not alive:
            out.append(NodeStatus(entry.name, entry.pid, False, entry.api))
            continue
        try:
            view = NodeClient(entry.api, timeout=2.0).status()
        except ApiError as exc:
            out.append(NodeStatus(entry.name, entry.pid, True, entry.api, error=exc.message))
            continue
        out.append(
            NodeStatus(
                entry.name,
                entry.pid,
                True,
                entry.api,
                height=view.get("height"),
                block_hash=view.get("block_hash"),
                round=(view.get("consensus") or {}).get("round"),
                step=(view.get("consensus") or {}).get("step"),
                peers=len((view.get("consensus") or {}).get("peers", [])),
                validator=(view.get("consensus") or {}).get("validator"),
            )
        )
    answering = [n for n in out if n.alive and n.error is None]
    client = NodeClient(answering[0].api, timeout=2.0) if answering else None
    return devnet, out, [farmer_status(f, client) for f in devnet.farmers]
