"""Reading a request body: JSON through a marshmallow schema, for every API module, and the
binary form of a batch of transactions."""

import json
import re
from itertools import accumulate
from typing import Any

from aiohttp import web
from marshmallow import Schema

from chain.encoding import decode, expect_bytes, expect_list
from chain.errors import EncodingError, RuleViolation
from chain.ledger.transactions import MAX_TX_SIZE

# No body the API takes nests deeper than a few levels. The check comes before the JSON reader,
# which recurses in C once per level: with the default recursion limit a deep body is a
# RecursionError, but a library may raise the limit (py_ecc sets 100,000 on import), and then
# 100,000 nested brackets overflow the C stack and kill the process.
MAX_JSON_DEPTH = 64
MAX_BATCH = 10_000  # transactions in one POST /v1/txs/batch
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class InvalidRequest(RuleViolation):
    """A request body the API cannot read at all (docs/api.md: invalid_request)."""

    code = "invalid_request"


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (strings left out), in linear time."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # a bound, enough to say it is shallow
    return max(accumulate(map(_STEP.__getitem__, brackets)))


async def read_json(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The validated body; a body that is not JSON (or nests too deep to read) is an
    InvalidRequest, a wrong field a ValidationError (the API's middleware turns both into
    JSON errors)."""
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not UTF-8 text") from None
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"request body is nested too deep to read (over {MAX_JSON_DEPTH})")
    try:
        body = json.loads(text)
    except ValueError:
        raise InvalidRequest("request body is not JSON") from None
    except RecursionError:
        raise InvalidRequest("request body is nested too deep to read") from None
    data: dict[str, Any] = schema.load(body)
    return data


CBOR = "application/cbor"


async def read_cbor_batch(request: web.Request) -> list[bytes]:
    """A batch of signed transactions as one canonical CBOR array of byte strings (what a
    bulk sender submits without the JSON and hex layer: same limits, same checks after)."""
    data = await request.read()  # at most the app's client_max_size (a 413 past it)
    try:
        items = expect_list(decode(data, len(data)), "txs", MAX_BATCH)
        return [expect_bytes(t, f"txs[{i}]", max_size=MAX_TX_SIZE) for i, t in enumerate(items)]
    except EncodingError as exc:
        raise InvalidRequest(
            f"request body is not a CBOR array of transactions: {exc.message}"
        ) from None
