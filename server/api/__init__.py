"""The HTTP API: one blueprint per resource, all under /api/v1."""
from __future__ import annotations

from flask_openapi3 import OpenAPI

from server.api import connections, workspace


def register(app: OpenAPI) -> None:
    for module in (workspace, connections):
        app.register_api(module.bp)
