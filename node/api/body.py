"""Reading a JSON request body through a marshmallow schema, for every API module."""

from typing import Any

from aiohttp import web
from marshmallow import Schema

from chain.errors import RuleViolation


class InvalidRequest(RuleViolation):
    """A request body the API cannot read at all (docs/api.md: invalid_request)."""

    code = "invalid_request"


async def read_json(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The validated body; a body that is not JSON is an InvalidRequest, a wrong field a
    ValidationError (the API's middleware turns both into JSON errors)."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("request body is not JSON") from None
    except RecursionError:  # the JSON reader recurses once per level: ~1,000 is too deep
        raise InvalidRequest("request body is nested too deep to read") from None
    data: dict[str, Any] = schema.load(body)
    return data
