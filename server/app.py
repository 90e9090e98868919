"""The application factory: `create_app(config)` builds the service; nothing happens at import time."""
from __future__ import annotations

import logging
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from flask import Response, current_app, g, jsonify, request
from flask.json.provider import JSONProvider
from flask_openapi3 import Info, OpenAPI
from sqlalchemy import text
from werkzeug.exceptions import BadRequest
from werkzeug.routing import Map, PathConverter

from server import web
from server.access.keys import authenticate
from server.access.limits import install_rate_limits
from server.config import LONGEST_REQUEST_LINE, load_settings
from server.db.engine import close_request_session
from server.errors import ApiError, register_error_handlers, validation_error_response
from server.jobs import job_queue_for, resubmit_queued
from server.refresh.helpers import warm_up
from server.runtime import Runtime, runtime
from server.web.common import ErrorOut, IdConverter

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


class AssetPath(PathConverter):
    """A file of the task pane: any path but the API's and the OAuth pages', which answer for themselves (a
    wrong method there is 404 or 405 by their own routes, never "GET only" because a file might match)."""

    regex = r"(?!api/|oauth/)[^/].*?"


class LedgerpaneMap(Map):
    default_converters = {**Map.default_converters, "int": IdConverter, "asset": AssetPath}


# What the service itself may answer to any API operation, before or around its view, so the document says it:
# a refused body (400 unreadable JSON, 415 not JSON) on the methods that take one, and 429 to any call.
SERVICE_ERRORS = {
    "400": "The request body is not valid JSON (`malformed_json`).",
    "415": "The request body is not JSON (`unsupported_media_type`).",
    "414": f"The address is longer than a request line may be ({LONGEST_REQUEST_LINE:,} bytes; `uri_too_long`).",
    "429": "Too many failed key attempts from this client; wait `Retry-After` seconds (`too_many_requests`).",
}
BODY_METHODS = {"post", "put", "patch"}


class LedgerpaneAPI(OpenAPI):
    url_map_class = LedgerpaneMap

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorOut.__name__}"}}}
        for path, item in self.spec_json["paths"].items():
            if not path.startswith("/api/v1/"):
                continue
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                for status, description in SERVICE_ERRORS.items():
                    if status in ("400", "415") and method not in BODY_METHODS:
                        continue
                    responses.setdefault(status, {"description": description, "content": error})
                responses["429"]["headers"] = {"Retry-After": {"description": "Seconds to wait.",
                                                               "schema": {"type": "integer"}}}


def create_app(config: dict[str, Any] | None = None) -> OpenAPI:
    settings = load_settings(config)
    logging.basicConfig(level=settings.log_level)
    # Authlib logs whole token responses at DEBUG: never let a token into our logs, whatever the level.
    logging.getLogger("authlib").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    app = LedgerpaneAPI(
        __name__,
        info=Info(title="Ledgerpane API", version="1"),
        security_schemes={"workspace_key": {"type": "http", "scheme": "bearer",
                                            "description": "A workspace key (`lp_...`)."}},
        doc_prefix="/api",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_callback=validation_error_response,
        validation_error_model=ErrorOut,
        static_folder=None,  # the task pane's files are served below, on a route that leaves /api and /oauth alone
        template_folder="web/templates",
    )
    app.static_folder = str(TASKPANE)
    app.add_url_rule("/<asset:filename>", "static", app.send_static_file)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ledgerpane"] = runtime_ = Runtime(settings)
    runtime_.jobs = job_queue_for(runtime_)
    resubmit_queued(runtime_)  # runs a stopped process left queued would block their connections
    warm_up()  # the reader helpers' fork server (server/refresh/helpers.py), so a first refresh need not wait

    register_error_handlers(app)
    install_rate_limits(app, settings, web.oauth.bp)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_appcontext(close_request_session)
    app.add_url_rule("/healthz", "healthz", _healthz)
    web.register(app)
    return app


# A caller's request id is echoed and logged, so only a plain token is taken; anything else gets one of ours.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _start_request() -> None:
    offered = request.headers.get("X-Request-Id", "")
    g.request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    _refuse_long_addresses()
    if not request.path.startswith("/api/v1/") or request.url_rule is None:
        return  # no such route (404) or method (405): nothing to authenticate, and no key oracle
    authenticate()
    _refuse_repeated_parameters()
    _read_json_body()


def _refuse_long_addresses() -> None:
    """The longest request line gunicorn takes (`ledgerpane web`), refused in the same words whichever server runs
    the app: waitress would take 256 KB, and a proxy in front usually 8 KB."""
    target = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    if len(f"{request.method} {target} HTTP/1.1") > LONGEST_REQUEST_LINE:
        raise ApiError(414, "uri_too_long", f"The address is longer than the {LONGEST_REQUEST_LINE:,} bytes a request "
                                            "line may hold: ask for fewer values (a filter left out takes them all).")


def _refuse_repeated_parameters() -> None:
    """No query parameter is a list unless its blueprint says so (`repeatable_parameters`: the workbook's
    filters): `?q=a&q=b` is a mistake, not "the first one"."""
    blueprint = current_app.blueprints.get(request.blueprint or "")
    repeatable = getattr(blueprint, "repeatable_parameters", frozenset())
    for name, values in request.args.lists():
        if len(values) > 1 and name not in repeatable:
            raise ApiError(422, "repeated_parameter", f"Give {name} once.", name)


def _read_json_body() -> None:
    """Refuse bodies we cannot read before any view sees them: wrong type 415, broken JSON 400."""
    if request.method not in {"POST", "PUT", "PATCH"} or not request.content_length:
        return
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        # Read as it came, a compressed body would be taken for something else (RFC 9110 15.5.16).
        raise ApiError(415, "unsupported_media_type", "Send the body uncompressed (no Content-Encoding).")
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    try:
        request.get_json()
    except BadRequest:
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from None


# Office on the web frames the task pane; these are the hosts its frames sit in (Excel on the web in
# *.officeapps.live.com, inside SharePoint/OneDrive for business, onedrive.live.com for personal accounts, and
# the Microsoft 365 app at *.office.com and *.cloud.microsoft). Desktop Office shows the pane in a webview,
# not a frame. Sources: OfficeDev/office-js#3342, OfficeDev/office-js-docs-pr#4911.
OFFICE_FRAME_ANCESTORS = ("https://*.officeapps.live.com", "https://*.sharepoint.com", "https://onedrive.live.com",
                          "https://*.office.com", "https://*.cloud.microsoft")
OFFICE_JS = "https://appsforoffice.microsoft.com"
# The pane runs our own files and office.js, nothing inline. Styles allow 'unsafe-inline' because office.js
# sets inline styles in Excel on the web (OfficeDev/office-js#1687); scripts never do.
TASKPANE_CSP = "; ".join([
    "default-src 'self'", f"script-src 'self' {OFFICE_JS}", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'self'",
    "form-action 'self'", "frame-ancestors 'self' " + " ".join(OFFICE_FRAME_ANCESTORS),
])

# The sign-in pages open in a dialog window of their own, never in a frame (research/office.md 3.1).
OAUTH_CSP = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure or runtime().settings.public_url.startswith("https://"):  # TLS here or at a proxy
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.path.startswith(("/api/", "/oauth/")):
        # Workspace data and sign-in pages are for this caller only: never kept by a browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/oauth/"):
        response.headers.setdefault("Content-Security-Policy", OAUTH_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    elif response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", TASKPANE_CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/assets/") and response.status_code == 200:
        # Office shows a generic icon for add-in images it may not cache (research/office.md 1.4).
        response.cache_control.public, response.cache_control.max_age = True, 86_400
        response.cache_control.no_cache = None
    return response


def _healthz():
    try:
        with runtime().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any database failure means "not healthy", reported plainly
        logging.getLogger(__name__).warning("health check failed: %s", type(error).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
