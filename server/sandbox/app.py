"""The sandbox's Flask app factory and its production server (waitress)."""
from __future__ import annotations

import gc
import socket

import waitress
from flask import Flask, url_for
from waitress.channel import ClientDisconnected
from werkzeug.exceptions import HTTPException

from server.sandbox.admin import admin
from server.sandbox.config import SandboxConfig
from server.sandbox.oauth import TokenInvalid, create_authorization_server, identity
from server.sandbox.state import DROP_CONNECTION, Sandbox
from server.sandbox.xero.api import xero_api


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


def create_sandbox_app(config: SandboxConfig | None = None) -> Flask:
    """A Flask app emulating Xero's identity service and Accounting API over generated data."""
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
    app.register_blueprint(identity)
    app.register_blueprint(xero_api)
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
            "name": "Ledgerpane sandbox (Xero emulator)",
            "authorize": url_for("identity.authorize"), "token": url_for("identity.issue_token"),
            "revocation": url_for("identity.revoke_token"), "connections": url_for("identity.list_connections"),
            "api": url_for("xero_api.journals").rsplit("/", 1)[0],
            "organisations": [{"tenantId": o.tenant_id, "name": o.name, "lines": o.line_count}
                              for o in sandbox.organisations.values()],
        })

    app.wsgi_app = ConnectionDropper(app.wsgi_app)
    return app


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8001,
          threads: int = 16) -> None:
    """Run the sandbox on waitress until interrupted (`ledgerpane sandbox --port N`)."""
    waitress.serve(create_sandbox_app(config), host=host, port=port, threads=threads)
