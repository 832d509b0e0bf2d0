"""Canonical CBOR: round trips, one encoding per value, and every non-canonical input refused."""

import random
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.encoding import (
    MAX_DEPTH,
    MAX_INT,
    MIN_INT,
    decode,
    decode_stored_fields,
    encode,
)
from chain.errors import CorruptRecord, EncodingError

# --- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(min_value=MIN_INT, max_value=MAX_INT),
    st.sampled_from([MIN_INT, MIN_INT + 1, -1, 0, 23, 24, 255, 256, 2**32, MAX_INT]),
    st.binary(max_size=40),
    st.text(max_size=20),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
    ),
    max_leaves=25,
)


def typed(value: Any) -> Any:
    """A comparable form that keeps bool apart from int (True == 1 in Python) and tuple == list."""
    if isinstance(value, list | tuple):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", {k: typed(v) for k, v in value.items()})
    return (type(value).__name__, value)


def reordered(value: Any, rng: random.Random) -> Any:
    """The same value with every map rebuilt in a shuffled insertion order."""
    if isinstance(value, list | tuple):
        return [reordered(v, rng) for v in value]
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: reordered(v, rng) for k, v in items}
    return value


# --- round trip and determinism -----------------------------------------------------------------


@settings(max_examples=300)
@given(values)
def test_round_trip(value: Any) -> None:
    data = encode(value)
    assert isinstance(data, bytes)
    assert typed(decode(data)) == typed(value)
    # Decoding is the inverse on the byte side as well: re-encoding gives the same bytes.
    assert encode(decode(data)) == data


@settings(max_examples=200)
@given(values, st.randoms(use_true_random=False))
def test_encoding_ignores_map_insertion_order(value: Any, rng: random.Random) -> None:
    assert encode(reordered(value, rng)) == encode(value)


def test_map_keys_sorted_shortest_first_then_bytewise() -> None:
    # RFC 8949 4.2.1: keys ordered by their encoded bytes, i.e. length first for text keys.
    assert encode({"b": 1, "aa": 2, "a": 3}) == bytes.fromhex("a3616103616201626161" + "02")
    assert encode({"aa": 2, "a": 3, "b": 1}) == encode({"b": 1, "aa": 2, "a": 3})


def test_known_encodings() -> None:
    assert encode(0) == b"\x00"
    assert encode(23) == b"\x17"
    assert encode(24) == b"\x18\x18"
    assert encode(-1) == b"\x20"
    assert encode(True) == b"\xf5"
    assert encode(False) == b"\xf4"
    assert encode(b"") == b"\x40"
    assert encode("") == b"\x60"
    assert encode(MAX_INT) == bytes.fromhex("1bffffffffffffffff")
    assert encode(MIN_INT) == bytes.fromhex("3bffffffffffffffff")


def test_bool_and_int_stay_distinct() -> None:
    assert decode(encode(True)) is True
    assert decode(encode(1)) == 1 and not isinstance(decode(encode(1)), bool)
    assert encode(True) != encode(1)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode({"a": [1, b"x"]})
    assert decode(bytearray(data)) == {"a": [1, b"x"]}
    assert decode(memoryview(data)) == {"a": [1, b"x"]}


def test_nesting_exactly_max_depth_is_allowed() -> None:
    value: Any = 0
    for _ in range(MAX_DEPTH):
        value = [value]
    assert decode(encode(value)) == value


# --- encode refuses values outside the profile --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (1.5, "float"),
        (None, "NoneType"),
        (MAX_INT + 1, "outside"),
        (MIN_INT - 1, "outside"),
        ({1: 2}, "not text"),
        ({b"k": 2}, "not text"),
        ({"a": {"b": {1: 2}}}, "not text"),
        ({1, 2}, "set"),
        ([1, [2, 0.0]], "float"),
    ],
)
def test_encode_rejects_values_outside_profile(value: Any, pattern: str) -> None:
    with pytest.raises(EncodingError, match=pattern):
        encode(value)


def test_encode_rejects_too_deep_nesting() -> None:
    value: Any = 0
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(EncodingError, match="deeper"):
        encode(value)


# --- decode refuses non-canonical input ---------------------------------------------------------


def deep(prefix: bytes, levels: int) -> bytes:
    return prefix * levels + b"\x00"


REJECTED = [
    # floats of every width, even integral ones
    ("half float", "f93c00", "float"),
    ("single float", "fa3fc00000", "float"),
    ("double float", cbor2.dumps(1.5).hex(), "float"),
    # tags, whatever they wrap
    ("epoch datetime tag", "c11a514b67b0", "not allowed"),
    ("embedded cbor tag", "d81801", "not allowed"),
    ("set tag", "d9010281" + "01", "not allowed"),
    ("bignum tag for a small int", "c24101", "canonical"),
    ("bignum tag above 2**64-1", "c249010000000000000000", "outside"),
    ("self-describe tag", "d9d9f701", "canonical"),
    # simple values other than true/false
    ("null", "f6", "NoneType"),
    ("undefined", "f7", "not allowed"),
    ("simple value", "f0", "not allowed"),
    # indefinite lengths
    ("indefinite bytes", "5f4101ff", "indefinite"),
    ("indefinite text", "7f6161ff", "indefinite"),
    ("indefinite list", "9f01ff", "indefinite"),
    ("indefinite map", "bf616101ff", "indefinite"),
    ("break without start", "ff", "not valid CBOR"),
    # maps
    ("duplicate keys", "a2616101616102", "[Dd]uplicate"),
    ("int key", "a10101", "not text"),
    ("bytes key", "a1410101", "not text"),
    ("bool key", "a1f401", "not text"),
    ("list key", "a18001", "not text"),
    ("unsorted keys", "a2616201616101", "canonical"),
    ("longer key first", "a262616101616202", "canonical"),
    # non-minimal heads
    ("int 1 in one extra byte", "1801", "canonical"),
    ("int 1 in two extra bytes", "190001", "canonical"),
    ("int 255 in two extra bytes", "1900ff", "canonical"),
    ("int 1 in eight extra bytes", "1b0000000000000001", "canonical"),
    ("negative int in extra byte", "3800", "canonical"),
    ("bytes length in extra byte", "580100", "canonical"),
    ("text length in extra byte", "780161", "canonical"),
    ("list length in extra byte", "980100", "canonical"),
    ("map length in extra byte", "b80161610" + "1", "canonical"),
    # framing
    ("trailing byte", "0100", "canonical"),
    ("two items", "f5f5", "canonical"),
    ("empty input", "", "not valid CBOR"),
    ("truncated list", "8201", "not valid CBOR"),
    ("truncated bytes", "4401", "not valid CBOR"),
    ("huge declared length", "5bffffffffffffffff", "not valid CBOR"),
    ("invalid utf-8", "61ff", "not valid CBOR"),
    # nesting
    ("lists one level too deep", deep(b"\x81", MAX_DEPTH + 1).hex(), "deeper"),
    ("maps one level too deep", deep(b"\xa1\x61a", MAX_DEPTH + 1).hex(), "deeper"),
    ("very deep lists", deep(b"\x81", 10_000).hex(), "depth"),
]


@pytest.mark.parametrize(
    ("hex_data", "pattern"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_decode_rejects(hex_data: str, pattern: str) -> None:
    with pytest.raises(EncodingError, match=pattern):
        decode(bytes.fromhex(hex_data))


def test_the_canonical_forms_of_the_rejected_values_are_accepted() -> None:
    # Guards the table above: the same values, encoded canonically, decode fine.
    assert decode(bytes.fromhex("01")) == 1
    assert decode(bytes.fromhex("18ff")) == 255
    assert decode(bytes.fromhex("a2616101616202")) == {"a": 1, "b": 2}
    assert decode(bytes.fromhex("a2616202626161" + "01")) == {"b": 2, "aa": 1}
    assert decode(bytes.fromhex("4100")) == b"\x00"


def test_decode_rejects_oversize_input() -> None:
    data = encode(b"x" * 100)
    assert decode(data, max_size=len(data)) == b"x" * 100
    with pytest.raises(EncodingError, match="exceeds the limit"):
        decode(data, max_size=len(data) - 1)


def test_decode_default_limit_is_one_mebibyte() -> None:
    at_limit = encode(b"\x00" * ((1 << 20) - 5))  # 5-byte head: 1a + 4 length bytes
    assert len(at_limit) == 1 << 20
    assert decode(at_limit) == b"\x00" * ((1 << 20) - 5)
    with pytest.raises(EncodingError, match="exceeds the limit"):
        decode(encode(b"\x00" * ((1 << 20) - 4)))


@pytest.mark.parametrize("data", ["01", 1, None, [1]])
def test_decode_rejects_non_bytes(data: Any) -> None:
    with pytest.raises(EncodingError, match="not bytes"):
        decode(data)


# --- robustness ---------------------------------------------------------------------------------


def _decode_or_encoding_error(data: bytes) -> None:
    try:
        value = decode(data)
    except EncodingError:
        return
    # Anything accepted is canonical: it re-encodes to exactly the input.
    assert encode(value) == data


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_encoding_error(data: bytes) -> None:
    _decode_or_encoding_error(data)


@settings(max_examples=300)
@given(values, st.data())
def test_mutated_encodings_only_raise_encoding_error(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(encode(value))
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    index = data.draw(st.integers(0, len(encoded) - 1))
    if kind == "flip":
        encoded[index] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del encoded[index:]
    else:
        encoded.insert(index, data.draw(st.integers(0, 255)))
    _decode_or_encoding_error(bytes(encoded))


# --- stored fields read alone ---------------------------------------------------------------------


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=10), values, min_size=1, max_size=6), st.data())
def test_stored_fields_read_alone_are_the_fields_decoded(
    record: dict[str, Any], data: st.DataObject
) -> None:
    keys = tuple(record)
    wanted = tuple(data.draw(st.lists(st.sampled_from(keys), unique=True)))
    found = decode_stored_fields(encode(record), "record", keys, wanted)
    assert typed(found) == typed({key: record[key] for key in wanted})


def test_stored_fields_step_over_a_list_of_byte_strings() -> None:
    """A block's shape: its transactions (a long list of byte strings) before the header."""
    record = {"txs": [bytes([i % 256]) * 300 for i in range(1000)], "header": {"height": 7}}
    data = encode(record)
    assert decode_stored_fields(data, "block", ("header", "txs"), ("header",)) == {
        "header": {"height": 7}
    }


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (encode([1, 2]), "must be a map"),
        (encode({"a": 1}), r"must have fields \['a', 'b'\]"),
        (encode({"a": 1, "b": 2, "c": 3}), "must have fields"),
        (encode({"a": 1, "b": b"xy"})[:-1], "truncated"),
        (encode({"a": 1, "b": 2}) + b"\x00", "1 bytes after"),
        (bytes.fromhex("a2") + encode("a") + bytes.fromhex("c101") + encode("b") + b"\x02", "tags"),
        (
            bytes.fromhex("a2") + encode("a") + bytes.fromhex("9f01ff") + encode("b") + b"\x02",
            "indef",
        ),
        (bytes.fromhex("a2") + bytes.fromhex("01") + b"\x01" + encode("b") + b"\x02", "not text"),
        (bytes.fromhex("a2") + encode("a") + bytes.fromhex("5b" + "ff" * 8), "truncated"),
        (b"", "truncated"),
    ],
)
def test_stored_fields_of_a_damaged_record_are_a_corrupt_record(data: bytes, pattern: str) -> None:
    with pytest.raises(CorruptRecord, match=pattern):
        decode_stored_fields(data, "record", ("a", "b"), ("a",))
