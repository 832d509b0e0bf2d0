"""Validators and their blockstake, the voting power of consensus.

A validator has two keys: its ed25519 key (votes, proposals, its identity and sort order) and
a BLS12-381 key (`chain.bls`) whose precommit signatures aggregate into the finality
certificate a light client checks with one pairing check. The BLS key is derived from the
ed25519 seed (`validator_bls_key`), so a validator keeps one secret; it is registered with a
proof of possession, checked wherever a key joins a set (`check_bls_registration`).
"""

import functools
from dataclasses import dataclass
from typing import Any

from chain import bls
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_list, expect_text
from chain.errors import EncodingError, InvalidBlsKey, RuleViolation
from chain.hashing import tagged_hash
from chain.keys import PUBLIC_KEY_SIZE, KeyPair, keypair_from_seed

MAX_VALIDATORS = 256
MAX_BLOCKSTAKE = 2**48
MAX_VALIDATOR_NAME = 64


class InvalidValidatorSet(RuleViolation):
    code = "invalid_validator_set"


@dataclass(frozen=True)
class Validator:
    public_key: bytes  # ed25519
    bls_key: bytes  # BLS12-381 G1, compressed
    # The proof of possession of bls_key, kept with it so that anyone handed a set (a light
    # client skipping to a set it has never seen) can check it, not only the chain at joining.
    bls_pop: bytes
    blockstake: int
    name: str = ""


@dataclass(frozen=True)
class ValidatorSet:
    """Validators sorted by public key, so the set has one encoding and one hash."""

    validators: tuple[Validator, ...]

    @property
    def total_power(self) -> int:
        return sum(v.blockstake for v in self.validators)

    def get(self, public_key: bytes) -> Validator | None:
        for v in self.validators:
            if v.public_key == public_key:
                return v
        return None

    def power_of(self, public_key: bytes) -> int:
        validator = self.get(public_key)
        return 0 if validator is None else validator.blockstake


def validate_validator_set(vset: ValidatorSet) -> None:
    if not 1 <= len(vset.validators) <= MAX_VALIDATORS:
        raise InvalidValidatorSet(f"need 1 to {MAX_VALIDATORS} validators")
    keys = [v.public_key for v in vset.validators]
    if keys != sorted(set(keys)):
        raise InvalidValidatorSet("validators must be unique and sorted by public key")
    # Two validators sharing a BLS key would let one holder's signature count for both bits
    # of a certificate (a key and its proof can be copied; the secret cannot).
    if len({v.bls_key for v in vset.validators}) != len(vset.validators):
        raise InvalidValidatorSet("two validators have the same BLS key")
    for v in vset.validators:
        if len(v.public_key) != PUBLIC_KEY_SIZE:
            raise InvalidValidatorSet(f"validator key {v.public_key.hex()} is not 32 bytes")
        if len(v.bls_key) != bls.PUBLIC_KEY_SIZE:
            raise InvalidValidatorSet(
                f"validator {v.public_key.hex()}'s BLS key is not {bls.PUBLIC_KEY_SIZE} bytes"
            )
        if len(v.bls_pop) != bls.SIGNATURE_SIZE:
            raise InvalidValidatorSet(
                f"validator {v.public_key.hex()}'s BLS proof of possession is not "
                f"{bls.SIGNATURE_SIZE} bytes"
            )
        if not 1 <= v.blockstake <= MAX_BLOCKSTAKE:
            raise InvalidValidatorSet(f"blockstake {v.blockstake} is not in 1..{MAX_BLOCKSTAKE}")


def make_validator_set(validators: list[Validator]) -> ValidatorSet:
    vset = ValidatorSet(tuple(sorted(validators, key=lambda v: v.public_key)))
    validate_validator_set(vset)
    return vset


def validator_set_to_value(vset: ValidatorSet) -> list[Any]:
    return [[v.public_key, v.bls_key, v.bls_pop, v.blockstake, v.name] for v in vset.validators]


def validator_set_from_value(value: Any) -> ValidatorSet:
    validators = []
    for i, item in enumerate(expect_list(value, "validators", MAX_VALIDATORS)):
        entry = expect_list(item, f"validator {i}", 5)
        if len(entry) != 5:
            raise EncodingError(
                f"validator {i} must be [public_key, bls_key, bls_pop, blockstake, name]"
            )
        validators.append(
            Validator(
                expect_bytes(entry[0], f"validator {i} key", PUBLIC_KEY_SIZE),
                expect_bytes(entry[1], f"validator {i} BLS key", bls.PUBLIC_KEY_SIZE),
                expect_bytes(entry[2], f"validator {i} BLS proof", bls.SIGNATURE_SIZE),
                expect_int(entry[3], f"validator {i} blockstake", 1, MAX_BLOCKSTAKE),
                expect_text(entry[4], f"validator {i} name", MAX_VALIDATOR_NAME),
            )
        )
    vset = ValidatorSet(tuple(validators))
    validate_validator_set(vset)
    return vset


def encode_validator_set(vset: ValidatorSet) -> bytes:
    """The set's canonical bytes: the state record, what its hash covers, what a node serves."""
    return encode(validator_set_to_value(vset))


DECODED_SETS = 16  # sets kept decoded: the active and last sets, and a few a light client met


@functools.lru_cache(maxsize=DECODED_SETS)
def decode_validator_set(data: bytes) -> ValidatorSet:
    """Cached by the bytes: a block reads the active and the last set several times (header
    links, signing info, downtime), and decoding one with its checks cost more than the rest of
    an empty block's rules. A decoded set is immutable, so one object serves every reader; bytes
    that fail raise every time (an exception is never cached)."""
    return validator_set_from_value(decode(data))


def validator_set_hash(vset: ValidatorSet) -> bytes:
    return encoded_set_hash(encode_validator_set(vset))


def encoded_set_hash(data: bytes) -> bytes:
    """The hash headers name a set by, from its canonical bytes."""
    return tagged_hash(b"gc/valset", data)


def validator_set_to_json(vset: ValidatorSet) -> list[dict[str, Any]]:
    return [
        {
            "public_key": v.public_key.hex(),
            "bls_key": v.bls_key.hex(),
            "bls_pop": v.bls_pop.hex(),
            "blockstake": v.blockstake,
            "name": v.name,
        }
        for v in vset.validators
    ]


# BLS keys


def validator_bls_key(key: KeyPair) -> bls.BlsKey:
    """The BLS key of the validator whose ed25519 key is `key`: KeyGen over a hash of the
    seed under its own tag, so one secret (the validator key file) restores both keys and
    neither key reveals anything about the other."""
    return bls.bls_keygen(tagged_hash(b"gc/bls-ikm", key.seed))


def validator_with_key(key: KeyPair, blockstake: int, name: str = "") -> Validator:
    """The validator whose ed25519 key is `key`, with its derived BLS key and its proof."""
    registration = bls_registration(key)
    return Validator(key.public_key, registration.bls_key, registration.proof, blockstake, name)


@dataclass(frozen=True)
class BlsRegistration:
    """What a validator publishes to join a set: its BLS key and the proof it holds it."""

    bls_key: bytes
    proof: bytes


def bls_registration(key: KeyPair) -> BlsRegistration:
    return _registration(key.seed)


@functools.lru_cache(maxsize=1024)
def _registration(seed: bytes) -> BlsRegistration:
    """Memoised: the proof is deterministic and costs a BLS signature."""
    bls_key = validator_bls_key(keypair_from_seed(seed))
    return BlsRegistration(bls_key.public_key, bls.prove_possession(bls_key))


def check_bls_registration(bls_key: bytes, proof: bytes) -> None:
    """A key may join a validator set only if it is a valid key (not the identity, in the
    subgroup) and its holder proved possession: without the proof a rogue key (one chosen as
    g^a minus the others') would let its owner forge a certificate of the whole set."""
    bls.key_validate(bls_key)
    if not possession_holds(bls_key, proof):
        raise InvalidBlsKey(f"the proof of possession for BLS key {bls_key.hex()} does not verify")


@functools.lru_cache(maxsize=4096)
def possession_holds(bls_key: bytes, proof: bytes) -> bool:
    """One proof-of-possession check (a pairing, ~2 ms), its verdict kept: a light client
    meets the same keys in every set it skips to. Pure, so keeping it changes no verdict."""
    return bls.verify_possession(bls_key, proof)
