"""The council changes the validator set: add a validator, remove one, change its blockstake.

Timing. A change is decided by a transaction in block h (only the governance council's multisig
may send it) and kept as pending. When block h+1 begins (after its evidence is applied), the
pending changes are applied in the order they were decided, to the active set (the one that
votes on the next block), so:
  - the header of block h+1 names the changed set as its next set (next_validators_hash);
  - the changed set votes on block h+2 and signs its certificate;
  - a validator being added has the time of one block to see that it is one.

Checks. A change is checked when it is decided, against the roster (active set and jail book)
as the pending changes before it will leave it, and checked again when it is applied: what
happened in between (a validator jailed for downtime at the end of block h, tombstoned by
evidence at the start of h+1, unjailed in block h) can make it no longer apply, and then it is
dropped, with the reason in the audit log. Every decision, application and drop is an audit
entry of the council's account.

A validator joins with both its keys and a proof of possession of its BLS key, checked like a
genesis validator's (chain/staking/validators.py), so no key in a set can be a rogue key.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chain.encoding import (
    decode_stored,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    stored_record,
)
from chain.env import BlockEnv
from chain.errors import InvalidTransaction, NotOwner, RuleViolation, Tombstoned
from chain.genesis_state import COUNCIL_ADDRESS
from chain.hashing import HASH_SIZE, tagged_hash
from chain.ledger.audit import BLOCK_STEP, NO_TX, AuditEntry
from chain.ledger.transactions import SignedTx
from chain.staking.slashing import find_jailed, with_jailed
from chain.staking.txs import (
    KIND_OF_CHANGE,
    ValidatorAdd,
    ValidatorChange,
    ValidatorRemove,
    ValidatorSetStake,
    validator_change_from_value,
    validator_change_to_json,
    validator_change_to_value,
)
from chain.staking.validators import (
    MAX_VALIDATORS,
    Validator,
    check_bls_registration,
    make_validator_set,
)
from chain.state import (
    JAILED_KEY,
    JailedValidator,
    Overlay,
    StateReader,
    jailed_record,
    jailed_validators,
    signing_info_key,
)

PENDING_CHANGES_KEY = tagged_hash(b"gc/state/valchanges", b"")
MAX_PENDING_CHANGES = 2**16  # more than a block's transactions can decide


class InvalidValidatorChange(InvalidTransaction):
    code = "invalid_validator_change"


@dataclass(frozen=True)
class PendingChange:
    """A change decided in block `decided_at` by transaction `tx_id`, applied when the next
    block begins."""

    decided_at: int
    tx_id: bytes
    change: ValidatorChange


@dataclass(frozen=True)
class Roster:
    """Who is a validator: the active set, in key order, and the jail book."""

    active: tuple[Validator, ...]
    jailed: tuple[JailedValidator, ...]


# Pure rules


def find_active(roster: Roster, public_key: bytes) -> Validator | None:
    return next((v for v in roster.active if v.public_key == public_key), None)


def check_change(roster: Roster, change: ValidatorChange) -> None:
    """Raise the rule error that stops `change` applying to `roster`."""
    if isinstance(change, ValidatorAdd):
        check_add(roster, change)
    elif isinstance(change, ValidatorRemove):
        check_remove(roster, change.public_key)
    else:
        check_set_stake(roster, change.public_key)


def check_add(roster: Roster, add: ValidatorAdd) -> None:
    key = add.public_key.hex()
    if find_active(roster, add.public_key) is not None:
        raise InvalidValidatorChange(f"validator {key} is already in the active set")
    jailed = find_jailed(roster.jailed, add.public_key)
    if jailed is not None and jailed.tombstoned:
        raise Tombstoned(f"validator {key} is tombstoned for double signing and cannot return")
    if jailed is not None:
        raise InvalidValidatorChange(f"validator {key} is jailed: it returns with unjail")
    holders = [v.bls_key for v in roster.active] + [j.bls_key for j in roster.jailed]
    if add.bls_key in holders:
        raise InvalidValidatorChange(f"BLS key {add.bls_key.hex()} is another validator's")
    if len(roster.active) >= MAX_VALIDATORS:
        raise InvalidValidatorChange(f"the active set already has {MAX_VALIDATORS} validators")
    check_bls_registration(add.bls_key, add.bls_pop)


def check_remove(roster: Roster, public_key: bytes) -> None:
    key = public_key.hex()
    if find_active(roster, public_key) is not None:
        if len(roster.active) == 1:
            raise InvalidValidatorChange(f"validator {key} is the last active validator")
        return
    check_jailed_not_tombstoned(roster, public_key)


def check_set_stake(roster: Roster, public_key: bytes) -> None:
    if find_active(roster, public_key) is None:
        check_jailed_not_tombstoned(roster, public_key)


def check_jailed_not_tombstoned(roster: Roster, public_key: bytes) -> None:
    jailed = find_jailed(roster.jailed, public_key)
    if jailed is None:
        raise InvalidValidatorChange(f"{public_key.hex()} is not a validator")
    if jailed.tombstoned:
        raise Tombstoned(f"validator {public_key.hex()} is tombstoned: it is out for ever")


def apply_change(roster: Roster, change: ValidatorChange) -> Roster:
    """`roster` after `change`, which `check_change` accepted."""
    if isinstance(change, ValidatorAdd):
        added = Validator(
            change.public_key, change.bls_key, change.bls_pop, change.blockstake, change.name
        )
        return replace(roster, active=sorted_validators([*roster.active, added]))
    key = change.public_key
    if isinstance(change, ValidatorRemove):
        return Roster(
            tuple(v for v in roster.active if v.public_key != key),
            tuple(j for j in roster.jailed if j.public_key != key),
        )
    return restaked(roster, key, change.blockstake)


def restaked(roster: Roster, public_key: bytes, blockstake: int) -> Roster:
    """An active validator's blockstake changes now; a jailed one's when it returns."""
    if find_active(roster, public_key) is not None:
        return replace(
            roster,
            active=tuple(
                replace(v, blockstake=blockstake) if v.public_key == public_key else v
                for v in roster.active
            ),
        )
    entry = find_jailed(roster.jailed, public_key)
    assert entry is not None  # check_set_stake
    return replace(roster, jailed=with_jailed(roster.jailed, replace(entry, blockstake=blockstake)))


def sorted_validators(validators: Sequence[Validator]) -> tuple[Validator, ...]:
    return tuple(sorted(validators, key=lambda v: v.public_key))


def projected(roster: Roster, pending: Sequence[PendingChange]) -> Roster:
    """The roster the pending changes will leave, those that would be dropped left out."""
    for item in pending:
        try:
            check_change(roster, item.change)
        except RuleViolation:
            continue
        roster = apply_change(roster, item.change)
    return roster


# State


def read_roster(state: Overlay) -> Roster:
    return Roster(state.validator_set().validators, jailed_validators(state))


def write_roster(state: Overlay, before: Roster, after: Roster) -> None:
    """Write what changed; the signing info of a validator removed (active or jailed) goes,
    so if it is ever added again its record starts afresh."""
    if after.active != before.active:
        state.set_validator_set(make_validator_set(list(after.active)))
    if after.jailed != before.jailed:
        state.set_state(JAILED_KEY, jailed_record(after.jailed))
    kept = {v.public_key for v in after.active} | {j.public_key for j in after.jailed}
    known = [v.public_key for v in before.active] + [j.public_key for j in before.jailed]
    for gone in sorted(set(known) - kept):
        state.delete_state(signing_info_key(gone))


def pending_to_value(item: PendingChange) -> list[Any]:
    return [item.decided_at, item.tx_id, validator_change_to_value(item.change)]


def pending_from_value(value: Any) -> PendingChange:
    fields = expect_list(value, "pending validator change", 3)
    return PendingChange(
        expect_int(fields[0], "pending change height"),
        expect_bytes(fields[1], "pending change tx_id", HASH_SIZE),
        validator_change_from_value(fields[2]),
    )


@stored_record("pending validator changes")
def pending_changes(reader: StateReader) -> tuple[PendingChange, ...]:
    raw = reader.get_state(PENDING_CHANGES_KEY)
    if raw is None:
        return ()
    items = expect_list(decode_stored(raw), "pending validator changes", MAX_PENDING_CHANGES)
    return tuple(pending_from_value(item) for item in items)


def record(env: BlockEnv, state: Overlay, topic: str, item: PendingChange, **extra: object) -> None:
    """An audit entry of the council's account about `item`."""
    data = encode(
        {
            "kind": KIND_OF_CHANGE[type(item.change)],
            "change": validator_change_to_value(item.change)[1],
            "decided_at": item.decided_at,
            "tx_id": item.tx_id,
            **extra,
        }
    )
    council_entry(env, state, topic, data)


def council_entry(env: BlockEnv, state: Overlay, topic: str, data: bytes) -> None:
    """An audit entry of the council's account; one a transaction's rule makes gets that
    transaction's index and id when the transaction is applied (execution.stamped)."""
    state.audit.append(AuditEntry(env.height, BLOCK_STEP, NO_TX, COUNCIL_ADDRESS.raw, topic, data))


# The transaction rule and the block step


def decide_validator_change(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """The rule of ValidatorAdd, ValidatorRemove and ValidatorSetStake."""
    change = tx.body.payload
    if not isinstance(change, ValidatorAdd | ValidatorRemove | ValidatorSetStake):
        raise InvalidTransaction(f"a {type(change).__name__} is not a validator change")
    if tx.body.sender != COUNCIL_ADDRESS:
        raise NotOwner(f"only the governance council ({COUNCIL_ADDRESS}) changes the validators")
    decide_change(env, state, tx.id, change)


def decide_change(
    env: BlockEnv, state: Overlay, decided_by: bytes, change: ValidatorChange
) -> None:
    """Keep `change` as pending, checked against the roster the pending changes before it
    will leave; `decided_by` names what decided it (a transaction or a council proposal)."""
    pending = pending_changes(state)
    check_change(projected(read_roster(state), pending), change)
    item = PendingChange(env.height, decided_by, change)
    state.set_state(PENDING_CHANGES_KEY, encode([pending_to_value(p) for p in (*pending, item)]))
    record(env, state, "validator_change_decided", item, effective_height=env.height + 2)


def apply_validator_changes(env: BlockEnv, state: Overlay) -> None:
    """The block step: the changes the parent block decided, applied to the active set."""
    pending = pending_changes(state)
    if not pending:
        return
    before = roster = read_roster(state)
    for item in pending:
        try:
            check_change(roster, item.change)
        except RuleViolation as exc:
            record(env, state, "validator_change_dropped", item, reason=exc.message)
            continue
        roster = apply_change(roster, item.change)
        record(env, state, "validator_change_applied", item, effective_height=env.height + 1)
    write_roster(state, before, roster)
    state.delete_state(PENDING_CHANGES_KEY)


def pending_to_json(item: PendingChange) -> dict[str, Any]:
    return {
        "kind": KIND_OF_CHANGE[type(item.change)],
        "change": validator_change_to_json(item.change),
        "decided_at": item.decided_at,
        "effective_height": item.decided_at + 2,
        "tx_id": item.tx_id.hex(),
    }
