"""Wiring of consensus for a node home: the reactor, its signer and WAL, and the peer links."""

import re
from dataclasses import dataclass

from chain.hashing import tagged_hash
from chain.staking.council import pending_changes
from chain.staking.txs import ValidatorAdd
from chain.state import Overlay, jailed_validators
from node.config import ConfigError, Home, NodeConfig
from node.consensus.privval import PrivValidator
from node.consensus.reactor import Reactor
from node.consensus.wal import WriteAheadLog
from node.p2p.manager import PeerAddress, PeerManager
from node.service import NodeService

PEER_PATTERN = re.compile(r"^([0-9a-f]{64})@([^:@\s]+):([0-9]{1,5})$")
# A websocket ping this often, a pong within half of it: a paused or cut-off peer's link is
# declared dead within a few seconds instead of staying half-open.
PEER_HEARTBEAT_SECONDS = 3.0


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


def network_id(node: NodeService) -> bytes:
    """Peers must share the genesis: its hash names the network in every handshake."""
    return tagged_hash(b"gc/network", node.genesis_hash)


def build_consensus(node: NodeService, home: Home, config: NodeConfig) -> Consensus:
    full_nodes = frozenset(bytes.fromhex(k) for k in config.full_nodes)
    reactor = Reactor(
        node,
        PrivValidator(node.key, home.signer_state_file),
        WriteAheadLog(home.wal_file),
        misbehave=config.misbehave,
        full_nodes=full_nodes,
    )

    def allowed(key: bytes) -> bool:
        """The configured full nodes and every validator the chain knows, active or jailed.

        Validators out of the active set may only follow (the reactor gives them no consensus
        gossip); a jailed validator must be able to fetch the blocks that jailed it, catch up
        and send its unjail.
        """
        return key in full_nodes or is_known_validator(Overlay(node.store), key)

    peers = PeerManager(
        node.key,
        network_id(node),
        allowed,
        [parse_peer(p) for p in config.persistent_peers],
        on_message=reactor.on_peer_message,
        on_connect=reactor.on_peer_connect,
        heartbeat=PEER_HEARTBEAT_SECONDS,
    )
    reactor.peers = peers
    node.metrics.watch_peer_counts(peers.refused, peers.dropped)
    return Consensus(reactor, peers, config.p2p_host, config.p2p_port)


def is_known_validator(state: Overlay, key: bytes) -> bool:
    """In the active set, in the set that signed the last block, jailed for a time, or about
    to be added by the council (so it can link and catch up before its first vote).

    A tombstoned validator (a double signer) can never come back, so it is not admitted."""
    return (
        state.validator_set().power_of(key) > 0
        or state.last_validator_set().power_of(key) > 0
        or any(j.public_key == key and not j.tombstoned for j in jailed_validators(state))
        or any(
            isinstance(p.change, ValidatorAdd) and p.change.public_key == key
            for p in pending_changes(state)
        )
    )
