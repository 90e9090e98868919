"""Built-in provider emulator: an OAuth server and accounting APIs over deterministic demo data, one dialect
per provider (see dialects.py).

    app = create_sandbox_app(SandboxConfig(lines=20_000))   # a Flask app; mount it anywhere
    serve(SandboxConfig(), port=8001)                        # or run it on waitress
"""
from server.sandbox.app import create_sandbox_app, serve
from server.sandbox.config import AdjustableClock, RateLimits, SandboxClient, SandboxConfig

__all__ = ["AdjustableClock", "RateLimits", "SandboxClient", "SandboxConfig", "create_sandbox_app", "serve"]
