"""When a node refuses new transactions: it could not get them finalized (issue 11)."""

from node.reactor import CatchingUp, NoPeers, relay_refusal


def test_a_connected_node_level_with_its_peers_accepts() -> None:
    assert relay_refusal(1, 4, peers=3, height=10, best_peer_height=11) is None
    assert relay_refusal(0, 4, peers=1, height=10, best_peer_height=None) is None


def test_a_node_without_peers_refuses_unless_it_finalizes_alone() -> None:
    refusal = relay_refusal(1, 4, peers=0, height=10, best_peer_height=None)
    assert isinstance(refusal, NoPeers) and refusal.code == "no_peers"
    assert relay_refusal(3, 4, peers=0, height=10, best_peer_height=None) is None  # > 2/3
    assert isinstance(relay_refusal(2, 3, peers=0, height=10, best_peer_height=None), NoPeers)


def test_a_node_two_blocks_behind_a_peer_refuses_and_says_where_it_is() -> None:
    refusal = relay_refusal(1, 4, peers=2, height=10, best_peer_height=12)
    assert isinstance(refusal, CatchingUp) and refusal.code == "catching_up"
    assert "at height 9, a peer at 11" in refusal.message
    assert relay_refusal(3, 4, peers=2, height=10, best_peer_height=500) is None
