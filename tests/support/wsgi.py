"""Any WSGI app on a real HTTP port of 127.0.0.1, served by waitress in a thread."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import waitress
from waitress import wasyncore


@contextmanager
def serve_wsgi(app, threads: int = 16) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free port of 127.0.0.1 in a thread; yields its root URL."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    stop = threading.Event()

    def run() -> None:
        # waitress's own run() only returns once every client has hung up; this loop stops on
        # request and closes what is left (listener, idle keep-alive connections) from its own thread.
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        for channel in list(server._map.values()):
            channel.close()
        server.task_dispatcher.shutdown(timeout=5)

    thread = threading.Thread(target=run, name="wsgi-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=10)
