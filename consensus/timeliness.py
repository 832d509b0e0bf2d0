"""Whether a fresh proposal's time is believable: the one rule of consensus that reads a clock.

A block's time is its proposer's clock, held only to be later than its parent's. Nothing else
bounded it, so one proposer whose clock ran two minutes fast (or who lied) dated its block two
minutes ahead, and every later block at least as far (parent + 1 ms): for those two minutes
every light client, which refuses headers dated more than its clock drift ahead, could verify
nothing new. The chaos harness's skewed clocks showed it.

As in CometBFT's proposer-based timestamps, a validator prevotes nil for a fresh proposal
(valid_round -1) dated more than MAX_FUTURE_MS after the moment it received it, unless that time
is the least its parent allows. It is a voting rule, not a block validity rule: a block more
than 2/3 precommitted is committed by everyone whatever their clocks, and block sync and replay
of the chain never read a clock. The moment of receipt is written to the consensus WAL with the
proposal, so a replay after a crash votes as the node did.
"""

MAX_FUTURE_MS = 5_000  # half the light client's MAX_CLOCK_DRIFT_MS: room for its own clock


def is_timely(block_time_ms: int, parent_time_ms: int, received_ms: int) -> bool:
    return block_time_ms <= max(received_ms + MAX_FUTURE_MS, parent_time_ms + 1)
