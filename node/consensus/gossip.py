"""Which peer gets what: the peer links as consensus sees them.

Peers are of two kinds. Those that take part in consensus (validators of the height being
decided, and the configured full nodes) get proposals, votes, evidence and transactions;
followers (validators out of the active set, jailed ones among them) get only status and the
blocks they ask for, so they can catch up, send transactions, and rejoin once unjailed.

Every role of consensus (the reactor, transaction gossip, block sync, the evidence pool) sends
through one Gossip, so that rule is in one place. The peer manager is attached after it is
built (it needs the reactor's callbacks to be built); until then nothing is sent.
"""

from collections.abc import Callable

from chain.staking.validators import ValidatorSet
from node.p2p.manager import PeerManager
from node.p2p.messages import Message, Status, encode_message


class Gossip:
    """Sends to the peers that take part in consensus, to one peer, or status to all."""

    def __init__(
        self, full_nodes: frozenset[bytes], validators: Callable[[], ValidatorSet]
    ) -> None:
        self.full_nodes = full_nodes
        self.validators = validators  # the validator set of the height being decided
        self.peers: PeerManager | None = None

    def connected(self) -> list[bytes]:
        """The peers linked now (none before the peer manager is attached)."""
        return self.peers.connected() if self.peers is not None else []

    def participates(self, peer: bytes) -> bool:
        """Whether `peer` takes part in consensus gossip (else it only follows blocks)."""
        return peer in self.full_nodes or self.validators().power_of(peer) > 0

    def gossip(self, data: bytes) -> None:
        """Send a consensus message or transactions to the peers that take part."""
        if self.peers is None:
            return
        for peer in self.peers.connected():
            if self.participates(peer):
                self.peers.send(peer, data)

    def send(self, message: Message, to: bytes | None = None) -> None:
        """To one peer, or (with no `to`) status to all and everything else to participants."""
        if self.peers is None:
            return
        data = encode_message(message)
        if to is not None:
            self.peers.send(to, data)
        elif isinstance(message, Status):
            self.peers.broadcast(data)
        else:
            self.gossip(data)

    def send_encoded(self, peer: bytes, data: bytes) -> None:
        """An already encoded message to one peer."""
        if self.peers is not None:
            self.peers.send(peer, data)

    def disconnect(self, peer: bytes, reason: str) -> None:
        """Drop the link to a peer that sent a bad message."""
        if self.peers is not None:
            self.peers.disconnect(peer, reason)

    def drop_disallowed(self) -> None:
        """Peers the chain no longer knows lose their links."""
        if self.peers is not None:
            self.peers.drop_disallowed()
