"""Colon-separated specs the CLI takes (a validator, a balance, a council signer): split and
checked once, so `genesis new` and the council's transactions read a validator alike."""

from typing import Any

from chain.errors import RuleViolation
from chain.keys import PUBLIC_KEY_SIZE
from chain.staking.txs import ValidatorAdd
from chain.staking.validators import check_bls_registration
from node.cli.common import CliError

VALIDATOR_SHAPE = "PUBKEY_HEX:BLS_KEY_HEX:BLS_POP_HEX:BLOCKSTAKE[:NAME]"


def spec_parts(spec: str, option: str, shape: str, low: int, high: int) -> list[str]:
    """`spec` split at colons into `low` to `high` parts, the first `low` not empty."""
    parts = spec.split(":")
    if not low <= len(parts) <= high or not all(parts[:low]):
        raise CliError(f"{option} {spec!r} must look like {shape}")
    return parts


def spec_integer(text: str, option: str, spec: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise CliError(f"{option} {spec!r}: {text!r} is not a whole number") from None


def validator_document(spec: str, option: str, default_name: str) -> dict[str, Any]:
    """A VALIDATOR_SHAPE spec as a genesis document's validator entry (keys in hex)."""
    parts = spec_parts(spec, option, VALIDATOR_SHAPE, 4, 5)
    return {
        "name": parts[4] if len(parts) == 5 else default_name,
        "public_key": parts[0].lower(),
        "bls_key": parts[1].lower(),
        "bls_pop": parts[2].lower(),
        "blockstake": spec_integer(parts[3], option, spec),
    }


def validator_add_from_spec(spec: str, option: str) -> ValidatorAdd:
    """The council's change adding the validator of a VALIDATOR_SHAPE spec, its proof of
    possession checked here, before anything is signed."""
    doc = validator_document(spec, option, "")
    try:
        change = ValidatorAdd(
            bytes.fromhex(doc["public_key"]),
            bytes.fromhex(doc["bls_key"]),
            bytes.fromhex(doc["bls_pop"]),
            doc["blockstake"],
            doc["name"],
        )
    except ValueError:
        raise CliError(f"{option} {spec!r}: the keys and the proof must be hex") from None
    try:
        check_bls_registration(change.bls_key, change.bls_pop)
    except RuleViolation as exc:
        raise CliError(f"{option} {spec!r}: {exc.message}") from None
    return change


def validator_key_from_hex(text: str, option: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != PUBLIC_KEY_SIZE:
        raise CliError(f"{option} {text!r} must be a validator's 32-byte ed25519 key in hex")
    return key
