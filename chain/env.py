"""What the rules of one block may know of it: taken from the header, never from a clock."""

from dataclasses import dataclass

from chain.address import Address
from chain.params import ChainParams


@dataclass(frozen=True)
class BlockEnv:
    """What a transaction may know of its block: from the header, never from a clock."""

    chain_id: str
    height: int
    time_ms: int
    proposer: Address
    params: ChainParams
    prev_hash: bytes  # the parent's hash: final, so challenges may be drawn from it
