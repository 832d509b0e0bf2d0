"""`gridchain genesis`: write and check genesis files."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chain.genesis_state import GenesisState, genesis_hash
from chain.params import PARAM_NAMES
from genesis.schema import (
    GenesisFileError,
    genesis_document,
    load_genesis,
    parse_genesis,
)
from node.cli.common import CliError
from node.cli.output import emit, json_option
from node.cli.specs import VALIDATOR_SHAPE, spec_integer, spec_parts, validator_document
from node.config import (
    write_file_atomically,
)


@click.group()
def genesis() -> None:
    """Create and check genesis files."""


def _genesis_time(text: str | None) -> datetime:
    if text is None:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--genesis-time {text!r} is not an ISO 8601 time (e.g. 2025-01-01T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_genesis(
    chain_id: str,
    genesis_time: datetime,
    validators: Sequence[str],
    balances: Sequence[str],
    council: Sequence[str],
    threshold: int | None,
    params: Sequence[str],
) -> tuple[dict[str, Any], GenesisState]:
    """The genesis document for `genesis new`'s options, validated by parse_genesis."""
    validator_docs = []
    for i, spec in enumerate(validators):
        validator_docs.append(validator_document(spec, "--validator", f"validator{i}"))
    balance_docs = []
    for spec in balances:
        parts = spec_parts(spec, "--balance", "ADDRESS:AMOUNT", 2, 2)
        balance_docs.append(
            {"address": parts[0], "amount": spec_integer(parts[1], "--balance", spec)}
        )
    signers: list[dict[str, Any]] = []
    for spec in council:
        parts = spec_parts(spec, "--council", "PUBKEY_HEX:WEIGHT[:required]", 2, 3)
        if len(parts) == 3 and parts[2] != "required":
            raise CliError(f"--council {spec!r}: the third part can only be 'required'")
        signers.append(
            {
                "public_key": parts[0].lower(),
                "weight": spec_integer(parts[1], "--council", spec),
                "required": len(parts) == 3,
            }
        )
    if not validator_docs:
        raise CliError(f"at least one --validator {VALIDATOR_SHAPE} is needed")
    if not signers:
        raise CliError("at least one --council PUBKEY_HEX:WEIGHT[:required] is needed")
    param_values: dict[str, int] = {}
    for spec in params:
        name, sep, value = spec.partition("=")
        if not sep or name not in PARAM_NAMES:
            raise CliError(f"--param {spec!r} must be NAME=VALUE with NAME one of {PARAM_NAMES}")
        param_values[name] = spec_integer(value, "--param", spec)
    total_weight = sum(s["weight"] for s in signers)
    document = genesis_document(
        chain_id,
        genesis_time,
        validator_docs,
        {"signers": signers, "threshold": total_weight if threshold is None else threshold},
        balance_docs,
        param_values,
    )
    try:
        state = parse_genesis(document)
    except GenesisFileError as exc:
        raise GenesisFileError(
            "the genesis these options describe is invalid", exc.errors
        ) from None
    return document, state


def write_genesis(path: Path, document: dict[str, Any], force: bool = False) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} already exists (use --force to overwrite)", "file_exists")
    write_file_atomically(path, json.dumps(document, indent=2) + "\n")


def genesis_summary(state: GenesisState) -> dict[str, Any]:
    return {
        "chain_id": state.chain_id,
        "genesis_hash": genesis_hash(state).hex(),
        "genesis_time_ms": state.genesis_time_ms,
        "validators": len(state.validators.validators),
        "accounts": len(state.balances),
    }


@genesis.command("new")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the genesis file.",
)
@click.option("--chain-id", required=True, help="The chain's name, e.g. acme-infra-1.")
@click.option(
    "--validator",
    "validators",
    multiple=True,
    metavar=VALIDATOR_SHAPE,
    help="A validator (repeat for more): the first three parts are what `gridchain node "
    "show-validator` prints as its validator spec.",
)
@click.option(
    "--balance",
    "balances",
    multiple=True,
    metavar="ADDRESS:AMOUNT",
    help="An initial balance in base units (repeat for more).",
)
@click.option(
    "--council",
    multiple=True,
    metavar="PUBKEY_HEX:WEIGHT[:required]",
    help="A governance council signer (repeat for more).",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    help="Council weight needed to act [default: the total weight].",
)
@click.option("--genesis-time", metavar="ISO", help="Chain start time [default: now].")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help=f"A chain parameter ({', '.join(PARAM_NAMES)}).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
def genesis_new(
    output: Path,
    chain_id: str,
    validators: tuple[str, ...],
    balances: tuple[str, ...],
    council: tuple[str, ...],
    threshold: int | None,
    genesis_time: str | None,
    params: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Write a new genesis file (validated before it is written)."""
    document, state = build_genesis(
        chain_id, _genesis_time(genesis_time), validators, balances, council, threshold, params
    )
    write_genesis(output, document, force)
    summary = genesis_summary(state)
    emit(
        as_json,
        {"file": str(output), **summary},
        [
            f"wrote {output}",
            f"chain id:     {state.chain_id}",
            f"genesis hash: {summary['genesis_hash']}",
        ],
    )


@genesis.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def genesis_validate(file: Path, as_json: bool) -> None:
    """Check a genesis file; every problem is listed by field path (exit 1 if any)."""
    summary = genesis_summary(load_genesis(file))
    emit(
        as_json,
        {"valid": True, "file": str(file), **summary},
        [
            f"OK: {file}",
            f"chain id:     {summary['chain_id']}",
            f"genesis hash: {summary['genesis_hash']}",
            f"validators:   {summary['validators']}",
            f"accounts:     {summary['accounts']}",
        ],
    )
