"""Stake-weighted proposer election seeded by the stake modifier: fairness, unpredictability
bounds and determinism. Everything is deterministic (hashes of fixed inputs, no randomness)."""

import math

import pytest

from chain.hashing import hash32
from chain.staking.validators import ValidatorSet, make_validator_set, validator_with_key
from consensus.election import (
    MODIFIER_BITS,
    ElectionError,
    ModifierWindow,
    bit,
    proposer,
    stake_modifier,
)
from tests.kit.support import dev_key


def chain_hashes(count: int, tag: bytes = b"block") -> list[bytes]:
    """Block hashes of a synthetic chain, heights 0..count-1."""
    return [hash32(tag + h.to_bytes(8, "big")) for h in range(count)]


def validator_set(stakes: list[int]) -> ValidatorSet:
    return make_validator_set(
        [validator_with_key(dev_key(f"v{i}"), stake) for i, stake in enumerate(stakes)]
    )


def flip_bit(data: bytes, i: int) -> bytes:
    out = bytearray(data)
    out[i >> 3] ^= 0x80 >> (i & 7)
    return bytes(out)


# Fairness: over N draws a validator with stake share p proposes N*p times on average, with
# binomial standard deviation sqrt(N*p*(1-p)). Allowing 5 standard deviations makes a false
# failure of a fair draw about 1 in 1.7 million per validator; the inputs are fixed, so the
# outcome is too, and an unfair draw (say, ignoring stake) misses by dozens of sigmas.
HEIGHTS = 2_500
ROUNDS = 8  # 20,000 draws
SIGMAS = 5


@pytest.mark.parametrize("stakes", [[1, 2, 3, 4], [1, 1, 1, 1], [5, 1, 1, 1_000]])
def test_proposer_shares_follow_stake(stakes: list[int]) -> None:
    vset = validator_set(stakes)
    hashes = chain_hashes(HEIGHTS + 1)
    counts = {v.public_key: 0 for v in vset.validators}
    window = ModifierWindow.start(hashes[0])
    for height in range(1, HEIGHTS + 1):
        modifier = window.modifier()
        for round_ in range(ROUNDS):
            counts[proposer(vset, modifier, height, round_)] += 1
        window = window.advance(hashes[height])
    draws = HEIGHTS * ROUNDS
    total = vset.total_power
    for v in vset.validators:
        p = v.blockstake / total
        sigma = math.sqrt(draws * p * (1 - p))
        expected = draws * p
        assert abs(counts[v.public_key] - expected) <= SIGMAS * sigma, (
            f"stake {v.blockstake}/{total}: {counts[v.public_key]} of {draws}, "
            f"expected {expected:.0f} +- {SIGMAS * sigma:.0f}"
        )


def test_bit_i_of_the_modifier_comes_from_bit_i_of_block_h_minus_1_minus_i() -> None:
    height = 300
    hashes = chain_hashes(height)
    base = stake_modifier(height, hashes.__getitem__)
    for i in (0, 1, 7, 8, 100, 255):
        changed = list(hashes)
        source = height - 1 - i
        # Flipping the bit the modifier reads changes it ...
        changed[source] = flip_bit(hashes[source], i)
        assert stake_modifier(height, changed.__getitem__) != base
        # ... while flipping any other bit of that block does not.
        changed[source] = flip_bit(hashes[source], (i + 1) % MODIFIER_BITS)
        assert stake_modifier(height, changed.__getitem__) == base


def test_each_block_gives_one_bit_to_each_of_the_next_256_modifiers() -> None:
    """A proposer controls one bit of each later modifier: only the bit it reads matters."""
    hashes = chain_hashes(600)
    source = 299
    for height in (300, 301, 400, 555):
        i = height - 1 - source
        base = stake_modifier(height, hashes.__getitem__)
        changed = list(hashes)
        changed[source] = flip_bit(hashes[source], i)
        assert stake_modifier(height, changed.__getitem__) != base
    # Block 299 is out of reach for height 556 (it would be bit 256).
    changed = list(hashes)
    changed[source] = hash32(b"anything else")
    assert stake_modifier(556, changed.__getitem__) == stake_modifier(556, hashes.__getitem__)


def test_the_modifier_of_h_reads_no_block_at_or_above_h() -> None:
    hashes = chain_hashes(1_000)
    asked: list[int] = []

    def hash_at(height: int) -> bytes:
        asked.append(height)
        return hashes[height]

    for height in (1, 2, 100, 256, 257, 999):
        asked.clear()
        stake_modifier(height, hash_at)
        assert max(asked) == height - 1
        assert min(asked) == max(0, height - MODIFIER_BITS)
        # Replacing every block at or above h leaves it unchanged.
        other = hashes[:height] + chain_hashes(1_000, b"fork")[height:]
        assert stake_modifier(height, other.__getitem__) == stake_modifier(
            height, hashes.__getitem__
        )


def test_heights_below_zero_read_the_genesis_block() -> None:
    hashes = chain_hashes(3)
    # At height 3, bits 3..255 come from genesis: bit i of the modifier input is bit i of
    # hashes[2 - i] for i < 3 and of hashes[0] after.
    other_genesis = list(hashes)
    other_genesis[0] = hash32(b"another genesis")
    assert stake_modifier(3, hashes.__getitem__) != stake_modifier(3, other_genesis.__getitem__)
    only_genesis = [hashes[0]] * 3
    # Height 1 reads only genesis, so it matches any chain with the same genesis.
    assert stake_modifier(1, hashes.__getitem__) == stake_modifier(1, only_genesis.__getitem__)


def test_window_matches_the_direct_rule() -> None:
    hashes = chain_hashes(700)
    window = ModifierWindow.start(hashes[0])
    for height in range(1, 700):
        assert window.height == height
        assert len(window.hashes) == min(height, MODIFIER_BITS)
        if height % 37 == 0 or height in (1, 2, 255, 256, 257, 258):
            assert window.modifier() == stake_modifier(height, hashes.__getitem__)
        window = window.advance(hashes[height])


def test_rounds_give_different_proposers() -> None:
    vset = validator_set([1, 1, 1, 1])
    modifier = stake_modifier(10, chain_hashes(10).__getitem__)
    chosen = [proposer(vset, modifier, 10, r) for r in range(16)]
    assert len(set(chosen)) == 4  # every validator gets a turn within a few rounds
    assert chosen == [proposer(vset, modifier, 10, r) for r in range(16)]  # deterministic


def test_heights_and_modifiers_give_different_proposers() -> None:
    vset = validator_set([1, 1, 1, 1])
    modifier = stake_modifier(10, chain_hashes(10).__getitem__)
    assert len({proposer(vset, modifier, h, 0) for h in range(1, 17)}) > 1
    modifiers = [stake_modifier(10, chain_hashes(10, bytes([t])).__getitem__) for t in range(16)]
    assert len(set(modifiers)) == 16
    assert len({proposer(vset, m, 10, 0) for m in modifiers}) > 1


def test_a_single_validator_always_proposes() -> None:
    vset = validator_set([7])
    only = vset.validators[0].public_key
    for height in range(1, 50):
        modifier = hash32(height.to_bytes(8, "big"))
        assert all(proposer(vset, modifier, height, r) == only for r in range(5))


def test_bits_are_numbered_most_significant_first() -> None:
    assert [bit(b"\x80\x01", i) for i in (0, 1, 7, 8, 15)] == [1, 0, 0, 0, 1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stake_modifier(0, lambda h: b"\x00" * 32), "height 0"),
        (lambda: stake_modifier(5, lambda h: b"short"), "5 bytes"),
        (lambda: proposer(validator_set([1]), b"\x00" * 31, 1, 0), "31 bytes"),
        (lambda: proposer(validator_set([1]), b"\x00" * 32, 0, 0), "height 0"),
        (lambda: proposer(validator_set([1]), b"\x00" * 32, 1, -1), "round -1"),
        (lambda: proposer(ValidatorSet(()), b"\x00" * 32, 1, 0), "no blockstake"),
        (lambda: ModifierWindow.start(b"\x00" * 32).hash_at(1), "outside the window"),
    ],
)
def test_bad_inputs_are_named_errors(call: object, message: str) -> None:
    with pytest.raises(ElectionError, match=message) as info:
        call()  # type: ignore[operator]
    assert info.value.code == "invalid_election_input"
