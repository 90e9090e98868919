"""Built-in provider emulator: Xero's OAuth server and Accounting API over deterministic demo data.

    app = create_sandbox_app(SandboxConfig(lines=20_000))   # a Flask app; mount it anywhere
    serve(SandboxConfig(), port=8001)                        # or run it on waitress
"""
from server.sandbox.app import create_sandbox_app, serve
from server.sandbox.config import AdjustableClock, RateLimits, SandboxClient, SandboxConfig

__all__ = ["AdjustableClock", "RateLimits", "SandboxClient", "SandboxConfig", "create_sandbox_app", "serve"]
