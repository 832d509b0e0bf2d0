"""The farm node's workload roles on one thread: the deployer (replicas placed here) and, on a
gateway, the gateway (names served here), each round after round until told to stop.

A failed round (the API unreachable or answering an error, a runtime command that failed) is
said and tried again after a pause that doubles up to MAX_BACKOFF: the roles are
level-triggered, so the next round that succeeds does everything the failed ones did not. A
round that cannot read the chain acts on nothing: replicas keep running as they are (an agent
cut off from its node never tears down or restarts what it runs because of it; Akash providers
that closed every lease during an RPC outage are what this avoids)."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.errors import GridchainError
from node.api.client import ApiError
from node.farmer.deployer import Deployer
from node.farmer.gateway import Gateway, routes_from

MAX_BACKOFF = 30.0


@dataclass
class WorkloadRoles:
    deployer: Deployer | None
    gateway: Gateway | None
    read_routes: Callable[[], dict[str, Any]]
    say: Callable[..., None]

    def round(self) -> None:
        if self.deployer is not None:
            self.deployer.round()
        if self.gateway is not None and self.gateway.reconcile(routes_from(self.read_routes())):
            self.say("gateway", "gateway routes changed")

    def run(self, done: threading.Event, poll: float) -> None:
        pause = poll
        while not done.is_set():
            try:
                self.round()
                pause = poll
            except (GridchainError, ApiError, OSError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                self.say("error", f"workloads: {message}", message=message)
                pause = min(MAX_BACKOFF, pause * 2)
            done.wait(pause)
        if self.gateway is not None:
            self.gateway.stop()
