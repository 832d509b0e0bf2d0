"""A structure-aware mutator: most of what libFuzzer's byte mutations make of a canonical CBOR
input is refused by the CBOR reader before any field is looked at (docs/reliability.md: the
short runs' coverage says so). Half of the mutations here decode the input, change one value
deep inside it (a boundary integer, a flipped or resized byte string, a dropped, doubled or
unknown field, an element too many) and encode it again, so the field checks behind the reader
get inputs that are well-formed CBOR and wrong in exactly one place. JSON inputs (genesis,
spec files) get the same treatment as JSON; the other half, and anything that does not decode,
goes to libFuzzer's own mutator.
"""

import json
import random
from collections.abc import Callable
from typing import Any

import atheris
import cbor2

INTS = (0, 1, -1, 2**31 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1)


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return bytes(atheris.Mutate(data, max_size))
    codecs = _CODECS if data.lstrip()[:1] not in (b"{", b"[") else _CODECS[::-1]
    for loads, dumps in codecs:
        try:
            value = loads(data)
        except Exception:  # not this format (or not well-formed): try the next
            continue
        try:
            out = dumps(change(value, rng, 0))
        except Exception:  # a value the format cannot hold (a float in JSON's NaN, say)
            break
        if 0 < len(out) <= max_size:
            return out
        break
    return bytes(atheris.Mutate(data, max_size))


def _cbor(value: Any) -> bytes:
    return bytes(cbor2.dumps(value, canonical=True))


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


_CODECS: tuple[tuple[Callable[[bytes], Any], Callable[[Any], bytes]], ...] = (
    (lambda data: cbor2.loads(data), _cbor),
    (lambda data: json.loads(data), _json),
)


def change(value: Any, rng: random.Random, depth: int) -> Any:
    """`value` with one thing in it changed: here, or (more often, when it has parts) in one
    of its parts."""
    parts = _parts(value)
    if parts and depth < 64 and rng.random() < 0.75:
        key = rng.choice(parts)
        copy = list(value) if isinstance(value, list) else dict(value)
        copy[key] = change(value[key], rng, depth + 1)
        return copy
    return _here(value, rng)


def _parts(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(range(len(value)))
    if isinstance(value, dict):
        return list(value)
    return []


def _here(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or value is None:
        return rng.choice([True, False, None, 0, b""])
    if isinstance(value, int):
        return rng.choice([*INTS, value + 1, value - 1, -value, value * 2])
    if isinstance(value, bytes):
        return _bytes(value, rng)
    if isinstance(value, str):
        return rng.choice(["", value + value, value[:-1], value.upper(), "\u00b2", value + "\x00"])
    if isinstance(value, list):
        return _list(value, rng)
    if isinstance(value, dict):
        return _map(value, rng)
    return value


def _bytes(value: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0 and value:
        at = rng.randrange(len(value))
        return value[:at] + bytes([value[at] ^ (1 << rng.randrange(8))]) + value[at + 1 :]
    if choice == 1:
        return value[: rng.randrange(len(value) + 1)]
    if choice == 2:
        return value + bytes(rng.randrange(1, 33))
    if choice == 3:
        return bytes(len(value))
    return b""


def _list(value: list[Any], rng: random.Random) -> list[Any]:
    if not value:
        return [0]
    at = rng.randrange(len(value))
    choice = rng.randrange(3)
    if choice == 0:
        return value[:at] + value[at + 1 :]
    if choice == 1:
        return [*value[: at + 1], value[at], *value[at + 1 :]]
    return list(reversed(value))


def _map(value: dict[Any, Any], rng: random.Random) -> dict[Any, Any]:
    copy = dict(value)
    if copy and rng.random() < 0.5:
        del copy[rng.choice(list(copy))]
    else:
        copy["unknown"] = 0
    return copy
