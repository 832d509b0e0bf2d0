"""Stake-weighted proposer election, seeded by a stake modifier (after Rivine's proof of
blockstake).

The stake modifier of height h is built from the block hashes just below h: bit i of the
modifier (i = 0..255) is bit i of the hash of block h-1-i, where heights below 0 read the genesis
block (height 0). So:

- the proposer of every round of height h is known as soon as block h-1 is final, and not before;
- the modifier of h reads no block at or above h;
- each block contributes exactly one bit to each later modifier, so the proposer of one block
  controls one bit of the next modifier, which limits grinding to one bit per proposed block: by
  trying different blocks it can choose between two modifiers, never steer the draw further.

The proposer of (h, r) is then a draw, uniform over the total blockstake, taken from a hash of
the modifier, h and r: each validator proposes with a chance equal to its share of the stake, and
a failed round moves to a fresh, independent draw.

Bits are numbered most significant first: bit i of a byte string is bit 7 - i % 8 of byte i // 8.
"""

from collections.abc import Callable
from dataclasses import dataclass

from chain.blocks.header import MAX_HEIGHT
from chain.blocks.votes import MAX_ROUND
from chain.errors import RuleViolation
from chain.hashing import HASH_SIZE, tagged_hash
from chain.staking.validators import ValidatorSet

MODIFIER_BITS = 8 * HASH_SIZE  # 256: one per block hash read
GENESIS_HEIGHT = 0


class ElectionError(RuleViolation):
    code = "invalid_election_input"


def bit(data: bytes, i: int) -> int:
    """Bit i of `data`, most significant bit of the first byte first."""
    return (data[i >> 3] >> (7 - (i & 7))) & 1


def modifier_source_height(height: int, i: int) -> int:
    """The height of the block whose hash gives bit i of the modifier of `height`."""
    return max(height - 1 - i, GENESIS_HEIGHT)


def stake_modifier(height: int, hash_at: Callable[[int], bytes]) -> bytes:
    """The stake modifier of `height` (>= 1): bit i is bit i of the hash of block height-1-i,
    genesis standing in for heights below 0. `hash_at(k)` is asked only for 0 <= k < height.

    Grinding is limited to one bit per proposed block: a proposer picks the one bit its block
    gives to each later modifier, and no other.
    """
    if not 1 <= height <= MAX_HEIGHT:
        raise ElectionError(f"stake modifier height {height} is not in 1..{MAX_HEIGHT}")
    hashes: dict[int, bytes] = {}
    bits = 0
    for i in range(MODIFIER_BITS):
        source = modifier_source_height(height, i)
        if source not in hashes:
            hashes[source] = _block_hash(hash_at, source)
        bits = (bits << 1) | bit(hashes[source], i)
    return tagged_hash(b"gc/stake-mod", bits.to_bytes(HASH_SIZE, "big"))


def _block_hash(hash_at: Callable[[int], bytes], height: int) -> bytes:
    block_hash = hash_at(height)
    if len(block_hash) != HASH_SIZE:
        raise ElectionError(
            f"block hash at height {height} is {len(block_hash)} bytes, not {HASH_SIZE}"
        )
    return block_hash


def proposer_draw(modifier: bytes, height: int, round_: int, total_stake: int) -> int:
    """A number in 0..total_stake-1 from the modifier, height and round. The 256-bit hash is
    reduced modulo a total of at most 2**56, so the bias is below 2**-200."""
    if len(modifier) != HASH_SIZE:
        raise ElectionError(f"stake modifier is {len(modifier)} bytes, not {HASH_SIZE}")
    if not 1 <= height <= MAX_HEIGHT:
        raise ElectionError(f"proposer height {height} is not in 1..{MAX_HEIGHT}")
    if not 0 <= round_ <= MAX_ROUND:
        raise ElectionError(f"proposer round {round_} is not in 0..{MAX_ROUND}")
    if total_stake < 1:
        raise ElectionError("the validator set has no blockstake")
    seed = tagged_hash(
        b"gc/proposer", modifier + height.to_bytes(8, "big") + round_.to_bytes(4, "big")
    )
    return int.from_bytes(seed, "big") % total_stake


def proposer(vset: ValidatorSet, modifier: bytes, height: int, round_: int) -> bytes:
    """The public key of the proposer of (height, round_): the first validator, in the set's
    (sorted) order, whose cumulative blockstake exceeds the draw."""
    draw = proposer_draw(modifier, height, round_, vset.total_power)
    cumulative = 0
    for validator in vset.validators:
        cumulative += validator.blockstake
        if draw < cumulative:
            return validator.public_key
    raise AssertionError("unreachable: the draw is below the total blockstake")


@dataclass(frozen=True)
class ModifierWindow:
    """The block hashes the stake modifier of `height` reads, so a node does not look up 256
    blocks per height: the hashes of heights max(0, height-256)..height-1, oldest first."""

    height: int
    hashes: tuple[bytes, ...]

    @staticmethod
    def start(genesis_hash: bytes) -> "ModifierWindow":
        """The window for height 1, when only the genesis block is final."""
        if len(genesis_hash) != HASH_SIZE:
            raise ElectionError(f"genesis hash is {len(genesis_hash)} bytes, not {HASH_SIZE}")
        return ModifierWindow(1, (genesis_hash,))

    def advance(self, block_hash: bytes) -> "ModifierWindow":
        """The window for the next height, once the block at `self.height` is final."""
        if len(block_hash) != HASH_SIZE:
            raise ElectionError(f"block hash is {len(block_hash)} bytes, not {HASH_SIZE}")
        return ModifierWindow(self.height + 1, (*self.hashes, block_hash)[-MODIFIER_BITS:])

    def hash_at(self, height: int) -> bytes:
        first = self.height - len(self.hashes)
        if not first <= height < self.height:
            raise ElectionError(f"height {height} is outside the window {first}..{self.height - 1}")
        return self.hashes[height - first]

    def modifier(self) -> bytes:
        return stake_modifier(self.height, self.hash_at)
