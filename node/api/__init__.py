"""The HTTP API: one application factory (app.py) with its route modules, the OpenAPI
description, and the client that talks to it."""
