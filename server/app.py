"""The application factory: `create_app(config)` builds the service; nothing happens at import time."""
from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from flask import Response, g, jsonify, request
from flask.json.provider import JSONProvider
from flask_openapi3 import Info, OpenAPI
from sqlalchemy import text
from werkzeug.exceptions import BadRequest

from server import web
from server.access.keys import authenticate
from server.config import load_settings
from server.db.engine import close_request_session
from server.runtime import Services, services
from server.web.common import ErrorOut
from server.web.errors import ApiError, register_error_handlers, validation_error_response

TASKPANE = Path(__file__).resolve().parent.parent / "addin" / "taskpane"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # amounts travel as exact strings, never floats
    raise TypeError(f"cannot serialise {type(value).__name__}")


class OrjsonProvider(JSONProvider):
    """orjson is ~10x faster than the standard encoder on list endpoints (research/perf.md)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(config: dict[str, Any] | None = None) -> OpenAPI:
    settings = load_settings(config)
    logging.basicConfig(level=settings.log_level)
    # Authlib logs whole token responses at DEBUG: never let a token into our logs, whatever the level.
    logging.getLogger("authlib").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    app = OpenAPI(
        __name__,
        info=Info(title="Ledgerpane API", version="1"),
        security_schemes={"workspace_key": {"type": "http", "scheme": "bearer",
                                            "description": "A workspace key (`lp_...`)."}},
        doc_prefix="/api",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_callback=validation_error_response,
        validation_error_model=ErrorOut,
        static_folder=str(TASKPANE),
        template_folder="web/templates",
        static_url_path="",
    )
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ledgerpane"] = Services(settings)

    register_error_handlers(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_appcontext(close_request_session)
    app.add_url_rule("/healthz", "healthz", _healthz)
    web.register(app)
    return app


def _start_request() -> None:
    g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    if not request.path.startswith("/api/v1/"):
        return
    _read_json_body()
    authenticate()


def _read_json_body() -> None:
    """Refuse bodies we cannot read before any view sees them: wrong type 415, broken JSON 400."""
    if request.method not in {"POST", "PUT", "PATCH"} or not request.content_length:
        return
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    try:
        request.get_json()
    except BadRequest:
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/assets/") and response.status_code == 200:
        # Office shows a generic icon for add-in images it may not cache (research/office.md 1.4).
        response.cache_control.public, response.cache_control.max_age = True, 86_400
        response.cache_control.no_cache = None
    return response


def _healthz():
    try:
        with services().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any database failure means "not healthy", reported plainly
        logging.getLogger(__name__).warning("health check failed: %s", type(error).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
