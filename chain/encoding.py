"""Canonical bytes: deterministic CBOR (RFC 8949 section 4.2) under a strict profile.

Everything that is signed or hashed goes through `encode`, and everything that arrives from
outside goes through `decode`, which accepts only bytes that `encode` would have produced. So one
value has exactly one encoding, and a signature or hash can never be moved to a look-alike.

The profile: maps with text keys; ints, bytes, text, bool, lists and maps. No floats, no tags,
no null, no indefinite lengths, no duplicate keys.
"""

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import cbor2

from chain.errors import CorruptRecord, EncodingError, RuleViolation

MAX_DEPTH = 32
# Integers are bounded to what CBOR encodes without tags (major types 0 and 1).
MAX_INT = 2**64 - 1
MIN_INT = -(2**64)

Encodable = int | bytes | str | bool | list["Encodable"] | dict[str, "Encodable"]
"""What the canonical encoding encodes: a tree of these, nothing else (docs/encoding.md)."""


def _check(value: Any, depth: int) -> None:
    """Walk a value and refuse anything outside the profile (exact types: this is a hot path)."""
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH}")
    kind = type(value)
    if kind is bytes or kind is str or kind is bool:
        return
    if kind is int:
        if not MIN_INT <= value <= MAX_INT:
            raise EncodingError(f"integer {value} is outside the 64-bit CBOR range")
        return
    if kind is list or kind is tuple:
        for item in value:
            _check(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(f"map key {key!r} is not text")
            _check(item, depth + 1)
        return
    raise EncodingError(f"type {kind.__name__} is not allowed in canonical encoding")


def encode(value: Any) -> bytes:
    """Canonical CBOR bytes of `value`; raises EncodingError for anything outside the profile."""
    _check(value, 0)
    return bytes(cbor2.dumps(value, canonical=True))


def encode_decoded(value: Any) -> bytes:
    """Canonical bytes of (a part of) a value `decode` returned: its types are checked already."""
    return bytes(cbor2.dumps(value, canonical=True))


def decode(data: bytes, max_size: int = 1 << 20) -> Any:
    """Decode canonical bytes; anything that would not re-encode identically is refused."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError("input is not bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise EncodingError(f"input of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = cbor2.loads(
            data, allow_indefinite=False, allow_duplicate_keys=False, max_depth=MAX_DEPTH + 1
        )
    except Exception as exc:  # cbor2 raises several types; all mean malformed input
        raise EncodingError(f"not valid CBOR: {exc}") from None
    _check(value, 0)
    if encode_decoded(value) != data:
        raise EncodingError("not in canonical form (re-encoding differs)")
    return value


def decode_stored(data: bytes) -> Any:
    """Decode a record this node wrote itself with `encode` (LevelDB checksums its blocks):
    types are still checked, the canonical re-encoding is skipped because it cannot differ.

    A record that does not decode is damaged storage: CorruptRecord, a local fault."""
    try:
        value = cbor2.loads(data, allow_indefinite=False, max_depth=MAX_DEPTH + 1)
        _check(value, 0)
    except EncodingError as exc:
        raise CorruptRecord(f"stored record breaks the encoding: {exc.message}") from None
    except Exception as exc:
        raise CorruptRecord(f"stored record is not valid CBOR: {exc}") from None
    return value


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """The major type and argument of the data item at `pos`, and where its content begins."""
    if pos >= len(data):
        raise EncodingError("truncated: a data item runs past the end")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    if info < 24:
        return major, info, pos + 1
    if info > 27:
        raise EncodingError("an indefinite length or a reserved value")
    end = pos + 1 + (1 << (info - 24))
    if end > len(data):
        raise EncodingError("truncated: a data item's head runs past the end")
    return major, int.from_bytes(data[pos + 1 : end], "big"), end


def _item_end(data: bytes, pos: int, depth: int = 0) -> int:
    """Where the data item at `pos` ends, found from its heads alone: nothing is decoded or
    copied (a byte string is stepped over by its length, a list item by item)."""
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH}")
    major, argument, pos = _head(data, pos)
    if major == 2 or major == 3:  # byte and text strings
        pos += argument
    elif major == 4:  # list
        for _ in range(argument):
            pos = _item_end(data, pos, depth + 1)
    elif major == 5:  # map
        for _ in range(2 * argument):
            pos = _item_end(data, pos, depth + 1)
    elif major == 6:
        raise EncodingError("tags are not in the profile")
    if pos > len(data):
        raise EncodingError("truncated: a data item runs past the end")
    return pos


def decode_stored_fields(
    data: bytes, what: str, keys: tuple[str, ...], wanted: tuple[str, ...]
) -> dict[str, Any]:
    """The `wanted` fields of a stored record that is a map of exactly `keys`, each decoded on
    its own (as decode_stored does); the other fields are stepped over by their CBOR heads,
    neither decoded nor copied. So a block's header or rewards are read without its
    transactions (megabytes of them).

    A record of another shape is damaged storage: CorruptRecord."""
    try:
        major, count, pos = _head(data, 0)
        if major != 5:
            raise EncodingError(f"{what} must be a map")
        found: dict[str, Any] = {}
        seen = []
        for _ in range(count):
            value_start = _item_end(data, pos)
            key = decode_stored(data[pos:value_start])
            if type(key) is not str:
                raise EncodingError(f"{what} has a key that is not text")
            pos = _item_end(data, value_start)
            seen.append(key)
            if key in wanted:
                found[key] = decode_stored(data[value_start:pos])
        if pos != len(data):
            raise EncodingError(f"{len(data) - pos} bytes after the {what}")
        if sorted(seen) != sorted(keys):
            raise EncodingError(f"{what} must have fields {sorted(keys)}, got {sorted(seen)}")
    except EncodingError as exc:
        raise CorruptRecord(f"stored {what} breaks the encoding: {exc.message}") from None
    return found


P = ParamSpec("P")
T = TypeVar("T")


def stored_record(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Mark a reader of records this node stored: a record of the wrong shape is damaged
    storage (CorruptRecord, a local fault), never a rule violation of whatever is being
    checked when it is read."""

    def wrap(read: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(read)
        def checked(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return read(*args, **kwargs)
            except (RuleViolation, CorruptRecord) as exc:
                raise CorruptRecord(f"stored {what} is corrupt: {exc.message}") from None

        return checked

    return wrap


# Typed field readers for decoders: each names the field that is wrong.


def expect_map(value: Any, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """A map with exactly `keys`: unknown or missing fields are both errors."""
    if not isinstance(value, dict):
        raise EncodingError(f"{what} must be a map")
    if not all(type(key) is str for key in value):
        raise EncodingError(f"{what} has a key that is not text")
    if sorted(value) != sorted(keys):
        raise EncodingError(f"{what} must have fields {sorted(keys)}, got {sorted(value)}")
    return value


def expect_int(value: Any, what: str, low: int = 0, high: int = MAX_INT) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodingError(f"{what} must be an integer")
    if not low <= value <= high:
        raise EncodingError(f"{what} {value} is outside {low}..{high}")
    return value


def expect_bytes(value: Any, what: str, size: int | None = None, max_size: int = 1 << 16) -> bytes:
    if not isinstance(value, bytes):
        raise EncodingError(f"{what} must be bytes")
    if size is not None and len(value) != size:
        raise EncodingError(f"{what} must be {size} bytes, got {len(value)}")
    if len(value) > max_size:
        raise EncodingError(f"{what} is longer than {max_size} bytes")
    return value


def expect_text(value: Any, what: str, max_size: int = 256) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{what} must be text")
    if len(value.encode()) > max_size:
        raise EncodingError(f"{what} is longer than {max_size} bytes")
    return value


def expect_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise EncodingError(f"{what} must be a boolean")
    return value


def expect_list(value: Any, what: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise EncodingError(f"{what} must be a list")
    if len(value) > max_items:
        raise EncodingError(f"{what} has {len(value)} items, at most {max_items} allowed")
    return value


def expect_fixed_list(value: Any, what: str, size: int) -> list[Any]:
    """A list of exactly `size` items (a record or tuple stored positionally)."""
    items = expect_list(value, what, size)
    if len(items) != size:
        raise EncodingError(f"{what} must have {size} items")
    return items
