"""The council's validator-set transactions: add a validator, remove one, change its stake.

Only the governance council's multisig sends them (chain/staking/council.py holds their rules).
A change decided in block h is applied when block h+1 begins, so the set it makes signs from
block h+2 on: the header of h+1 names it as its next set, and the validator it adds has a
block's time to learn it is one.
"""

from dataclasses import dataclass
from typing import Any

from chain import bls
from chain.encoding import expect_bytes, expect_int, expect_list, expect_map, expect_text
from chain.errors import EncodingError
from chain.keys import PUBLIC_KEY_SIZE
from chain.ledger.codec import PayloadCodec
from chain.staking.validators import MAX_BLOCKSTAKE, MAX_VALIDATOR_NAME


@dataclass(frozen=True)
class ValidatorAdd:
    """Add a validator with both its keys; `bls_pop` proves it holds the BLS key."""

    public_key: bytes
    bls_key: bytes
    bls_pop: bytes
    blockstake: int
    name: str


@dataclass(frozen=True)
class ValidatorRemove:
    """Take a validator out of the active set, or out of the jail book if it is jailed."""

    public_key: bytes


@dataclass(frozen=True)
class ValidatorSetStake:
    """Give an active validator another blockstake (its voting power)."""

    public_key: bytes
    blockstake: int


ValidatorChange = ValidatorAdd | ValidatorRemove | ValidatorSetStake


def _validator_add_to_value(payload: ValidatorAdd) -> dict[str, Any]:
    return {
        "public_key": payload.public_key,
        "bls_key": payload.bls_key,
        "bls_pop": payload.bls_pop,
        "blockstake": payload.blockstake,
        "name": payload.name,
    }


def _validator_add_from_value(value: Any) -> ValidatorAdd:
    f = expect_map(
        value, "validator_add", ("public_key", "bls_key", "bls_pop", "blockstake", "name")
    )
    return ValidatorAdd(
        expect_bytes(f["public_key"], "validator public_key", PUBLIC_KEY_SIZE),
        expect_bytes(f["bls_key"], "validator bls_key", bls.PUBLIC_KEY_SIZE),
        expect_bytes(f["bls_pop"], "validator bls_pop", bls.SIGNATURE_SIZE),
        expect_int(f["blockstake"], "validator blockstake", 1, MAX_BLOCKSTAKE),
        expect_text(f["name"], "validator name", MAX_VALIDATOR_NAME),
    )


def _validator_remove_to_value(payload: ValidatorRemove) -> dict[str, Any]:
    return {"public_key": payload.public_key}


def _validator_remove_from_value(value: Any) -> ValidatorRemove:
    f = expect_map(value, "validator_remove", ("public_key",))
    return ValidatorRemove(expect_bytes(f["public_key"], "validator public_key", PUBLIC_KEY_SIZE))


def _validator_set_stake_to_value(payload: ValidatorSetStake) -> dict[str, Any]:
    return {"public_key": payload.public_key, "blockstake": payload.blockstake}


def _validator_set_stake_from_value(value: Any) -> ValidatorSetStake:
    f = expect_map(value, "validator_set_stake", ("public_key", "blockstake"))
    return ValidatorSetStake(
        expect_bytes(f["public_key"], "validator public_key", PUBLIC_KEY_SIZE),
        expect_int(f["blockstake"], "validator blockstake", 1, MAX_BLOCKSTAKE),
    )


STAKING_CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("validator_add", ValidatorAdd, _validator_add_to_value, _validator_add_from_value),
    PayloadCodec(
        "validator_remove",
        ValidatorRemove,
        _validator_remove_to_value,
        _validator_remove_from_value,
    ),
    PayloadCodec(
        "validator_set_stake",
        ValidatorSetStake,
        _validator_set_stake_to_value,
        _validator_set_stake_from_value,
    ),
)


CHANGE_KINDS = {c.kind: c for c in STAKING_CODECS}
KIND_OF_CHANGE = {c.cls: c.kind for c in STAKING_CODECS}


def validator_change_to_value(change: ValidatorChange) -> list[Any]:
    """[kind, fields]: how a pending change is kept in the state."""
    kind = KIND_OF_CHANGE[type(change)]
    return [kind, CHANGE_KINDS[kind].to_value(change)]


def validator_change_from_value(value: Any) -> ValidatorChange:
    pair = expect_list(value, "validator change", 2)
    if len(pair) != 2:
        raise EncodingError("a validator change must be [kind, fields]")
    codec = CHANGE_KINDS.get(expect_text(pair[0], "validator change kind"))
    if codec is None:
        raise EncodingError(f"unknown validator change {pair[0]!r}")
    change: ValidatorChange = codec.from_value(pair[1])
    return change


def validator_change_to_json(change: ValidatorChange) -> dict[str, Any]:
    """The change's fields, bytes in hex."""
    value = CHANGE_KINDS[KIND_OF_CHANGE[type(change)]].to_value(change)
    return {name: v.hex() if isinstance(v, bytes) else v for name, v in value.items()}
