"""The genesis file: a good document parses to a stable genesis; every mistake is named by path."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chain.address import key_address, multisig_address
from chain.blockchain import build_block, open_chain
from chain.genesis_state import COUNCIL_ADDRESS, genesis_hash
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.transactions import MAX_AMOUNT
from chain.params import ChainParams
from chain.store import ChainStore
from genesis.schema import (
    GenesisFileError,
    genesis_document,
    load_genesis,
    parse_genesis,
    validator_document,
)

V1, V2, C1, C2, ALICE, BOB = (
    keypair_from_seed(hash32(b"genesis/" + n))
    for n in (b"v1", b"v2", b"c1", b"c2", b"alice", b"bob")
)
ALICE_ADDR = str(key_address(ALICE.public_key))
BOB_ADDR = str(key_address(BOB.public_key))


def good_document() -> dict[str, Any]:
    return genesis_document(
        "gridchain-test.1",
        datetime(2026, 1, 1, 12, 30, 0, 250_000, tzinfo=UTC),
        [
            validator_document(V1, 60, "v1"),
            validator_document(V2, 40, "v2"),
        ],
        {
            "signers": [
                {"public_key": C1.public_key.hex(), "weight": 2, "required": True},
                {"public_key": C2.public_key.hex(), "weight": 1},
            ],
            "threshold": 3,
        },
        [{"address": ALICE_ADDR, "amount": 1_000_000}, {"address": BOB_ADDR, "amount": 5}],
        {"min_fee": 3, "block_interval_ms": 500},
        contracts=[],  # the standard contracts have a test of their own below
    )


# Pinned: the genesis hash names the chain, so it must not drift with refactoring.
# (Changed on purpose: when the slashing parameters, then the contract parameters and the
# genesis contracts, then the farming parameters, then the validators' BLS keys, joined what it
# covers.)
GOOD_GENESIS_HASH = "aefa2ea2b9a9968811731c7ed579a04527561d9b2adcb6f7695ba5eb022a22de"


# --- a good document ----------------------------------------------------------------------------


def test_good_document_parses() -> None:
    gen = parse_genesis(good_document())
    assert gen.chain_id == "gridchain-test.1"
    assert (
        gen.genesis_time_ms
        == int(datetime(2026, 1, 1, 12, 30, tzinfo=UTC).timestamp()) * 1000 + 250
    )
    assert [str(a) for a, _ in gen.balances] == [ALICE_ADDR, BOB_ADDR]
    assert [amount for _, amount in gen.balances] == [1_000_000, 5]
    assert [v.public_key for v in gen.validators.validators] == sorted(
        [V1.public_key, V2.public_key]
    )
    assert gen.validators.total_power == 100
    assert gen.council.threshold == 3
    required = {s.public_key: s.required for s in gen.council.signers}
    assert required == {C1.public_key: True, C2.public_key: False}
    assert gen.params == ChainParams(min_fee=3, block_interval_ms=500)


def test_defaults() -> None:
    doc = good_document()
    del doc["balances"], doc["params"]
    gen = parse_genesis(doc)
    assert gen.balances == ()
    assert gen.params == ChainParams()
    slashing = {
        name: getattr(gen.params, name)
        for name in (
            "double_sign_slash_bp",
            "downtime_window",
            "downtime_min_signed_bp",
            "downtime_slash_bp",
            "downtime_jail_blocks",
            "evidence_max_age",
        )
    }
    assert slashing == {
        "double_sign_slash_bp": 500,
        "downtime_window": 100,
        "downtime_min_signed_bp": 5000,
        "downtime_slash_bp": 100,
        "downtime_jail_blocks": 600,
        "evidence_max_age": 100_000,
    }


def test_slashing_params_are_read_from_the_file() -> None:
    doc = good_document()
    doc["params"] = {"double_sign_slash_bp": 10_000, "downtime_window": 1, "evidence_max_age": 7}
    params = parse_genesis(doc).params
    assert (params.double_sign_slash_bp, params.downtime_window) == (10_000, 1)
    assert params.evidence_max_age == 7


def test_genesis_hash_is_stable() -> None:
    first = genesis_hash(parse_genesis(good_document()))
    assert genesis_hash(parse_genesis(good_document())) == first
    # through JSON text, and with the object keys in another order
    assert genesis_hash(parse_genesis(json.loads(json.dumps(good_document())))) == first
    reordered = dict(reversed(list(good_document().items())))
    assert genesis_hash(parse_genesis(reordered)) == first
    # the same instant written in another time zone
    doc = good_document()
    doc["genesis_time"] = "2026-01-01T14:30:00.250+02:00"
    assert genesis_hash(parse_genesis(doc)) == first
    assert first.hex() == GOOD_GENESIS_HASH


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": "gridchain-test.2"},
        {"genesis_time": "2026-01-01T12:30:00.251Z"},
        {"params": {"min_fee": 4, "block_interval_ms": 500}},
    ],
)
def test_genesis_hash_changes_with_content(change: dict[str, Any]) -> None:
    doc = {**good_document(), **change}
    assert genesis_hash(parse_genesis(doc)).hex() != GOOD_GENESIS_HASH


def test_parsed_genesis_opens_a_working_chain(tmp_path: Path) -> None:
    gen = parse_genesis(good_document())
    store = ChainStore(str(tmp_path / "db"))
    try:
        header = open_chain(store, gen)
        assert header.prev_hash == genesis_hash(gen)
        result, _ = build_block(store, header, None, V1.public_key, header.time_ms + 1, [])
        assert result.block.height == 1
    finally:
        store.close()


# --- mistakes, each named by its path -----------------------------------------------------------


def mutate(path: str, value: Any) -> dict[str, Any]:
    """good_document() with the field at dotted `path` set (or deleted for value=DELETE)."""
    doc = copy.deepcopy(good_document())
    *parents, last = path.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()
V1_HEX = V1.public_key.hex()
MISTYPED = ALICE_ADDR[:10] + ("0" if ALICE_ADDR[10] != "0" else "1") + ALICE_ADDR[11:]

MISTAKES = [
    ("unknown field", mutate("colour", "blue"), "colour"),
    ("unknown nested field", mutate("params.gas", 1), "params.gas"),
    ("unknown validator field", mutate("validators.0.power", 1), "validators.0.power"),
    ("missing council", mutate("council", DELETE), "council"),
    ("chain_id upper case", mutate("chain_id", "GridChain"), "chain_id"),
    ("chain_id with space", mutate("chain_id", "grid chain"), "chain_id"),
    ("chain_id empty", mutate("chain_id", ""), "chain_id"),
    ("chain_id 65 characters", mutate("chain_id", "a" * 65), "chain_id"),
    ("chain_id leading dash", mutate("chain_id", "-grid"), "chain_id"),
    ("chain_id not text", mutate("chain_id", 7), "chain_id"),
    ("naive datetime", mutate("genesis_time", "2026-01-01T00:00:00"), "genesis_time"),
    ("not a datetime", mutate("genesis_time", "tomorrow"), "genesis_time"),
    ("before 1970", mutate("genesis_time", "1969-12-31T23:59:59Z"), "genesis_time"),
    (
        "duplicate validator key",
        mutate("validators.1", validator_document(V1, 1, "v2")),
        "validators",
    ),
    (
        "two validators with one BLS key",  # a key and its proof copied from another validator
        mutate(
            "validators.1", {**validator_document(V1, 1, "v2"), "public_key": V2.public_key.hex()}
        ),
        "validators",
    ),
    ("no BLS key", mutate("validators.0.bls_key", DELETE), "validators.0.bls_key"),
    ("no proof of possession", mutate("validators.0.bls_pop", DELETE), "validators.0.bls_pop"),
    ("BLS key short", mutate("validators.0.bls_key", "ab" * 47), "validators.0.bls_key"),
    (
        "another validator's proof of possession",
        mutate("validators.0.bls_pop", validator_document(V2, 1, "v2")["bls_pop"]),
        "validators.0.bls_key",
    ),
    (
        "BLS key the identity",
        mutate("validators.0.bls_key", "c0" + "00" * 47),
        "validators.0.bls_key",
    ),
    (
        "BLS key outside the subgroup",
        mutate("validators.0.bls_key", "8123456789abcdef0123456789abcdef0123456789abcdef" * 2),
        "validators.0.bls_key",
    ),
    (
        "validator key not hex",
        mutate("validators.0.public_key", "zz" * 32),
        "validators.0.public_key",
    ),
    (
        "validator key upper case",
        mutate("validators.0.public_key", V1_HEX.upper()),
        "validators.0.public_key",
    ),
    (
        "validator key short",
        mutate("validators.0.public_key", V1_HEX[:-2]),
        "validators.0.public_key",
    ),
    ("validator blockstake 0", mutate("validators.0.blockstake", 0), "validators.0.blockstake"),
    (
        "validator blockstake as text",
        mutate("validators.0.blockstake", "60"),
        "validators.0.blockstake",
    ),
    ("validator name empty", mutate("validators.0.name", ""), "validators.0.name"),
    ("no validators", mutate("validators", []), "validators"),
    ("mistyped balance address", mutate("balances.0.address", MISTYPED), "balances.0.address"),
    ("balance address not hex", mutate("balances.1.address", "x" * 80), "balances.1.address"),
    ("balance amount 0", mutate("balances.0.amount", 0), "balances.0.amount"),
    ("balance amount float", mutate("balances.0.amount", 1.0), "balances.0.amount"),
    ("balance amount too big", mutate("balances.0.amount", MAX_AMOUNT + 1), "balances.0.amount"),
    (
        "duplicate balance address",
        mutate("balances.1", {"address": ALICE_ADDR, "amount": 1}),
        "balances",
    ),
    (
        "balance for the council",
        mutate("balances.1", {"address": str(COUNCIL_ADDRESS), "amount": 1}),
        "balances",
    ),
    (
        "total supply too big",
        mutate("balances.1", {"address": BOB_ADDR, "amount": MAX_AMOUNT}),
        "balances",
    ),
    (
        "balance for a multisig address",
        mutate(
            "balances.1",
            {"address": str(multisig_address(key_address(BOB.public_key), 0)), "amount": 1},
        ),
        "balances",
    ),
    ("council threshold above weight", mutate("council.threshold", 4), "council"),
    ("council threshold 0", mutate("council.threshold", 0), "council.threshold"),
    ("council signer weight 0", mutate("council.signers.1.weight", 0), "council.signers.1.weight"),
    (
        "council signer key bad",
        mutate("council.signers.0.public_key", "00"),
        "council.signers.0.public_key",
    ),
    (
        "council duplicate signer",
        mutate("council.signers.1", {"public_key": C1.public_key.hex(), "weight": 1}),
        "council",
    ),
    ("council without signers", mutate("council.signers", []), "council.signers"),
    ("min_fee negative", mutate("params.min_fee", -1), "params.min_fee"),
    ("max_block_txs 0", mutate("params.max_block_txs", 0), "params.max_block_txs"),
    ("max_block_bytes tiny", mutate("params.max_block_bytes", 100), "params.max_block_bytes"),
    ("max_block_bytes huge", mutate("params.max_block_bytes", 2**30), "params.max_block_bytes"),
    ("block_interval_ms 0", mutate("params.block_interval_ms", 0), "params.block_interval_ms"),
    (
        "empty_block_interval_ms huge",
        mutate("params.empty_block_interval_ms", 10**9),
        "params.empty_block_interval_ms",
    ),
    (
        "double_sign_slash_bp above 100%",
        mutate("params.double_sign_slash_bp", 10_001),
        "params.double_sign_slash_bp",
    ),
    (
        "downtime_slash_bp negative",
        mutate("params.downtime_slash_bp", -1),
        "params.downtime_slash_bp",
    ),
    (
        "downtime_min_signed_bp above 100%",
        mutate("params.downtime_min_signed_bp", 20_000),
        "params.downtime_min_signed_bp",
    ),
    ("downtime_window 0", mutate("params.downtime_window", 0), "params.downtime_window"),
    ("downtime_window huge", mutate("params.downtime_window", 10**6), "params.downtime_window"),
    (
        "downtime_jail_blocks negative",
        mutate("params.downtime_jail_blocks", -1),
        "params.downtime_jail_blocks",
    ),
    ("evidence_max_age 0", mutate("params.evidence_max_age", 0), "params.evidence_max_age"),
    (
        "slash as a fraction",
        mutate("params.double_sign_slash_bp", 0.05),
        "params.double_sign_slash_bp",
    ),
]


@pytest.mark.parametrize(("doc", "path"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistakes_are_named_by_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(GenesisFileError) as info:
        parse_genesis(doc)
    message = info.value.message
    assert message.startswith("genesis is invalid: ")
    assert f" {path}: " in message or f"; {path}: " in message, message
    # The structured errors lead to the same place.
    node: Any = info.value.errors
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() and int(part) in node else node[part]
    assert node


def test_every_mistake_is_reported_at_once() -> None:
    doc = mutate("chain_id", "BAD")
    doc["params"]["min_fee"] = -1
    doc["validators"][0]["blockstake"] = 0
    with pytest.raises(GenesisFileError) as info:
        parse_genesis(doc)
    for path in ("chain_id", "params.min_fee", "validators.0.blockstake"):
        assert path in info.value.message


@pytest.mark.parametrize("document", [[], "genesis", 7, None])
def test_document_that_is_not_an_object(document: Any) -> None:
    with pytest.raises(GenesisFileError, match="_schema"):
        parse_genesis(document)


@pytest.mark.parametrize("chain_id", ["gridchain\n", "a" * 64 + "\n"], ids=["short", "64 chars"])
def test_chain_id_with_trailing_newline_is_refused(chain_id: str) -> None:
    with pytest.raises(GenesisFileError, match="chain_id"):
        parse_genesis(mutate("chain_id", chain_id))


def test_validator_name_longer_than_64_bytes_is_refused() -> None:
    with pytest.raises(GenesisFileError, match=r"validators\.0\.name"):
        parse_genesis(mutate("validators.0.name", "é" * 64))


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2026-01-01T12:30:00.250Z", 1_767_270_600_250),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.001Z", 1),
        ("2026-01-01T12:30:00.999999Z", 1_767_270_600_999),  # truncated to the millisecond
    ],
)
def test_genesis_time_in_milliseconds(text: str, expected_ms: int) -> None:
    assert parse_genesis(mutate("genesis_time", text)).genesis_time_ms == expected_ms


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [("1970-01-01T00:00:01.001Z", 1_001), ("2526-06-01T00:42:50.266Z", 17_558_728_970_266)],
)
def test_genesis_time_is_exact_to_the_millisecond(text: str, expected_ms: int) -> None:
    assert parse_genesis(mutate("genesis_time", text)).genesis_time_ms == expected_ms


def test_validator_name_of_64_ascii_characters_is_fine(tmp_path: Path) -> None:
    gen = parse_genesis(mutate("validators.0.name", "v" * 64))
    store = ChainStore(str(tmp_path / "db"))
    try:
        header = open_chain(store, gen)
        build_block(store, header, None, V1.public_key, header.time_ms + 1, [])
    finally:
        store.close()


# --- files --------------------------------------------------------------------------------------


def test_load_genesis_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(good_document(), indent=2))
    assert genesis_hash(load_genesis(path)).hex() == GOOD_GENESIS_HASH
    assert genesis_hash(load_genesis(str(path))).hex() == GOOD_GENESIS_HASH


def test_load_genesis_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenesisFileError, match="cannot read"):
        load_genesis(tmp_path / "nope.json")


def test_load_genesis_directory(tmp_path: Path) -> None:
    with pytest.raises(GenesisFileError, match="cannot read"):
        load_genesis(tmp_path)


@pytest.mark.parametrize("text", ["", "{", "{'chain_id': 'x'}", "chain_id: x\n"])
def test_load_genesis_not_json(tmp_path: Path, text: str) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(text)
    with pytest.raises(GenesisFileError, match="not JSON"):
        load_genesis(path)


def test_load_genesis_invalid_content(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(mutate("chain_id", "BAD")))
    with pytest.raises(GenesisFileError, match="chain_id"):
        load_genesis(path)


def test_standard_contracts_are_in_a_default_genesis() -> None:
    document = good_document()
    del document["contracts"]
    gen = parse_genesis(genesis_document(**_defaults_of(document)))
    assert [c.name for c in gen.contracts] == ["workload"]


def _defaults_of(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "chain_id": document["chain_id"],
        "genesis_time": datetime(2026, 1, 1, tzinfo=UTC),
        "validators": document["validators"],
        "council": document["council"],
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [("zz", "must be hex"), ("00", "module must be"), ("a0", "module must have fields")],
)
def test_a_genesis_contract_with_bad_code_is_refused(code: str, message: str) -> None:
    document = good_document()
    document["contracts"] = [{"name": "mine", "code": code}]
    with pytest.raises(GenesisFileError) as info:
        parse_genesis(document)
    assert "contracts.0.code" in info.value.message and message in info.value.message
