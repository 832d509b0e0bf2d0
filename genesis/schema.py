"""The genesis file format and its validation.

The file is JSON for people; `load_genesis` turns it into chain.genesis_state.GenesisState or
raises GenesisFileError listing every field that is wrong, by path.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from chain.address import parse_address
from chain.errors import LocalFault, RuleViolation
from chain.genesis_state import COUNCIL_ADDRESS, GenesisContract, GenesisState, genesis_writes
from chain.governance.txs import check_release_version
from chain.keys import KeyPair
from chain.ledger.policy import MAX_SIGNERS, MAX_WEIGHT, Signer, make_policy
from chain.ledger.transactions import MAX_AMOUNT, MAX_CODE_SIZE
from chain.params import (
    PARAM_BOUNDS,
    PARAM_NAMES,
    ChainParams,
    check_epoch_layout,
)
from chain.staking.validators import (
    MAX_BLOCKSTAKE,
    MAX_VALIDATORS,
    Validator,
    bls_registration,
    check_bls_registration,
    make_validator_set,
)
from contracts_std.standard import standard_contracts
from vm.machine import load_program

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HEX64 = validate.Regexp(r"^[0-9a-f]{64}\Z", error="must be 64 lowercase hex characters")
BLS_KEY_HEX = validate.Regexp(r"^[0-9a-f]{96}\Z", error="must be 96 lowercase hex characters")
BLS_SIGNATURE_HEX = validate.Regexp(
    r"^[0-9a-f]{192}\Z", error="must be 192 lowercase hex characters"
)


class GenesisFileError(LocalFault):
    code = "invalid_genesis"

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class BalanceSchema(StrictSchema):
    address = fields.String(required=True)
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_AMOUNT))

    @validates_schema
    def check_address(self, data: dict[str, Any], **_: Any) -> None:
        try:
            parse_address(data["address"])
        except RuleViolation as exc:
            raise ValidationError(exc.message, "address") from None


class ValidatorSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}\Z",
            error="must be 1-64 ASCII letters, digits, spaces, '.', '_' or '-'",
        ),
    )
    public_key = fields.String(required=True, validate=HEX64)
    bls_key = fields.String(required=True, validate=BLS_KEY_HEX)
    bls_pop = fields.String(required=True, validate=BLS_SIGNATURE_HEX)
    blockstake = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, MAX_BLOCKSTAKE)
    )

    @validates_schema
    def check_bls_key(self, data: dict[str, Any], **_: Any) -> None:
        if "bls_key" not in data or "bls_pop" not in data:
            return  # their own fields' errors say what is missing
        try:
            check_bls_registration(bytes.fromhex(data["bls_key"]), bytes.fromhex(data["bls_pop"]))
        except RuleViolation as exc:
            raise ValidationError(exc.message, "bls_key") from None


class SignerSchema(StrictSchema):
    public_key = fields.String(required=True, validate=HEX64)
    weight = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_WEIGHT))
    required = fields.Boolean(load_default=False)


class PolicySchema(StrictSchema):
    signers = fields.List(
        fields.Nested(SignerSchema), required=True, validate=validate.Length(1, MAX_SIGNERS)
    )
    threshold = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


BASIS_POINTS_ERROR = "must be basis points, {min}..{max} (10000 = 100%)"
BLOCKS_ERROR = "must be a number of blocks, {min}..{max}"


def _bounded(name: str) -> fields.Integer:
    """An integer parameter within the bounds the chain itself enforces (chain/params.py),
    the same a council proposal is held to."""
    low, high = PARAM_BOUNDS[name]
    if name.endswith("_bp"):
        error = BASIS_POINTS_ERROR
    elif name.endswith(("_blocks", "_window", "_age")):
        error = BLOCKS_ERROR
    else:
        error = "must be {min}..{max}"
    return fields.Integer(strict=True, validate=validate.Range(low, high, error=error))


def _release_version(version: str) -> None:
    try:
        check_release_version(version)
    except RuleViolation as exc:
        raise ValidationError(exc.message) from None


class _ParamsRules(StrictSchema):
    @validates_schema
    def check_epoch(self, data: dict[str, Any], **_: Any) -> None:
        try:
            check_epoch_layout(replace(ChainParams(), **data))
        except RuleViolation as exc:
            raise ValidationError(exc.message, "epoch_blocks") from None


ParamsSchema = _ParamsRules.from_dict(
    {name: _bounded(name) for name in PARAM_NAMES}, name="ParamsSchema"
)


class ContractSchema(StrictSchema):
    """A contract deployed at genesis: its code is checked as a deploy would check it."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z][a-z0-9_-]{0,63}\Z", error="must be 1-64 of a-z, 0-9, _ or -"
        ),
    )
    code = fields.String(required=True, validate=validate.Length(2, 2 * MAX_CODE_SIZE))

    @validates_schema
    def check_code(self, data: dict[str, Any], **_: Any) -> None:
        try:
            load_program(bytes.fromhex(data["code"]))
        except ValueError:
            raise ValidationError("must be hex", "code") from None
        except RuleViolation as exc:
            raise ValidationError(exc.message, "code") from None


class GenesisSchema(StrictSchema):
    chain_id = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9._-]{0,63}\Z",
            error="must be 1-64 characters of a-z, 0-9, '.', '_' or '-'",
        ),
    )
    genesis_time = fields.AwareDateTime(required=True, format="iso")
    balances = fields.List(fields.Nested(BalanceSchema), load_default=list)
    validators = fields.List(
        fields.Nested(ValidatorSchema),
        required=True,
        validate=validate.Length(1, MAX_VALIDATORS),
    )
    council = fields.Nested(PolicySchema, required=True)
    params = fields.Nested(ParamsSchema, load_default=dict)
    contracts = fields.List(fields.Nested(ContractSchema), load_default=list)
    # The release every block must be made by until the council plans an upgrade; absent, any.
    software_version = fields.String(load_default="", validate=lambda v: _release_version(v))

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> GenesisState:
        try:
            validators = make_validator_set(
                [
                    Validator(
                        bytes.fromhex(v["public_key"]),
                        bytes.fromhex(v["bls_key"]),
                        bytes.fromhex(v["bls_pop"]),
                        v["blockstake"],
                        v["name"],
                    )
                    for v in data["validators"]
                ]
            )
        except RuleViolation as exc:
            raise ValidationError(exc.message, "validators") from None
        try:
            council = make_policy(
                [
                    Signer(bytes.fromhex(s["public_key"]), s["weight"], s["required"])
                    for s in data["council"]["signers"]
                ],
                data["council"]["threshold"],
            )
        except RuleViolation as exc:
            raise ValidationError(exc.message, "council") from None
        genesis_ms = (data["genesis_time"] - EPOCH) // timedelta(milliseconds=1)
        if genesis_ms < 0:
            raise ValidationError("must not be before 1970", "genesis_time")
        gen = GenesisState(
            chain_id=data["chain_id"],
            genesis_time_ms=genesis_ms,
            balances=tuple((parse_address(b["address"]), b["amount"]) for b in data["balances"]),
            validators=validators,
            council=council,
            params=ChainParams(**data["params"]),
            contracts=tuple(
                GenesisContract(c["name"], bytes.fromhex(c["code"])) for c in data["contracts"]
            ),
            software_version=data["software_version"],
        )
        try:
            genesis_writes(gen)
        except RuleViolation as exc:
            raise ValidationError(exc.message, "balances") from None
        return gen


def parse_genesis(document: Any) -> GenesisState:
    try:
        result: GenesisState = GenesisSchema().load(document)
    except ValidationError as exc:
        errors = exc.normalized_messages()
        raise GenesisFileError(
            "genesis is invalid: " + "; ".join(flatten_errors(errors)),
            errors if isinstance(errors, dict) else {"_schema": errors},
        ) from None
    return result


def field_errors(errors: Any, path: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested messages as (field path, message) pairs, e.g. validators.0.name."""
    if isinstance(errors, dict):
        return [
            item
            for key in sorted(errors, key=str)
            for item in field_errors(errors[key], f"{path}.{key}" if path else str(key))
        ]
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(path, " ".join(errors))]
    return [(path, str(errors))]


def flatten_errors(errors: Any) -> list[str]:
    """The same pairs as 'field.path: message' lines."""
    return [f"{path}: {message}" for path, message in field_errors(errors)]


def load_genesis(path: str | Path) -> GenesisState:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GenesisFileError(f"cannot read genesis file {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenesisFileError(f"{path} is not JSON: {exc}") from None
    try:
        return parse_genesis(document)
    except GenesisFileError as exc:
        if exc.errors:  # the fields' own messages stay in `errors`; the file is named here
            raise GenesisFileError(f"{path}: {exc.message}", exc.errors) from None
        raise


def genesis_document(
    chain_id: str,
    genesis_time: datetime,
    validators: list[dict[str, Any]],
    council: dict[str, Any],
    balances: list[dict[str, Any]] | None = None,
    params: dict[str, int] | None = None,
    contracts: list[dict[str, str]] | None = None,
    software_version: str = "",
) -> dict[str, Any]:
    """A genesis file body; run it through parse_genesis before writing it.

    `contracts` defaults to the standard contracts (contracts_std), compiled here;
    `software_version` pins the release blocks are made by (none: any)."""
    extra = {"software_version": software_version} if software_version else {}
    return {
        **extra,
        "chain_id": chain_id,
        "genesis_time": genesis_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "balances": balances or [],
        "validators": validators,
        "council": council,
        "params": params or {},
        "contracts": standard_contract_documents() if contracts is None else contracts,
    }


def validator_document(key: KeyPair, blockstake: int, name: str) -> dict[str, Any]:
    """A genesis validator entry for the validator whose key is `key`: both its public keys
    and the proof of possession of the BLS one."""
    registration = bls_registration(key)
    return {
        "name": name,
        "public_key": key.public_key.hex(),
        "bls_key": registration.bls_key.hex(),
        "bls_pop": registration.proof.hex(),
        "blockstake": blockstake,
    }


def standard_contract_documents() -> list[dict[str, str]]:
    return [{"name": name, "code": code.hex()} for name, code in standard_contracts()]


__all__ = [
    "COUNCIL_ADDRESS",
    "GenesisFileError",
    "field_errors",
    "flatten_errors",
    "genesis_document",
    "load_genesis",
    "parse_genesis",
    "validator_document",
]
