"""Transactions: canonical bytes, ids, and the checks that need no state."""

from dataclasses import replace
from typing import Any

import pytest

from chain.address import key_address, multisig_address
from chain.encoding import decode, encode
from chain.errors import (
    EncodingError,
    InvalidAddress,
    InvalidPolicy,
    InvalidSignature,
    InvalidTransaction,
    WrongChain,
)
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import (
    MAX_TX_SIZE,
    CreateMultisig,
    SignedTx,
    Transfer,
    TxBody,
    TxSignature,
    UpdateMultisig,
    check_stateless,
    decode_tx,
    sign_tx,
    signed_tx_to_value,
    tx_id,
    tx_to_json,
)

CHAIN = "gridchain-test"
ALICE, BOB, CAROL, DAVE = (
    keypair_from_seed(hash32(b"tx/%s" % n)) for n in (b"a", b"b", b"c", b"d")
)
ALICE_ADDR = key_address(ALICE.public_key)
BOB_ADDR = key_address(BOB.public_key)
POLICY = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 2)
NEW_POLICY = make_policy([Signer(k.public_key, 1) for k in (BOB, CAROL, DAVE)], 2)
MULTISIG = multisig_address(ALICE_ADDR, 0)


def transfer_body(**changes: Any) -> TxBody:
    body = TxBody(CHAIN, ALICE_ADDR, 3, 5, Transfer(BOB_ADDR, 100))
    return replace(body, **changes)


def transfer_tx(**changes: Any) -> SignedTx:
    return sign_tx(transfer_body(**changes), [ALICE])


def create_tx() -> SignedTx:
    return sign_tx(TxBody(CHAIN, ALICE_ADDR, 0, 5, CreateMultisig(POLICY, 1000)), [ALICE])


def update_tx() -> SignedTx:
    body = TxBody(CHAIN, MULTISIG, 0, 5, UpdateMultisig(NEW_POLICY))
    return sign_tx(body, [ALICE, BOB, CAROL, DAVE])


def multisig_transfer_tx() -> SignedTx:
    body = TxBody(CHAIN, MULTISIG, 1, 5, Transfer(BOB_ADDR, 10))
    return sign_tx(body, [BOB, CAROL])


ALL_KINDS = [transfer_tx, create_tx, update_tx, multisig_transfer_tx]


# --- round trip and ids -------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_KINDS, ids=lambda f: f.__name__)
def test_decode_round_trip(make: Any) -> None:
    tx = make()
    decoded = decode_tx(tx.encoded)
    assert decoded == tx
    assert decoded.id == tx.id
    assert decoded.encoded == tx.encoded
    check_stateless(decoded, CHAIN)


def test_create_with_zero_amount_round_trips() -> None:
    tx = sign_tx(TxBody(CHAIN, ALICE_ADDR, 0, 1, CreateMultisig(POLICY, 0)), [ALICE])
    assert decode_tx(tx.encoded) == tx


def test_spend() -> None:
    assert transfer_tx().spend == 105
    assert create_tx().spend == 1005
    assert update_tx().spend == 5


def test_id_is_over_the_body_only() -> None:
    tx = transfer_tx()
    assert tx.id == tx_id(tx.body)
    # The same body with other signatures keeps its id.
    assert SignedTx(tx.body, ()).id == tx.id


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": "gridchain-other"},
        {"nonce": 4},
        {"fee": 6},
        {"sender": BOB_ADDR},
        {"payload": Transfer(BOB_ADDR, 101)},
        {"payload": Transfer(key_address(CAROL.public_key), 100)},
    ],
    ids=["chain id", "nonce", "fee", "sender", "amount", "recipient"],
)
def test_id_changes_with_every_body_field(change: dict[str, Any]) -> None:
    assert tx_id(transfer_body(**change)) != tx_id(transfer_body())


def test_signatures_are_sorted_whatever_the_key_order() -> None:
    body = TxBody(CHAIN, MULTISIG, 1, 5, Transfer(BOB_ADDR, 10))
    one = sign_tx(body, [CAROL, ALICE, BOB])
    two = sign_tx(body, [BOB, CAROL, ALICE])
    assert one == two
    assert list(one.signers) == sorted(one.signers)


def test_json_view() -> None:
    view = tx_to_json(create_tx())
    assert view["type"] == "multisig_create"
    assert view["sender"] == str(ALICE_ADDR)
    assert view["payload"]["amount"] == 1000
    assert view["payload"]["policy"]["threshold"] == 2
    assert tx_to_json(transfer_tx())["payload"] == {"to": str(BOB_ADDR), "amount": 100}


# --- stateless checks ---------------------------------------------------------------------------


def test_wrong_chain() -> None:
    with pytest.raises(WrongChain, match="gridchain-other"):
        check_stateless(transfer_tx(), "gridchain-other")


def test_unsigned() -> None:
    with pytest.raises(InvalidSignature, match="not signed"):
        check_stateless(SignedTx(transfer_body(), ()), CHAIN)


def test_signed_by_another_key() -> None:
    with pytest.raises(InvalidSignature, match="does not belong"):
        check_stateless(sign_tx(transfer_body(), [BOB]), CHAIN)


def test_signature_of_the_right_key_but_forged() -> None:
    tx = transfer_tx()
    forged = TxSignature(ALICE.public_key, BOB.sign(tx.id))
    with pytest.raises(InvalidSignature, match="does not verify"):
        check_stateless(SignedTx(tx.body, (forged,)), CHAIN)


@pytest.mark.parametrize("index", [0, 31, 63])
def test_tampered_signature(index: int) -> None:
    tx = transfer_tx()
    sig = bytearray(tx.signatures[0].signature)
    sig[index] ^= 0x80
    tampered = SignedTx(tx.body, (TxSignature(ALICE.public_key, bytes(sig)),))
    with pytest.raises(InvalidSignature, match="does not verify"):
        check_stateless(tampered, CHAIN)


@pytest.mark.parametrize(
    "change",
    [{"chain_id": "gridchain-other"}, {"nonce": 4}, {"fee": 1}, {"payload": Transfer(BOB_ADDR, 1)}],
    ids=["other chain", "other nonce", "lower fee", "other amount"],
)
def test_signature_over_another_body_is_refused(change: dict[str, Any]) -> None:
    """Replay: the signatures of one transaction carried onto an edited body."""
    original = transfer_tx()
    moved = SignedTx(transfer_body(**change), original.signatures)
    chain = moved.body.chain_id
    with pytest.raises(InvalidSignature, match="does not verify"):
        check_stateless(moved, chain)


def test_replay_onto_another_chain_through_bytes_is_refused() -> None:
    value = signed_tx_to_value(transfer_tx())
    value["body"]["chain_id"] = "gridchain-other"
    replayed = decode_tx(encode(value))
    with pytest.raises(InvalidSignature):
        check_stateless(replayed, "gridchain-other")
    with pytest.raises(WrongChain):
        check_stateless(replayed, CHAIN)


def test_duplicate_signatures() -> None:
    tx = multisig_transfer_tx()
    doubled = SignedTx(tx.body, (tx.signatures[0], tx.signatures[0]))
    with pytest.raises(InvalidTransaction, match="unique and sorted"):
        check_stateless(doubled, CHAIN)


def test_unsorted_signatures() -> None:
    tx = multisig_transfer_tx()
    flipped = SignedTx(tx.body, tuple(reversed(tx.signatures)))
    with pytest.raises(InvalidTransaction, match="unique and sorted"):
        check_stateless(flipped, CHAIN)


def test_key_sender_with_two_signatures() -> None:
    with pytest.raises(InvalidSignature, match="exactly one key"):
        check_stateless(sign_tx(transfer_body(), [ALICE, BOB]), CHAIN)


def test_transfer_to_self() -> None:
    with pytest.raises(InvalidTransaction, match="same account"):
        check_stateless(transfer_tx(payload=Transfer(ALICE_ADDR, 1)), CHAIN)


def test_multisig_transfer_to_self() -> None:
    body = TxBody(CHAIN, MULTISIG, 1, 5, Transfer(MULTISIG, 10))
    with pytest.raises(InvalidTransaction, match="same account"):
        check_stateless(sign_tx(body, [ALICE, BOB]), CHAIN)


def test_multisig_create_from_a_multisig_sender() -> None:
    body = TxBody(CHAIN, MULTISIG, 1, 5, CreateMultisig(POLICY, 10))
    with pytest.raises(InvalidTransaction, match="cannot create"):
        check_stateless(sign_tx(body, [ALICE, BOB]), CHAIN)


def test_multisig_update_from_a_key_sender() -> None:
    body = TxBody(CHAIN, ALICE_ADDR, 1, 5, UpdateMultisig(POLICY))
    with pytest.raises(InvalidTransaction, match="only a multisig"):
        check_stateless(sign_tx(body, [ALICE]), CHAIN)


def test_multisig_signature_by_outsider_still_verified() -> None:
    """Policy membership is a state check; the stateless check verifies every signature."""
    tx = multisig_transfer_tx()
    bad = TxSignature(DAVE.public_key, b"\x00" * 64)
    sigs = tuple(sorted((*tx.signatures, bad), key=lambda s: s.public_key))
    with pytest.raises(InvalidSignature, match=DAVE.public_key.hex()):
        check_stateless(SignedTx(tx.body, sigs), CHAIN)


# --- decode_tx refuses malformed bytes ----------------------------------------------------------


def test_oversize() -> None:
    with pytest.raises(EncodingError, match="exceeds"):
        decode_tx(b"\x00" * (MAX_TX_SIZE + 1))


def test_oversize_even_when_canonical() -> None:
    value = signed_tx_to_value(transfer_tx())
    value["signatures"] = [[ALICE.public_key, b"\x00" * 64]] * 32
    value["body"]["chain_id"] = "x" * 64
    data = encode(value)
    assert len(data) < MAX_TX_SIZE  # the largest legal signature list fits
    value["body"]["payload"] = {"to": BOB_ADDR.raw, "amount": 1, "memo": b"\x00" * MAX_TX_SIZE}
    with pytest.raises(EncodingError, match="exceeds"):
        decode_tx(encode(value))


def test_non_canonical_bytes() -> None:
    data = transfer_tx().encoded
    with pytest.raises(EncodingError, match="canonical"):
        decode_tx(data + b"\x00")


def mutated(change: Any) -> bytes:
    value = signed_tx_to_value(transfer_tx())
    change(value)
    return encode(value)


def _set(path: tuple[str, ...], new: Any) -> Any:
    def change(value: dict[str, Any]) -> None:
        for key in path[:-1]:
            value = value[key]
        value[path[-1]] = new

    return change


def _del(path: tuple[str, ...]) -> Any:
    def change(value: dict[str, Any]) -> None:
        for key in path[:-1]:
            value = value[key]
        del value[path[-1]]

    return change


MALFORMED = [
    ("tx extra field", _set(("extra",), 1), "transaction must have fields"),
    ("body extra field", _set(("body", "memo"), "hi"), "body must have fields"),
    ("payload extra field", _set(("body", "payload", "memo"), "hi"), "transfer must have fields"),
    ("tx missing signatures", _del(("signatures",)), "transaction must have fields"),
    ("body missing nonce", _del(("body", "nonce")), "body must have fields"),
    ("body missing fee", _del(("body", "fee")), "body must have fields"),
    ("payload missing amount", _del(("body", "payload", "amount")), "transfer must have fields"),
    ("nonce as text", _set(("body", "nonce"), "3"), "nonce must be an integer"),
    ("nonce negative", _set(("body", "nonce"), -1), "nonce -1 is outside"),
    ("nonce as bool", _set(("body", "nonce"), True), "nonce must be an integer"),
    ("fee as bytes", _set(("body", "fee"), b"\x05"), "fee must be an integer"),
    ("fee negative", _set(("body", "fee"), -5), "fee -5 is outside"),
    ("chain id as bytes", _set(("body", "chain_id"), b"gc"), "chain_id must be text"),
    ("chain id too long", _set(("body", "chain_id"), "x" * 65), "chain_id is longer"),
    ("sender as text", _set(("body", "sender"), str(ALICE_ADDR)), "sender must be bytes"),
    ("sender short", _set(("body", "sender"), ALICE_ADDR.raw[:-1]), "sender must be 33 bytes"),
    ("recipient short", _set(("body", "payload", "to"), b"\x01" * 32), "recipient must be 33"),
    ("amount zero", _set(("body", "payload", "amount"), 0), "amount 0 is outside"),
    ("amount above max", _set(("body", "payload", "amount"), 2**63), "amount .* is outside"),
    ("amount as text", _set(("body", "payload", "amount"), "100"), "amount must be an integer"),
    ("unknown type", _set(("body", "type"), "mint"), "unknown transaction type 'mint'"),
    ("type as int", _set(("body", "type"), 1), "type must be text"),
    ("payload not a map", _set(("body", "payload"), [1]), "transfer must be a map"),
    ("body not a map", _set(("body",), [1]), "body must be a map"),
    ("signatures not a list", _set(("signatures",), {}), "signatures must be a list"),
    ("signature not a pair", _set(("signatures",), [[ALICE.public_key]]), "signature 0"),
    ("signature triple", _set(("signatures",), [[ALICE.public_key, b"", b""]]), "signature 0"),
    ("signature short", _set(("signatures",), [[ALICE.public_key, b"\x00"]]), "signature 0"),
    ("signature key short", _set(("signatures",), [[b"\x00", b"\x00" * 64]]), "public key"),
    ("33 signatures", _set(("signatures",), [[ALICE.public_key, b"\x00" * 64]] * 33), "at most"),
]


@pytest.mark.parametrize(
    ("change", "pattern"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_decode_rejects_malformed_fields(change: Any, pattern: str) -> None:
    with pytest.raises(EncodingError, match=pattern):
        decode_tx(mutated(change))


def test_decode_rejects_unknown_address_type() -> None:
    raw = bytes([9]) + ALICE_ADDR.raw[1:]
    with pytest.raises(InvalidAddress, match="unknown address type"):
        decode_tx(mutated(_set(("body", "sender"), raw)))


def test_decode_rejects_invalid_policy() -> None:
    value = signed_tx_to_value(create_tx())
    value["body"]["payload"]["policy"]["threshold"] = 4
    with pytest.raises(InvalidPolicy, match="threshold 4"):
        decode_tx(encode(value))


def test_decode_rejects_payload_of_another_type() -> None:
    value = signed_tx_to_value(create_tx())
    value["body"]["type"] = "transfer"
    with pytest.raises(EncodingError, match="transfer must have fields"):
        decode_tx(encode(value))


def test_decode_rejects_non_map() -> None:
    with pytest.raises(EncodingError, match="transaction must be a map"):
        decode_tx(encode([1, 2]))


def test_decoded_value_is_exactly_what_was_signed() -> None:
    tx = update_tx()
    assert decode(tx.encoded) == signed_tx_to_value(tx)
