"""Where notices land in tests: a real SMTP server (aiosmtpd) and a real webhook receiver, both on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """What the SMTP server accepted: (envelope recipients, parsed message), and who logged in."""

    port: int
    received: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.original_content)))
        return "250 OK"


@contextmanager
def smtp_server(username: str = "", password: str = "") -> Iterator[Mailbox]:
    """An SMTP server that requires a login when `username` is given (plain, no TLS: loopback only)."""
    mailbox = Mailbox(free_port())

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        accepted = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == (username, password)
        if accepted:
            mailbox.logins.append(username)
        return AuthResult(success=accepted)

    options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False} if username else {}
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Hook:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def notices(self) -> list[dict]:
        return [json.loads(body)["notice"] for _, body in self.received]


@contextmanager
def webhook_receiver(status: int = 204) -> Iterator[Hook]:
    """An HTTP server that keeps every POST (headers, raw body) and answers `status`."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(f"http://127.0.0.1:{server.server_port}/hooks/ledgerpane", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
