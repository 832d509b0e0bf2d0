"""Addresses: a type byte and a 32-byte hash, written as hex with a checksum.

As in Rivine, the text form carries a 6-byte checksum, so a mistyped address is refused instead
of crediting an account nobody controls.
"""

from dataclasses import dataclass
from enum import IntEnum

from chain.errors import InvalidAddress
from chain.hashing import HASH_SIZE, hash32, tagged_hash

CHECKSUM_SIZE = 6
RAW_SIZE = 1 + HASH_SIZE
TEXT_SIZE = 2 * (RAW_SIZE + CHECKSUM_SIZE)


class AddressType(IntEnum):
    KEY = 1
    MULTISIG = 2
    CONTRACT = 3


_TYPE_BYTES = frozenset(t.value for t in AddressType)


@dataclass(frozen=True, order=True)
class Address:
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != RAW_SIZE:
            raise InvalidAddress(f"an address is {RAW_SIZE} bytes, got {len(self.raw)}")
        if self.raw[0] not in _TYPE_BYTES:
            raise InvalidAddress(f"unknown address type {self.raw[0]}")

    @property
    def type(self) -> AddressType:
        return AddressType(self.raw[0])

    def __str__(self) -> str:
        return (self.raw + _checksum(self.raw)).hex()

    def __repr__(self) -> str:
        return f"Address({self})"


def _checksum(raw: bytes) -> bytes:
    return hash32(raw)[:CHECKSUM_SIZE]


def parse_address(text: str) -> Address:
    """Parse the hex form; every kind of typo gives an InvalidAddress naming what is wrong."""
    text = text.strip().lower()
    if len(text) != TEXT_SIZE:
        raise InvalidAddress(f"address {text!r} has {len(text)} characters, expected {TEXT_SIZE}")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InvalidAddress(f"address {text!r} is not hex") from None
    raw, checksum = data[:RAW_SIZE], data[RAW_SIZE:]
    if _checksum(raw) != checksum:
        raise InvalidAddress(f"address {text!r} has a bad checksum (mistyped?)")
    return Address(raw)


def key_address(public_key: bytes) -> Address:
    """The address controlled by one ed25519 key."""
    return Address(bytes([AddressType.KEY]) + tagged_hash(b"gc/addr/key", public_key))


def multisig_address(creator: Address, nonce: int) -> Address:
    """The address a create-multisig transaction makes; unique per (creator, nonce)."""
    return Address(
        bytes([AddressType.MULTISIG])
        + tagged_hash(b"gc/addr/multisig", creator.raw + nonce.to_bytes(8, "big"))
    )


def named_multisig_address(name: str) -> Address:
    """Addresses of multisig accounts fixed at genesis, such as the governance council."""
    return Address(bytes([AddressType.MULTISIG]) + tagged_hash(b"gc/addr/named", name.encode()))


def contract_address(creator: Address, nonce: int) -> Address:
    """The address a deploy transaction gives its contract; unique per (creator, nonce)."""
    return Address(
        bytes([AddressType.CONTRACT])
        + tagged_hash(b"gc/addr/contract", creator.raw + nonce.to_bytes(8, "big"))
    )


def named_contract_address(name: str) -> Address:
    """Addresses of the standard contracts deployed at genesis."""
    return Address(
        bytes([AddressType.CONTRACT]) + tagged_hash(b"gc/addr/named-contract", name.encode())
    )
