"""The chaos devnet's network: each validator in a network namespace of its own, joined to one
bridge by a veth pair, so a cut link is real packet loss, not a refused connection on loopback.

    root namespace:  bridge gcb<tag> 10.200.<k>.254/24   (the harness, the farmers, the CLI)
    gc<tag>-node<i>: eth0 10.200.<k>.<i+1>/24             (validator i, its API and peer port)

The namespaces talk to each other through the bridge (layer 2: the root namespace forwards
nothing), and the root namespace reaches every node at its address. The faults:

- `split(groups)`: each node drops what it sends to any node outside its group (a blackhole
  route per address, in both directions), so TCP connections across the cut stall and time out
  as they do when a switch fails; the harness still reaches everyone;
- `isolate(node)` / `rejoin(node)`: the host end of the node's pair down, so the node loses its
  carrier: no peer, no farmer, no client reaches it (a flapping link is this, toggled);
- `heal()`: every route and link as it was.

Everything is named for a tag of the run, so two runs on one machine do not meet, and `close`
(or a later run with the same tag) removes what a killed harness left.
"""

import contextlib
import ipaddress
from dataclasses import dataclass, field

from node.runtime.commands import run
from node.runtime.errors import CommandFailed
from node.runtime.network import link_exists, netns_exists

INSIDE = "eth0"
PREFIX = 24


@dataclass
class Fabric:
    """The namespaces, the bridge and the pairs of `nodes` validators; `k` picks the /24."""

    tag: str
    nodes: int
    k: int
    cuts: set[tuple[int, int]] = field(default_factory=set)
    isolated: set[int] = field(default_factory=set)

    @property
    def bridge(self) -> str:
        return f"gcb{self.tag}"

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"10.200.{self.k}.254")

    def address(self, i: int) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"10.200.{self.k}.{i + 1}")

    def netns(self, i: int) -> str:
        return f"gc{self.tag}-node{i}"

    def veth(self, i: int) -> str:
        return f"gcv{self.tag}n{i}"  # at most 15 characters: a tag of up to 6

    def create(self) -> None:
        self.close()  # what a killed run with this tag left
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        batch = [
            f"addr add {self.gateway}/{PREFIX} dev {self.bridge}",
            f"link set {self.bridge} up",
        ]
        for i in range(self.nodes):
            run(["ip", "netns", "add", self.netns(i)])
            batch += [
                f"link add {self.veth(i)} type veth peer name {INSIDE} netns {self.netns(i)}",
                f"link set {self.veth(i)} master {self.bridge}",
                f"link set {self.veth(i)} up",
            ]
        run(["ip", "-batch", "-"], stdin="\n".join(batch) + "\n")
        for i in range(self.nodes):
            inside = [
                "link set lo up",
                f"addr add {self.address(i)}/{PREFIX} dev {INSIDE}",
                f"link set {INSIDE} up",
            ]
            run(["ip", "-n", self.netns(i), "-batch", "-"], stdin="\n".join(inside) + "\n")

    def close(self) -> None:
        """Delete the pairs, the namespaces and the bridge: each only if it is there."""
        for i in range(self.nodes):
            if link_exists(self.veth(i)):
                with contextlib.suppress(CommandFailed):
                    run(["ip", "link", "del", self.veth(i)])
            if netns_exists(self.netns(i)):
                run(["ip", "netns", "del", self.netns(i)])
        if link_exists(self.bridge):
            run(["ip", "link", "del", self.bridge])
        self.cuts.clear()
        self.isolated.clear()

    # Faults

    def split(self, groups: list[list[int]]) -> None:
        """Cut every pair of nodes in different groups (nodes in no group keep their links)."""
        where = {i: g for g, members in enumerate(groups) for i in members}
        for a in where:
            for b in where:
                if a < b and where[a] != where[b]:
                    self._cut(a, b)

    def _cut(self, a: int, b: int) -> None:
        if (a, b) in self.cuts:
            return
        run(["ip", "-n", self.netns(a), "route", "add", "blackhole", f"{self.address(b)}/32"])
        run(["ip", "-n", self.netns(b), "route", "add", "blackhole", f"{self.address(a)}/32"])
        self.cuts.add((a, b))

    def isolate(self, i: int) -> None:
        run(["ip", "link", "set", self.veth(i), "down"])
        self.isolated.add(i)

    def rejoin(self, i: int) -> None:
        run(["ip", "link", "set", self.veth(i), "up"])
        self.isolated.discard(i)

    def heal_cuts(self) -> None:
        for a, b in sorted(self.cuts):
            for x, y in ((a, b), (b, a)):
                with contextlib.suppress(CommandFailed):  # the namespace may be gone at close
                    run(["ip", "-n", self.netns(x), "route", "del", f"{self.address(y)}/32"])
        self.cuts.clear()

    def connected(self, a: int, b: int) -> bool:
        """Whether `a` and `b` reach each other now (as the fabric was told)."""
        cut = (min(a, b), max(a, b)) in self.cuts
        return not cut and a not in self.isolated and b not in self.isolated
