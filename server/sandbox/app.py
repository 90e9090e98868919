"""The sandbox's Flask app factory and its production server (waitress)."""
from __future__ import annotations

import gc
import socket

import waitress
from flask import Flask
from waitress.channel import ClientDisconnected
from werkzeug.exceptions import HTTPException

from server.sandbox.admin import admin
from server.sandbox.config import SandboxConfig
from server.sandbox.dialects import registry
from server.sandbox.oauth import TokenInvalid, create_authorization_server
from server.sandbox.state import DROP_CONNECTION, Sandbox


class ConnectionDropper:
    """WSGI wrapper that hangs up without answering when a "drop" fault was served.

    Raising waitress's ClientDisconnected makes waitress close the socket with nothing written; under
    werkzeug's server we shut the socket down ourselves. Either way the client sees a reset
    connection (requests raises ConnectionError), not an HTTP error.
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        if not environ.get(DROP_CONNECTION):
            return result
        if hasattr(result, "close"):
            result.close()
        raw = environ.get("werkzeug.socket")
        if raw is not None:
            raw.shutdown(socket.SHUT_RDWR)
        raise ClientDisconnected("sandbox fault: connection dropped")


class CaseInsensitivePaths:
    """WSGI wrapper for dialects whose provider matches paths whatever their case: a path that matches one of
    their routes but for case is rewritten to the route's own spelling before routing (variables kept)."""

    def __init__(self, app, routes: list[str]) -> None:
        self.app = app
        self.routes: dict[int, list[list[str | None]]] = {}
        for route in routes:
            segments = [None if part.startswith("<") else part for part in route.split("/")]
            self.routes.setdefault(len(segments), []).append(segments)

    def canonical(self, path: str) -> str:
        segments = path.split("/")
        for route in self.routes.get(len(segments), ()):
            if all(part is None or part.lower() == given.lower() for part, given in zip(route, segments, strict=True)):
                return "/".join(given if part is None else part for part, given in zip(route, segments, strict=True))
        return path

    def __call__(self, environ, start_response):
        environ["PATH_INFO"] = self.canonical(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)


def create_sandbox_app(config: SandboxConfig | None = None) -> Flask:
    """A Flask app emulating every dialect's identity service and API over generated data, with the admin
    API beside them."""
    config = config or SandboxConfig()
    app = Flask(__name__)
    gc.disable()  # generation makes millions of small objects; collecting mid-way only costs time
    try:
        sandbox = Sandbox(config)
    finally:
        gc.enable()
    gc.freeze()  # keep the generated data out of later collections, which would stall requests
    app.extensions["sandbox"] = sandbox
    sandbox.authorization_server = create_authorization_server(app, sandbox.oauth)
    dialects = list(registry().values())
    for dialect in dialects:
        for blueprint in dialect.blueprints:
            app.register_blueprint(blueprint)
    app.register_blueprint(admin)

    @app.errorhandler(TokenInvalid)
    def unauthorized(error: TokenInvalid):
        return sandbox.problem(401, "Unauthorized", error.detail, {"WWW-Authenticate": "Bearer"})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return sandbox.problem(error.code or 500, error.name, error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("sandbox error")
        return sandbox.problem(500, "Internal Server Error", "An error occurred in the sandbox")

    @app.get("/")
    def index():
        return sandbox.json_response({
            "name": f"Ledgerpane sandbox ({' / '.join(d.title for d in dialects)} emulator)",
            **sandbox.dialect.links(), "dialects": {d.name: d.links() for d in dialects},
            "organisations": [{"tenantId": o.tenant_id, "name": o.name, "lines": o.line_count}
                              for o in sandbox.organisations.values()],
        })

    insensitive = {name for d in dialects if d.case_insensitive_paths for name in d.blueprint_names}
    app.wsgi_app = CaseInsensitivePaths(app.wsgi_app, [rule.rule for rule in app.url_map.iter_rules()
                                                       if rule.endpoint.split(".")[0] in insensitive])
    app.wsgi_app = ConnectionDropper(app.wsgi_app)
    return app


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8001,
          threads: int = 16) -> None:
    """Run the sandbox on waitress until interrupted (`ledgerpane sandbox --port N`)."""
    waitress.serve(create_sandbox_app(config), host=host, port=port, threads=threads)
