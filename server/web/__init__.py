"""The HTTP API: one blueprint per resource, all under /api/v1."""
from __future__ import annotations

import os

from flask_openapi3 import OpenAPI

from server.web import (
    connections,
    dimensions,
    log,
    mapping,
    oauth,
    providers,
    report_templates,
    runs,
    schedules,
    streams,
    workbook,
    workspace,
    xlwings_server,
)

API = (workspace, providers, connections, schedules, runs, log, dimensions, mapping, streams, workbook,
       report_templates)


def api_blueprints() -> list:
    licensed = [xlwings_server] if os.environ.get(xlwings_server.LICENSE_KEY_VARIABLE) else []
    return [module.bp for module in (*API, *licensed)]


def register(app: OpenAPI) -> None:
    for blueprint in api_blueprints():
        app.register_api(blueprint)
    app.register_blueprint(oauth.bp)  # browser pages of the consent dialog, outside /api
