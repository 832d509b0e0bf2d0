"""A replica's network: its own namespace, joined to the host by a veth pair on a /30.

Each replica gets a network namespace (its own loopback, ports and routing table) and one
interface, eth0, whose peer on the host is a veth named for the replica. The pair is a /30 of
the runtime's private range: the host's end is the replica's gateway, the replica's end its
address. So every replica on a machine can listen on the same port, and the gateway (on the
host) reaches each at address:port.

Slot n of the range is the n-th /30. The slot is kept in the replica's record, so a restarted
agent finds the same address; a slot is free when no record of this runtime holds it and no
interface of the host carries one of its addresses (another runtime's replica, say).

Nothing here forwards or masquerades: with the host's ip_forward off (the default) a replica
reaches the host's end of its own pair and nothing else. docs/deployment.md says what that
does and does not protect.
"""

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from node.runtime.commands import run
from node.runtime.errors import CommandFailed, SandboxError

NETNS_DIR = Path("/run/netns")
INSIDE = "eth0"


@dataclass(frozen=True)
class Lease:
    """Slot `slot` of a range: a /30 whose first host is the gateway, the second the replica."""

    slot: int
    network: ipaddress.IPv4Network

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.network.network_address + 1

    @property
    def address(self) -> ipaddress.IPv4Address:
        return self.network.network_address + 2


def lease(subnet: ipaddress.IPv4Network, slot: int) -> Lease:
    networks = subnet.num_addresses // 4
    if not 0 <= slot < networks:
        raise SandboxError(f"slot {slot} is outside {subnet} ({networks} /30 networks)")
    return Lease(slot, ipaddress.IPv4Network((int(subnet.network_address) + 4 * slot, 30)))


def free_slot(subnet: ipaddress.IPv4Network, taken: set[int]) -> int:
    """The lowest slot no record holds and no host interface uses."""
    used = host_addresses()
    for slot in range(subnet.num_addresses // 4):
        if slot in taken:
            continue
        held = lease(subnet, slot)
        if not any(a in held.network for a in used):
            return slot
    raise SandboxError(f"every /30 of {subnet} is in use")


def host_addresses() -> set[ipaddress.IPv4Address]:
    out = run(["ip", "-o", "-4", "addr", "show"])
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            found.add(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).ip)
    return found


def create(netns: str, veth: str, held: Lease) -> None:
    """The namespace, the pair, both addresses, and the replica's default route."""
    prefix = held.network.prefixlen
    run(["ip", "netns", "add", netns])
    host_side = [
        f"link add {veth} type veth peer name {INSIDE} netns {netns}",
        f"addr add {held.gateway}/{prefix} dev {veth}",
        f"link set {veth} up",
    ]
    run(["ip", "-batch", "-"], stdin="\n".join(host_side) + "\n")
    inside = [
        "link set lo up",
        f"addr add {held.address}/{prefix} dev {INSIDE}",
        f"link set {INSIDE} up",
        f"route add default via {held.gateway}",
    ]
    run(["ip", "-n", netns, "-batch", "-"], stdin="\n".join(inside) + "\n")


def destroy(netns: str, veth: str) -> None:
    """Delete the pair (both ends at once) and the namespace; each only if it is there."""
    if link_exists(veth):
        try:
            run(["ip", "link", "del", veth])
        except CommandFailed:
            if link_exists(veth):
                raise
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])


def netns_path(netns: str) -> Path:
    return NETNS_DIR / netns


def netns_exists(netns: str) -> bool:
    return netns_path(netns).exists()


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()
