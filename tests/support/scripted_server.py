"""A real HTTP server on 127.0.0.1 that answers from a script, for testing the client without the sandbox."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = b""  # bytes, or anything JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    target: str = ""  # the request target as sent, path and query undecoded


Handler = Callable[[Seen], Reply]


class ScriptedServer:
    """`script(path, *replies)` queues replies (the last one repeats); `on(path, handler)` computes them."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._handlers: dict[str, Handler] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def script(self, path: str, *replies: Reply) -> None:
        self._queues[path].extend(replies)

    def on(self, path: str, handler: Handler) -> None:
        self._handlers[path] = handler

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _reply_for(self, seen: Seen) -> Reply:
        if seen.path in self._handlers:
            return self._handlers[seen.path](seen)
        queue = self._queues.get(seen.path)
        if not queue:
            return Reply(404, {"Message": "not scripted"})
        return queue.popleft() if len(queue) > 1 else queue[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
                            time.monotonic(), self.path)
                with server._lock:
                    server.seen.append(seen)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server._reply_for(seen)
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.drop:
                        self.close_connection = True
                        return
                    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            do_GET = do_POST = do_DELETE = _serve

        return Handler


class VirtualClock:
    """Time that only moves when someone sleeps: retry and rate-limit waits cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
