"""Settings from the environment, an optional `.env` file, and the caller's overrides.

Everything the service needs to know about where it runs lives here, so that nothing else reads
`os.environ`. The embedded default is a SQLite file under `var/`; `DATABASE_URL` points it elsewhere.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file var/ledgerpane.db
    secret_key: str = ""  # LEDGERPANE_SECRET_KEY; empty: a generated key file in var/
    public_url: str = ""  # the origin the task pane is served from, e.g. https://ledgerpane.example.com
    max_body_bytes: int = 1024 * 1024
    sandbox: bool = True  # mount the built-in provider emulator at /sandbox
    log_level: str = "INFO"
    sandbox_url: str = ""  # where the sandbox answers; empty: <public_url>/sandbox (mounted in-process)
    redis_url: str = ""  # REDIS_URL: rate-limit counters shared by every worker; empty: in memory (one process)
    # Per client (address), in the notation of the `limits` package: failed workspace keys, and OAuth page views.
    rate_limit_failed_keys: str = "10 per minute; 50 per hour"
    rate_limit_oauth: str = "30 per minute"
    # Provider key -> (client id, client secret) of our app registered there, from <KEY>_CLIENT_ID and
    # <KEY>_CLIENT_SECRET (a key's dashes as underscores). A provider appears in the catalog once it has both.
    app_credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    refresh_workers: int = 2  # refresh runs at the same time in one process
    refresh_batch_rows: int = 20_000  # ledger lines per commit: large enough that commits do not dominate
    refresh_overlap_records: int = 20  # offset cursors re-read this many records back
    refresh_overlap_minutes: int = 10  # time cursors re-read this far back
    # Journal pages a refresh reads itself before handing a longer pull to a helper process
    # (server/refresh/reader.py); about 3,000 lines, more than most incremental refreshes bring.
    refresh_pages_in_process: int = 10
    # The demo provider's rate-limit windows relative to the real provider's: 0.05 makes its "minute" three seconds, so
    # the demo's first refresh takes seconds, not minutes. The connector keeps under the same limits.
    sandbox_rate_scale: float = 0.05

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'ledgerpane.db').resolve()}"


# Environment variable -> (settings field, parser)
_ENV = {
    "LEDGERPANE_VAR_DIR": ("var_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "LEDGERPANE_SECRET_KEY": ("secret_key", str),
    "LEDGERPANE_PUBLIC_URL": ("public_url", str),
    "LEDGERPANE_MAX_BODY_BYTES": ("max_body_bytes", int),
    "LEDGERPANE_SANDBOX": ("sandbox", _bool),
    "LEDGERPANE_LOG_LEVEL": ("log_level", str),
    "LEDGERPANE_SANDBOX_URL": ("sandbox_url", str),
    "REDIS_URL": ("redis_url", str),
    "LEDGERPANE_RATE_LIMIT_FAILED_KEYS": ("rate_limit_failed_keys", str),
    "LEDGERPANE_RATE_LIMIT_OAUTH": ("rate_limit_oauth", str),
    "LEDGERPANE_REFRESH_WORKERS": ("refresh_workers", int),
    "LEDGERPANE_REFRESH_BATCH_ROWS": ("refresh_batch_rows", int),
    "LEDGERPANE_REFRESH_OVERLAP_RECORDS": ("refresh_overlap_records", int),
    "LEDGERPANE_REFRESH_OVERLAP_MINUTES": ("refresh_overlap_minutes", int),
    "LEDGERPANE_REFRESH_PAGES_IN_PROCESS": ("refresh_pages_in_process", int),
    "LEDGERPANE_SANDBOX_RATE_SCALE": ("sandbox_rate_scale", float),
}


def load_settings(overrides: dict[str, Any] | None = None, env_file: str | Path = ".env") -> Settings:
    """Defaults, then `.env`, then the process environment, then explicit overrides (tests)."""
    values: dict[str, Any] = {}
    sources = [dotenv_values(env_file) if Path(env_file).is_file() else {}, os.environ]
    credentials: dict[str, tuple[str, str]] = {}
    for source in sources:
        for name, (attr, parse) in _ENV.items():
            if source.get(name):
                values[attr] = parse(source[name])
        for name, value in source.items():
            if name.endswith("_CLIENT_ID") and value:
                prefix = name.removesuffix("_CLIENT_ID")
                key = prefix.lower().replace("_", "-")
                secret = source.get(f"{prefix}_CLIENT_SECRET") or credentials.get(key, ("", ""))[1]
                credentials[key] = (value, secret)
    if credentials:
        values["app_credentials"] = credentials
    known = {f.name for f in fields(Settings)}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r}")  # a typo must not be silently ignored
        values[key] = Path(value) if key == "var_dir" else value
    return replace(Settings(), **values)
