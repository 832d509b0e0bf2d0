"""ed25519 keys, encrypted key files, and checksummed addresses."""

import copy
from typing import Any

import nacl.pwhash
import pytest

from chain.address import (
    RAW_SIZE,
    TEXT_SIZE,
    Address,
    AddressType,
    _checksum,
    key_address,
    multisig_address,
    named_multisig_address,
    parse_address,
)
from chain.errors import InvalidAddress, InvalidSignature
from chain.hashing import hash32
from chain.keys import (
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    KeyFileError,
    WrongPassphrase,
    decrypt_seed,
    encrypt_seed,
    generate_keypair,
    keypair_from_seed,
    require_signature,
    verify_signature,
)

# Minimal argon2id cost: key files in tests must be fast; the format is the same.
FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}

ALICE = keypair_from_seed(hash32(b"keys/alice"))
BOB = keypair_from_seed(hash32(b"keys/bob"))


# --- signatures ---------------------------------------------------------------------------------


def test_seed_determines_key() -> None:
    again = keypair_from_seed(hash32(b"keys/alice"))
    assert again.public_key == ALICE.public_key
    assert len(ALICE.public_key) == PUBLIC_KEY_SIZE
    assert ALICE.public_key != BOB.public_key


def test_seed_is_not_in_repr() -> None:
    assert ALICE.seed.hex() not in repr(ALICE)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_seed_of_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(KeyFileError, match="32 bytes"):
        keypair_from_seed(b"\x01" * size)


def test_generated_keys_differ() -> None:
    assert generate_keypair().public_key != generate_keypair().public_key


def test_sign_and_verify() -> None:
    signature = ALICE.sign(b"message")
    assert len(signature) == SIGNATURE_SIZE
    assert verify_signature(ALICE.public_key, b"message", signature)
    require_signature(ALICE.public_key, b"message", signature)


def test_verify_fails_for_another_message() -> None:
    signature = ALICE.sign(b"message")
    assert not verify_signature(ALICE.public_key, b"messagf", signature)
    assert not verify_signature(ALICE.public_key, b"", signature)
    with pytest.raises(InvalidSignature):
        require_signature(ALICE.public_key, b"other", signature)


def test_verify_fails_for_another_key() -> None:
    signature = ALICE.sign(b"message")
    assert not verify_signature(BOB.public_key, b"message", signature)
    with pytest.raises(InvalidSignature, match=BOB.public_key.hex()):
        require_signature(BOB.public_key, b"message", signature)


@pytest.mark.parametrize("index", [0, 1, 31, 32, 63])
def test_verify_fails_for_tampered_signature(index: int) -> None:
    signature = bytearray(ALICE.sign(b"message"))
    signature[index] ^= 0x01
    assert not verify_signature(ALICE.public_key, b"message", bytes(signature))


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        (ALICE.public_key, b""),
        (ALICE.public_key, ALICE.sign(b"message")[:63]),
        (ALICE.public_key, ALICE.sign(b"message") + b"\x00"),
        (ALICE.public_key[:31], ALICE.sign(b"message")),
        (b"", ALICE.sign(b"message")),
        (b"\xff" * 32, ALICE.sign(b"message")),  # not a curve point
        (b"\x00" * 32, b"\x00" * 64),
    ],
)
def test_malformed_key_or_signature_is_false_not_an_exception(
    public_key: bytes, signature: bytes
) -> None:
    assert verify_signature(public_key, b"message", signature) is False


# --- key files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyfile() -> dict[str, Any]:
    return encrypt_seed(ALICE.seed, "correct horse", **FAST)


def test_key_file_round_trip(keyfile: dict[str, Any]) -> None:
    assert decrypt_seed(keyfile, "correct horse") == ALICE.seed
    assert keyfile["public_key"] == ALICE.public_key.hex()
    assert ALICE.seed.hex() not in str(keyfile)


def test_key_file_survives_json() -> None:
    import json

    body = json.loads(json.dumps(encrypt_seed(BOB.seed, "pw", **FAST)))
    assert decrypt_seed(body, "pw") == BOB.seed


def test_encryption_is_salted() -> None:
    first = encrypt_seed(ALICE.seed, "pw", **FAST)
    second = encrypt_seed(ALICE.seed, "pw", **FAST)
    assert first["salt"] != second["salt"]
    assert first["ciphertext"] != second["ciphertext"]


@pytest.mark.parametrize("passphrase", ["", "correct hors", "Correct horse", "correct horse "])
def test_wrong_passphrase(keyfile: dict[str, Any], passphrase: str) -> None:
    with pytest.raises(WrongPassphrase):
        decrypt_seed(keyfile, passphrase)


def _flip_hex(text: str, index: int) -> str:
    digit = "0123456789abcdef"[(int(text[index], 16) + 1) % 16]
    return text[:index] + digit + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: f.update(ciphertext=_flip_hex(f["ciphertext"], 0)),
        lambda f: f.update(ciphertext=_flip_hex(f["ciphertext"], len(f["ciphertext"]) - 1)),
        lambda f: f.update(ciphertext=f["ciphertext"][:40]),
        lambda f: f.update(ciphertext=""),
        lambda f: f.update(salt=_flip_hex(f["salt"], 3)),
        lambda f: f.update(public_key=BOB.public_key.hex()),
        lambda f: f.update(public_key="00"),
        lambda f: f.update(version=2),
        lambda f: f.update(kdf="scrypt"),
        lambda f: f.update(salt="not hex"),
        lambda f: f.update(ciphertext=None),
        lambda f: f.update(opslimit="many"),
        lambda f: f.pop("salt"),
        lambda f: f.pop("public_key"),
        lambda f: f.clear(),
    ],
    ids=[
        "ciphertext first digit",
        "ciphertext last digit",
        "ciphertext truncated",
        "ciphertext empty",
        "salt changed",
        "public key of another key",
        "public key truncated",
        "version",
        "kdf",
        "salt not hex",
        "ciphertext null",
        "opslimit not a number",
        "salt missing",
        "public key missing",
        "empty object",
    ],
)
def test_tampered_key_file_is_refused(keyfile: dict[str, Any], tamper: Any) -> None:
    tampered = copy.deepcopy(keyfile)
    tamper(tampered)
    with pytest.raises(KeyFileError):
        decrypt_seed(tampered, "correct horse")


@pytest.mark.parametrize(
    "change",
    [{"salt": "00" * 8}, {"opslimit": 0}, {"memlimit": 0}],
    ids=["salt of 8 bytes", "opslimit 0", "memlimit 0"],
)
def test_key_file_with_out_of_range_kdf_parameters_is_a_key_file_error(
    keyfile: dict[str, Any], change: dict[str, Any]
) -> None:
    tampered = {**keyfile, **change}
    with pytest.raises(KeyFileError):
        decrypt_seed(tampered, "correct horse")


def test_key_file_not_a_mapping_is_refused() -> None:
    with pytest.raises(KeyFileError, match="malformed"):
        decrypt_seed([], "pw")  # type: ignore[arg-type]


# --- addresses ----------------------------------------------------------------------------------

ADDRESS = key_address(ALICE.public_key)


def test_key_address_shape() -> None:
    assert ADDRESS.type == AddressType.KEY
    assert len(ADDRESS.raw) == RAW_SIZE
    assert key_address(ALICE.public_key) == ADDRESS
    assert key_address(BOB.public_key) != ADDRESS


def test_address_text_round_trip() -> None:
    text = str(ADDRESS)
    assert len(text) == TEXT_SIZE
    assert text == text.lower()
    assert parse_address(text) == ADDRESS
    assert text in repr(ADDRESS)


def test_address_text_tolerates_case_and_surrounding_space() -> None:
    text = str(ADDRESS)
    assert parse_address(text.upper()) == ADDRESS
    assert parse_address(f"  {text}\n") == ADDRESS


def test_every_single_character_change_is_refused() -> None:
    """Any one hex digit replaced by any other (case-insensitively different) one."""
    text = str(ADDRESS)
    tried = 0
    for index, original in enumerate(text):
        for digit in "0123456789abcdef":
            if digit == original:
                continue
            typo = text[:index] + digit + text[index + 1 :]
            with pytest.raises(InvalidAddress):
                parse_address(typo)
            tried += 1
    assert tried == TEXT_SIZE * 15


def test_swapped_adjacent_characters_are_refused() -> None:
    text = str(ADDRESS)
    for index in range(len(text) - 1):
        if text[index] == text[index + 1]:
            continue
        typo = text[:index] + text[index + 1] + text[index] + text[index + 2 :]
        with pytest.raises(InvalidAddress, match="checksum"):
            parse_address(typo)


@pytest.mark.parametrize("cut", [1, 2, TEXT_SIZE])
def test_address_of_wrong_length_is_refused(cut: int) -> None:
    with pytest.raises(InvalidAddress, match="characters"):
        parse_address(str(ADDRESS)[:-cut])
    with pytest.raises(InvalidAddress, match="characters"):
        parse_address(str(ADDRESS) + "0" * cut)


@pytest.mark.parametrize("bad", ["g", "z", " ", "-", "é"])
def test_non_hex_address_is_refused(bad: str) -> None:
    text = str(ADDRESS)
    with pytest.raises(InvalidAddress):
        parse_address(text[:10] + bad + text[11:])


def test_non_hex_with_right_length_says_not_hex() -> None:
    text = "x" + str(ADDRESS)[1:]
    with pytest.raises(InvalidAddress, match="not hex"):
        parse_address(text)


def _text_with_valid_checksum(raw: bytes) -> str:
    return (raw + _checksum(raw)).hex()


@pytest.mark.parametrize("type_byte", [0, 4, 255])
def test_unknown_type_byte_is_refused(type_byte: int) -> None:
    raw = bytes([type_byte]) + ADDRESS.raw[1:]
    with pytest.raises(InvalidAddress, match="unknown address type"):
        parse_address(_text_with_valid_checksum(raw))
    with pytest.raises(InvalidAddress, match="unknown address type"):
        Address(raw)


@pytest.mark.parametrize("size", [0, RAW_SIZE - 1, RAW_SIZE + 1])
def test_raw_address_of_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(InvalidAddress, match="bytes"):
        Address(b"\x01" * size)


def test_multisig_address_type() -> None:
    address = multisig_address(ADDRESS, 0)
    assert address.type == AddressType.MULTISIG
    assert parse_address(str(address)) == address
    assert named_multisig_address("council").type == AddressType.MULTISIG


def test_key_and_multisig_addresses_never_collide_by_type() -> None:
    # Same 32-byte hash under another type byte is another address.
    as_multisig = Address(bytes([AddressType.MULTISIG]) + ADDRESS.raw[1:])
    assert as_multisig != ADDRESS
    assert str(as_multisig) != str(ADDRESS)


def test_multisig_address_differs_per_creator_and_nonce() -> None:
    creators = [ADDRESS, key_address(BOB.public_key)]
    nonces = [0, 1, 2, 255, 256, 2**32, 2**63 - 1]
    addresses = {multisig_address(c, n) for c in creators for n in nonces}
    assert len(addresses) == len(creators) * len(nonces)
    assert multisig_address(ADDRESS, 7) == multisig_address(ADDRESS, 7)


def test_named_multisig_addresses_differ_per_name() -> None:
    assert named_multisig_address("council") != named_multisig_address("council2")
    assert named_multisig_address("council") == named_multisig_address("council")
