"""The light client's rules: when a light block may be trusted, given one already trusted.

Adjacent (h to h+1): the new header names the parent and the set the trusted header announced
as its next (next_validators_hash), and its certificate holds more than 2/3 of that set.

Skipping (h to any later height): the new certificate holds more than 2/3 of its own set, and
its signers include more than 1/3 of the trusted set's blockstake (the same validators, both
keys alike). At least one honest validator of the trusted set then vouched for the new header,
whatever changed between, if fewer than 1/3 of the trusted set's stake is faulty. When the 1/3
check fails the client verifies a height in between first (bisection, `pivot`), and so reaches
any height with as few certificates as the set's changes allow.

Skipping trusts keys the client has never seen, so each signer outside the trusted set must
prove it holds its BLS key (the proof travels in the set record): else one made-up validator
with a rogue key (g^r minus the others' keys) would turn any bitmap into a valid aggregate and
count honest validators of the trusted set as signers who never signed.

Each check raises a named error: a certificate that fails is `LightBlockInvalid`; a skip the
trusted set cannot vouch for is `NotEnoughTrust`, which is no fault of the block.
"""

from collections.abc import Callable, Sequence

from chain.blocks.commit import check_commit, commit_signers
from chain.errors import InvalidBlock, RuleViolation
from chain.light.blocks import LightBlock
from chain.staking.validators import (
    Validator,
    ValidatorSet,
    check_bls_registration,
    validator_set_hash,
)

PIVOT_NUMERATOR, PIVOT_DENOMINATOR = 9, 16  # where bisection tries next, as CometBFT does


class LightBlockInvalid(RuleViolation):
    code = "invalid_light_block"


class NotEnoughTrust(RuleViolation):
    code = "not_enough_trust"


def check_light_block(chain_id: str, block: LightBlock) -> None:
    """The block is internally sound: this chain's, its set is the one its header names, and
    its certificate holds more than 2/3 of that set with one valid aggregate signature."""
    header = block.header
    if header.chain_id != chain_id:
        raise LightBlockInvalid(f"height {header.height} is of chain {header.chain_id!r}")
    if validator_set_hash(block.validators) != header.validators_hash:
        raise LightBlockInvalid(
            f"height {header.height}: the validator set does not hash to the header's "
            "validators_hash"
        )
    if block.commit is None:
        raise LightBlockInvalid(f"height {header.height} has no certificate")
    try:
        check_commit(chain_id, block.validators, block.commit, header)
    except InvalidBlock as exc:
        raise LightBlockInvalid(f"height {header.height}: {exc.message}") from None


def check_follows(trusted: LightBlock, untrusted: LightBlock) -> None:
    if untrusted.height <= trusted.height:
        raise LightBlockInvalid(
            f"height {untrusted.height} does not follow the trusted height {trusted.height}"
        )
    if untrusted.header.time_ms <= trusted.header.time_ms:
        raise LightBlockInvalid(
            f"height {untrusted.height} is not later than the trusted height {trusted.height}"
        )


def verify_adjacent(chain_id: str, trusted: LightBlock, untrusted: LightBlock) -> None:
    check_follows(trusted, untrusted)
    header = untrusted.header
    if header.height != trusted.height + 1:
        raise LightBlockInvalid(f"height {header.height} is not next to {trusted.height}")
    if header.prev_hash != trusted.header.hash:
        raise LightBlockInvalid(f"height {header.height} does not name the trusted header")
    if header.validators_hash != trusted.header.next_validators_hash:
        raise LightBlockInvalid(
            f"height {header.height} is signed by another set than height {trusted.height} "
            "named as its next"
        )
    check_light_block(chain_id, untrusted)


def vouching_power(trusted: ValidatorSet, signers: Sequence[Validator]) -> int:
    """The trusted set's blockstake among `signers`: validators of both, by both keys."""
    ours = {(v.public_key, v.bls_key): v.blockstake for v in trusted.validators}
    return sum(ours.get((v.public_key, v.bls_key), 0) for v in signers)


def check_new_signers(
    trusted: ValidatorSet, untrusted: LightBlock, signers: Sequence[Validator]
) -> None:
    """Every signer the trusted set does not hold (by both keys) proved possession of its BLS
    key; the trusted set's own keys were proven when they joined the chain."""
    known = {(v.public_key, v.bls_key) for v in trusted.validators}
    for v in signers:
        if (v.public_key, v.bls_key) in known:
            continue
        try:
            check_bls_registration(v.bls_key, v.bls_pop)
        except RuleViolation as exc:
            raise LightBlockInvalid(
                f"height {untrusted.height}: validator {v.public_key.hex()}: {exc.message}"
            ) from None


def verify_skipping(chain_id: str, trusted: LightBlock, untrusted: LightBlock) -> None:
    """The 1/3 count comes before the pairing checks: a skip the trusted set cannot vouch for
    costs no signature check, and bisection tries many."""
    check_follows(trusted, untrusted)
    if untrusted.commit is None:
        raise LightBlockInvalid(f"height {untrusted.height} has no certificate")
    try:
        signers = commit_signers(untrusted.commit, untrusted.validators)
    except InvalidBlock as exc:
        raise LightBlockInvalid(f"height {untrusted.height}: {exc.message}") from None
    power = vouching_power(trusted.validators, signers)
    total = trusted.validators.total_power
    if 3 * power <= total:
        raise NotEnoughTrust(
            f"height {untrusted.height} is signed by {power} of the {total} blockstake trusted "
            f"at height {trusted.height}; more than 1/3 is needed"
        )
    check_new_signers(trusted.validators, untrusted, signers)
    check_light_block(chain_id, untrusted)


def verify_light_block(chain_id: str, trusted: LightBlock, untrusted: LightBlock) -> None:
    """Trust `untrusted` given `trusted`, adjacent or skipping."""
    if untrusted.height == trusted.height + 1:
        verify_adjacent(chain_id, trusted, untrusted)
    else:
        verify_skipping(chain_id, trusted, untrusted)


def pivot(trusted_height: int, target_height: int) -> int:
    """The height to verify first when `target_height` cannot be reached in one skip."""
    span = target_height - trusted_height
    return trusted_height + max(1, span * PIVOT_NUMERATOR // PIVOT_DENOMINATOR)


def verify_to(
    chain_id: str,
    trusted: LightBlock,
    target: int,
    fetch: Callable[[int], LightBlock],
    verified: Callable[[LightBlock], None] = lambda block: None,
    max_blocks: int | None = None,
) -> LightBlock:
    """Trust the block at `target` starting from `trusted`, fetching the blocks it needs and
    bisecting where the trusted set cannot vouch for a skip; `verified` sees each block it
    comes to trust, in height order. With `max_blocks`, stops after trusting that many and
    returns the last (below `target` if the way is longer). Raises LightBlockInvalid for a
    block that fails."""
    if target < trusted.height:
        raise LightBlockInvalid(f"height {target} is below the trusted height {trusted.height}")
    fetched: dict[int, LightBlock] = {}
    height = target
    count = 0
    while trusted.height < target and (max_blocks is None or count < max_blocks):
        candidate = fetched.get(height) or fetch(height)
        if candidate.height != height:
            raise LightBlockInvalid(f"asked for height {height}, got {candidate.height}")
        fetched[height] = candidate
        try:
            verify_light_block(chain_id, trusted, candidate)
        except NotEnoughTrust:
            height = pivot(trusted.height, height)
            continue
        trusted = candidate
        verified(trusted)
        count += 1
        height = target
    return trusted


def double_signers(first: LightBlock, second: LightBlock) -> tuple[Validator, ...]:
    """Validators whose precommits are in both certificates of two different headers at one
    height (matched by both keys): each of them signed two blocks for one height."""
    if first.commit is None or second.commit is None:
        return ()
    other = {(v.public_key, v.bls_key) for v in commit_signers(second.commit, second.validators)}
    return tuple(
        v
        for v in commit_signers(first.commit, first.validators)
        if (v.public_key, v.bls_key) in other
    )
