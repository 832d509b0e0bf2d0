"""Punishing validators: double signing and downtime, and the way back (unjail).

Blockstake is voting power, not credits: a slash burns it. Every slash leaves at least 1, so a
validator set stays valid and a jailed validator has something to come back with.

Per-block order. `build_block` and `validate_block` both run, for a block at height h:

begin_block (before the transactions)
  (a) signatures: for each validator of the LAST set (the voters on block h-1) that is still
      active, record in its signing info whether block.last_commit carries its signature for
      height h-1. Skipped at height 1, which carries no commit.
  (b) LAST := the active set (the voters on block h); written only when it differs.
  (c) evidence, in block order: each must pass `check_evidence` (chain/blocks/evidence.py), name a
      validator that is not tombstoned, and be the block's only evidence against its validator;
      the validator loses double_sign_slash_bp of its blockstake and is jailed for ever
      (tombstoned).
the transactions, in order (among them `unjail`)
end_block (after them)
  (e) downtime: each active validator, in key order, tracked for at least downtime_window
      heights whose signed count in the window is below downtime_min_signed_bp / 10000 of the
      window loses downtime_slash_bp of its blockstake, is jailed until h + downtime_jail_blocks,
      and its signing info starts afresh.

Jailing never removes the last active validator: it is slashed and stays (a tombstoned one
keeps its jail-book entry, so it is never slashed for double signing again). Every change to the
active set takes effect from block h+1: the header of block h names the set read before (a).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chain.blocks.commit import Commit, commit_signers
from chain.blocks.evidence import MAX_EVIDENCE_PER_BLOCK, DuplicateVoteEvidence, check_evidence
from chain.env import BlockEnv
from chain.errors import InvalidEvidence, NotJailed, RuleViolation, StillJailed, Tombstoned
from chain.params import BASIS_POINTS, ChainParams
from chain.staking.validators import Validator, ValidatorSet, make_validator_set
from chain.state import (
    JAILED_FOREVER,
    JAILED_KEY,
    LAST_VALIDATORS_KEY,
    VALIDATORS_KEY,
    JailedValidator,
    Overlay,
    SigningInfo,
    jailed_record,
    jailed_validators,
    signing_info,
    signing_info_key,
    signing_info_record,
)

DOUBLE_SIGN = "double_sign"
DOWNTIME = "downtime"


@dataclass(frozen=True)
class Punishment:
    """What a block did to one validator (for logs and the API; not part of the state)."""

    validator: bytes
    reason: str  # DOUBLE_SIGN or DOWNTIME
    slashed: int  # blockstake burnt
    blockstake: int  # blockstake left
    jailed_until: int | None  # None: kept as the last active validator; JAILED_FOREVER
    tombstoned: bool


# Pure rules


def slash_amount(blockstake: int, slash_bp: int) -> int:
    """slash_bp basis points of the blockstake, rounded down, leaving at least 1."""
    return min(blockstake * slash_bp // BASIS_POINTS, blockstake - 1)


def record_vote(info: SigningInfo, height: int, signed: bool, window: int) -> SigningInfo:
    """`info` after recording height `height`; heights that left the window are dropped."""
    kept = tuple(m for m in info.missed if m > height - window)
    return SigningInfo(info.start_height, kept if signed else (*kept, height))


def is_down(info: SigningInfo, height: int, params: ChainParams) -> bool:
    """Tracked for a whole window up to `height`, and signed too few heights in it."""
    window = params.downtime_window
    if height - info.start_height + 1 < window:
        return False
    missed = sum(1 for m in info.missed if m > height - window)
    return (window - missed) * BASIS_POINTS < params.downtime_min_signed_bp * window


def without(vset: ValidatorSet, public_key: bytes) -> ValidatorSet:
    return make_validator_set([v for v in vset.validators if v.public_key != public_key])


def with_blockstake(vset: ValidatorSet, public_key: bytes, blockstake: int) -> ValidatorSet:
    return make_validator_set(
        [
            replace(v, blockstake=blockstake) if v.public_key == public_key else v
            for v in vset.validators
        ]
    )


def find_validator(vset: ValidatorSet, public_key: bytes) -> Validator:
    for v in vset.validators:
        if v.public_key == public_key:
            return v
    raise LookupError(f"validator {public_key.hex()} is not in the active set")


def find_jailed(jailed: tuple[JailedValidator, ...], public_key: bytes) -> JailedValidator | None:
    for j in jailed:
        if j.public_key == public_key:
            return j
    return None


def with_jailed(
    jailed: tuple[JailedValidator, ...], entry: JailedValidator
) -> tuple[JailedValidator, ...]:
    others = [j for j in jailed if j.public_key != entry.public_key]
    return tuple(sorted([*others, entry], key=lambda j: j.public_key))


# State changes


def write_signing_info(state: Overlay, public_key: bytes, info: SigningInfo) -> None:
    """Writes only a change, so a validator that keeps signing rewrites nothing."""
    record = signing_info_record(info)
    key = signing_info_key(public_key)
    if state.get_state(key) != record:
        state.set_state(key, record)


def punish(
    state: Overlay, public_key: bytes, reason: str, slash_bp: int, jailed_until: int
) -> Punishment:
    """Slash an active validator and jail it, unless it is the last one (then only slash)."""
    vset = state.validator_set()
    validator = find_validator(vset, public_key)
    slashed = slash_amount(validator.blockstake, slash_bp)
    left = validator.blockstake - slashed
    jailed = jailed_validators(state)
    earlier = find_jailed(jailed, public_key)
    tombstoned = reason == DOUBLE_SIGN or (earlier is not None and earlier.tombstoned)
    until = JAILED_FOREVER if tombstoned else jailed_until
    entry = JailedValidator(
        public_key, validator.bls_key, validator.bls_pop, left, validator.name, until, tombstoned
    )
    if len(vset.validators) == 1:
        state.set_validator_set(with_blockstake(vset, public_key, left))
        if tombstoned:
            state.set_state(JAILED_KEY, jailed_record(with_jailed(jailed, entry)))
        return Punishment(public_key, reason, slashed, left, None, tombstoned)
    state.set_validator_set(without(vset, public_key))
    state.set_state(JAILED_KEY, jailed_record(with_jailed(jailed, entry)))
    return Punishment(public_key, reason, slashed, left, until, tombstoned)


def record_signatures(env: BlockEnv, state: Overlay, last_commit: Commit | None) -> None:
    """Step (a): who of the last set signed the commit for the parent height."""
    if last_commit is None:
        return
    last = state.last_validator_set()
    signers = {v.public_key for v in commit_signers(last_commit, last)}
    active = state.validator_set()
    for v in last.validators:
        if active.power_of(v.public_key) == 0:
            continue  # jailed by the parent block: no longer tracked
        info = signing_info(state, v.public_key) or SigningInfo(last_commit.height)
        signed = v.public_key in signers
        updated = record_vote(info, last_commit.height, signed, env.params.downtime_window)
        write_signing_info(state, v.public_key, updated)


def rotate_last_set(state: Overlay) -> None:
    """Step (b): the active set, which votes on this block, becomes the LAST set."""
    active = state.get_state(VALIDATORS_KEY)
    if active is not None and state.get_state(LAST_VALIDATORS_KEY) != active:
        state.set_state(LAST_VALIDATORS_KEY, active)


def check_evidence_in_block(
    env: BlockEnv,
    state: Overlay,
    evidence: DuplicateVoteEvidence,
    seen: set[bytes],
) -> None:
    """Step (c)'s checks for one evidence, against the state as the block has left it so far."""
    if evidence.validator in seen:
        raise InvalidEvidence(
            f"the block already has evidence against validator {evidence.validator.hex()}"
        )
    params = env.params
    active = state.validator_set()
    check_evidence(env.chain_id, env.height, params.evidence_max_age, active, evidence)
    entry = find_jailed(jailed_validators(state), evidence.validator)
    if entry is not None and entry.tombstoned:
        raise InvalidEvidence(
            f"validator {evidence.validator.hex()} is already tombstoned for double signing"
        )


def apply_evidence(
    env: BlockEnv,
    state: Overlay,
    evidence: Sequence[DuplicateVoteEvidence],
    strict: bool,
) -> tuple[tuple[DuplicateVoteEvidence, ...], tuple[Punishment, ...]]:
    """Step (c). Strict (validation): the first bad evidence raises InvalidEvidence, naming its
    index. Not strict (building): bad evidence is left out, and at most MAX_EVIDENCE_PER_BLOCK
    are taken."""
    included: list[DuplicateVoteEvidence] = []
    punishments: list[Punishment] = []
    seen: set[bytes] = set()
    for index, item in enumerate(evidence):
        if not strict and len(included) >= MAX_EVIDENCE_PER_BLOCK:
            break
        try:
            check_evidence_in_block(env, state, item, seen)
        except RuleViolation as exc:
            if strict:
                raise InvalidEvidence(f"evidence {index}: {exc.message}") from None
            continue
        seen.add(item.validator)
        included.append(item)
        slash_bp = env.params.double_sign_slash_bp
        punishments.append(punish(state, item.validator, DOUBLE_SIGN, slash_bp, JAILED_FOREVER))
    return tuple(included), tuple(punishments)


def begin_block(
    env: BlockEnv,
    state: Overlay,
    last_commit: Commit | None,
    evidence: Sequence[DuplicateVoteEvidence],
    strict: bool = True,
) -> tuple[tuple[DuplicateVoteEvidence, ...], tuple[Punishment, ...]]:
    """Steps (a), (b), (c); returns the evidence applied and what it did."""
    record_signatures(env, state, last_commit)
    rotate_last_set(state)
    return apply_evidence(env, state, evidence, strict)


def end_block(env: BlockEnv, state: Overlay) -> tuple[Punishment, ...]:
    """Step (e): downtime, judged on the heights recorded up to h-1."""
    recorded = env.height - 1
    params = env.params
    punishments = []
    for v in state.validator_set().validators:
        info = signing_info(state, v.public_key)
        if info is None or not is_down(info, recorded, params):
            continue
        until = env.height + params.downtime_jail_blocks
        punishments.append(punish(state, v.public_key, DOWNTIME, params.downtime_slash_bp, until))
        write_signing_info(state, v.public_key, SigningInfo(env.height))
    return tuple(punishments)


# Unjail


def check_unjail(state: Overlay, public_key: bytes, height: int) -> JailedValidator:
    """An unjail at `height` is valid for a jailed, not tombstoned validator whose time is up."""
    entry = find_jailed(jailed_validators(state), public_key)
    if entry is None:
        raise NotJailed(f"validator {public_key.hex()} is not jailed")
    if entry.tombstoned:
        raise Tombstoned(
            f"validator {public_key.hex()} is tombstoned for double signing and cannot return"
        )
    if state.validator_set().power_of(public_key) > 0:
        raise NotJailed(f"validator {public_key.hex()} is active")
    if entry.jailed_until > height:
        raise StillJailed(
            f"validator {public_key.hex()} is jailed until height {entry.jailed_until}; "
            f"this is height {height}"
        )
    return entry


def unjail(state: Overlay, entry: JailedValidator, height: int) -> None:
    """Back into the active set (from the next block) with its blockstake; fresh signing info
    from height + 1, the first height it votes on."""
    vset = state.validator_set()
    back = Validator(entry.public_key, entry.bls_key, entry.bls_pop, entry.blockstake, entry.name)
    state.set_validator_set(make_validator_set([*vset.validators, back]))
    remaining = tuple(j for j in jailed_validators(state) if j.public_key != entry.public_key)
    state.set_state(JAILED_KEY, jailed_record(remaining))
    write_signing_info(state, entry.public_key, SigningInfo(height + 1))
