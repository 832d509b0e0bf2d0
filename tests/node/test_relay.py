"""When a node refuses new transactions: it could not get them finalized (issue 11)."""

from node.consensus.relay import CatchingUp, NoPeers, quorum_height, relay_refusal


def test_a_connected_node_level_with_its_peers_accepts() -> None:
    assert relay_refusal(1, 4, peers=3, height=10, quorum_peer_height=11) is None
    assert relay_refusal(1, 4, peers=3, height=10, quorum_peer_height=12) is None  # in flight
    assert relay_refusal(0, 4, peers=1, height=10, quorum_peer_height=None) is None


def test_a_node_without_peers_refuses_unless_it_finalizes_alone() -> None:
    refusal = relay_refusal(1, 4, peers=0, height=10, quorum_peer_height=None)
    assert isinstance(refusal, NoPeers) and refusal.code == "no_peers"
    assert relay_refusal(3, 4, peers=0, height=10, quorum_peer_height=None) is None  # > 2/3
    assert isinstance(relay_refusal(2, 3, peers=0, height=10, quorum_peer_height=None), NoPeers)


def test_a_node_three_blocks_behind_its_peers_refuses_and_says_where_it_is() -> None:
    refusal = relay_refusal(1, 4, peers=2, height=10, quorum_peer_height=13)
    assert isinstance(refusal, CatchingUp) and refusal.code == "catching_up"
    assert "at height 9, its peers at 12" in refusal.message
    assert relay_refusal(3, 4, peers=2, height=10, quorum_peer_height=500) is None


def test_one_peer_claiming_a_far_height_does_not_count() -> None:
    # Four validators of 100 each: one liar at 10,000 holds only 1/4 of the stake.
    assert quorum_height([(10_000, 100), (11, 100), (11, 100)], 400) == 11
    assert quorum_height([(10_000, 100), (50, 100), (11, 100)], 400) == 50
    assert quorum_height([(10_000, 100)], 400) is None
    assert quorum_height([(20, 0), (12, 150)], 400) == 12  # full nodes carry no weight
    assert quorum_height([], 400) is None
