"""The HTTP API: one blueprint per resource, all under /api/v1."""
from __future__ import annotations

from flask_openapi3 import OpenAPI

from server.web import connections, dimensions, log, mapping, oauth, providers, runs, schedules, workspace

API = (workspace, providers, connections, schedules, runs, log, dimensions, mapping)


def api_blueprints() -> list:
    return [module.bp for module in API]


def register(app: OpenAPI) -> None:
    for blueprint in api_blueprints():
        app.register_api(blueprint)
    app.register_blueprint(oauth.bp)  # browser pages of the consent dialog, outside /api
