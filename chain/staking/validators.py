"""Validators and their blockstake, the voting power of consensus."""

from dataclasses import dataclass
from typing import Any

from chain.encoding import encode, expect_bytes, expect_int, expect_list, expect_text
from chain.errors import EncodingError, RuleViolation
from chain.hashing import tagged_hash
from chain.keys import PUBLIC_KEY_SIZE

MAX_VALIDATORS = 256
MAX_BLOCKSTAKE = 2**48


class InvalidValidatorSet(RuleViolation):
    code = "invalid_validator_set"


@dataclass(frozen=True)
class Validator:
    public_key: bytes
    blockstake: int
    name: str = ""


@dataclass(frozen=True)
class ValidatorSet:
    """Validators sorted by public key, so the set has one encoding and one hash."""

    validators: tuple[Validator, ...]

    @property
    def total_power(self) -> int:
        return sum(v.blockstake for v in self.validators)

    def power_of(self, public_key: bytes) -> int:
        for v in self.validators:
            if v.public_key == public_key:
                return v.blockstake
        return 0


def validate_validator_set(vset: ValidatorSet) -> None:
    if not 1 <= len(vset.validators) <= MAX_VALIDATORS:
        raise InvalidValidatorSet(f"need 1 to {MAX_VALIDATORS} validators")
    keys = [v.public_key for v in vset.validators]
    if keys != sorted(set(keys)):
        raise InvalidValidatorSet("validators must be unique and sorted by public key")
    for v in vset.validators:
        if len(v.public_key) != PUBLIC_KEY_SIZE:
            raise InvalidValidatorSet(f"validator key {v.public_key.hex()} is not 32 bytes")
        if not 1 <= v.blockstake <= MAX_BLOCKSTAKE:
            raise InvalidValidatorSet(f"blockstake {v.blockstake} is not in 1..{MAX_BLOCKSTAKE}")


def make_validator_set(validators: list[Validator]) -> ValidatorSet:
    vset = ValidatorSet(tuple(sorted(validators, key=lambda v: v.public_key)))
    validate_validator_set(vset)
    return vset


def validator_set_to_value(vset: ValidatorSet) -> list[Any]:
    return [[v.public_key, v.blockstake, v.name] for v in vset.validators]


def validator_set_from_value(value: Any) -> ValidatorSet:
    validators = []
    for i, item in enumerate(expect_list(value, "validators", MAX_VALIDATORS)):
        entry = expect_list(item, f"validator {i}", 3)
        if len(entry) != 3:
            raise EncodingError(f"validator {i} must be [public_key, blockstake, name]")
        validators.append(
            Validator(
                expect_bytes(entry[0], f"validator {i} key", PUBLIC_KEY_SIZE),
                expect_int(entry[1], f"validator {i} blockstake", 1, MAX_BLOCKSTAKE),
                expect_text(entry[2], f"validator {i} name", 64),
            )
        )
    vset = ValidatorSet(tuple(validators))
    validate_validator_set(vset)
    return vset


def validator_set_hash(vset: ValidatorSet) -> bytes:
    return tagged_hash(b"gc/valset", encode(validator_set_to_value(vset)))


def validator_set_to_json(vset: ValidatorSet) -> list[dict[str, Any]]:
    return [
        {"public_key": v.public_key.hex(), "blockstake": v.blockstake, "name": v.name}
        for v in vset.validators
    ]
