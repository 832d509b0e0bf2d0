"""Reading a JSON request body through a marshmallow schema, for every API module."""

from typing import Any

from aiohttp import web
from marshmallow import Schema

from chain.errors import RuleViolation


async def read_json(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The validated body; a body that is not JSON is a RuleViolation, a wrong field a
    ValidationError (the API's middleware turns both into JSON errors)."""
    try:
        body = await request.json()
    except ValueError:
        raise RuleViolation("request body is not JSON") from None
    data: dict[str, Any] = schema.load(body)
    return data
