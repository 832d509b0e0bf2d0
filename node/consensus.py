"""Wiring of consensus for a node home: the reactor, its signer and WAL, and the peer links."""

import re
from dataclasses import dataclass

from chain.hashing import tagged_hash
from chain.state import Overlay
from node.config import ConfigError, Home, NodeConfig
from node.peers import PeerAddress, PeerManager
from node.privval import PrivValidator
from node.reactor import Reactor
from node.service import Node
from node.wal import WriteAheadLog

PEER_PATTERN = re.compile(r"^([0-9a-f]{64})@([^:@\s]+):([0-9]{1,5})$")


@dataclass
class Consensus:
    reactor: Reactor
    peers: PeerManager
    host: str
    port: int

    async def start(self) -> None:
        await self.reactor.start()
        await self.peers.start(self.host, self.port)

    async def stop(self) -> None:
        await self.peers.stop()
        await self.reactor.stop()


def parse_peer(text: str) -> PeerAddress:
    match = PEER_PATTERN.match(text)
    if match is None:
        raise ConfigError(f"peer {text!r} is not PUBLICKEYHEX@host:port")
    key, host, port = match.groups()
    return PeerAddress(bytes.fromhex(key), f"ws://{host}:{port}/p2p")


def network_id(node: Node) -> bytes:
    """Peers must share the genesis: its hash names the network in every handshake."""
    return tagged_hash(b"gc/network", node.genesis_hash)


def build_consensus(node: Node, home: Home, config: NodeConfig) -> Consensus:
    reactor = Reactor(
        node,
        PrivValidator(node.key, home.signer_state_file),
        WriteAheadLog(home.wal_file),
        misbehave=config.misbehave,
    )
    full_nodes = {bytes.fromhex(k) for k in config.full_nodes}

    def allowed(key: bytes) -> bool:
        """Validators of the current set and the configured full nodes; nobody else."""
        return key in full_nodes or Overlay(node.store).validator_set().power_of(key) > 0

    peers = PeerManager(
        node.key,
        network_id(node),
        allowed,
        [parse_peer(p) for p in config.persistent_peers],
        on_message=reactor.on_peer_message,
        on_connect=reactor.on_peer_connect,
    )
    reactor.peers = peers
    return Consensus(reactor, peers, config.p2p_host, config.p2p_port)
