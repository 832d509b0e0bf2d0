"""When a node refuses new transactions: when it could not get them finalized.

A node that is behind would admit against stale state, and one without consensus peers could
not relay; both refuse (HTTP 503) instead of holding transactions pending for ever."""

from chain.errors import GridchainError

BEHIND_BLOCKS = 3  # peers this many heights ahead: we are catching up, and refuse new txs


class NotRelaying(GridchainError):
    """This node cannot get a new transaction finalized now: it is behind, or has no peers."""


class CatchingUp(NotRelaying):
    code = "catching_up"


class NoPeers(NotRelaying):
    code = "no_peers"


def quorum_height(reports: list[tuple[int, int]], total_power: int) -> int | None:
    """The highest height that peers holding more than 1/3 of `total_power` report reaching.

    `reports` are (height, power) pairs. At least one honest validator has reached the answer,
    so no single faulty peer can make a node believe it is behind by claiming a height nobody
    reached. None if the peers together hold 1/3 or less.
    """
    power = 0
    for height, weight in sorted(reports, reverse=True):
        power += weight
        if 3 * power > total_power:
            return height
    return None


def relay_refusal(
    own_power: int, total_power: int, peers: int, height: int, quorum_peer_height: int | None
) -> NotRelaying | None:
    """Why a node deciding `height` cannot get a new transaction finalized; None if it can.

    `peers` counts the peers that take part in consensus; `quorum_peer_height` is the height
    that peers with more than 1/3 of the stake have reached. A node that is behind would admit
    against stale state, and one with no such peers could not relay: both refuse new
    transactions instead of holding them pending for ever. A node holding more than 2/3 of the
    stake finalizes alone and needs no peers.
    """
    if 3 * own_power > 2 * total_power:
        return None
    if peers == 0:
        return NoPeers(
            "this node has no peers, so a transaction sent here could not be relayed or "
            "finalized; send it to another node or retry once it is connected"
        )
    if quorum_peer_height is not None and quorum_peer_height - height >= BEHIND_BLOCKS:
        return CatchingUp(
            f"this node is catching up (at height {height - 1}, its peers at "
            f"{quorum_peer_height - 1}); retry once it is level or send the transaction to "
            "another node"
        )
    return None
