"""Reading a JSON request body through a marshmallow schema, for every API module."""

import json
import re
from itertools import accumulate
from typing import Any

from aiohttp import web
from marshmallow import Schema

from chain.errors import RuleViolation

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
