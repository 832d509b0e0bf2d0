"""The storage layout: how a map item's storage key is made from the map's name and the key.

Apart from the compiler because tools outside it (reading a contract's storage, tests) need the
same encoding, and it must be one piece of code.
"""

from chain.ledger.transactions import Value


def encode_map_key(key: Value) -> bytes:
    """A map key's bytes: bytes as is, str as UTF-8, int as its decimal text, bool as one byte."""
    if isinstance(key, bool):
        return b"\x01" if key else b"\x00"
    if isinstance(key, int):
        return str(key).encode()
    if isinstance(key, bytes):
        return key
    return key.encode()


def map_prefix(map_name: str) -> bytes:
    """Identifiers hold no ':', so the first ':' of a storage key ends the map's name."""
    return map_name.encode() + b":"


def map_key(map_name: str, key: Value) -> bytes:
    """The storage key of `map_name[key]`, for reading contract storage from outside."""
    return map_prefix(map_name) + encode_map_key(key)
