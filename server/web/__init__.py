"""The HTTP API: one blueprint per resource, all under /api/v1."""
from __future__ import annotations

from flask_openapi3 import OpenAPI

from server.web import connections, log, oauth, providers, runs, workspace


def register(app: OpenAPI) -> None:
    for module in (workspace, providers, connections, runs, log):
        app.register_api(module.bp)
    app.register_blueprint(oauth.bp)  # browser pages of the consent dialog, outside /api
