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

# Bytes a request line may hold: gunicorn's largest (`ledgerpane web`), and the most a proxy usually takes (8 KB).
# The app refuses a longer address itself (server/app.py), so every server answers it alike.
LONGEST_REQUEST_LINE = 8190


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
    # Provider keys whose app predates the provider's move to granular scopes and still asks for the legacy
    # set (LEDGERPANE_LEGACY_SCOPES=key,key); the others ask for the granular scopes.
    legacy_scopes: tuple[str, ...] = ()
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
    # The overnight schedule (server/scheduler/). `embedded`: `ledgerpane serve` runs the scheduler in its own
    # process; `off`: it runs none, and one `ledgerpane scheduler` process (or several: one active, the others
    # standing by) does. Web workers under gunicorn never run one.
    scheduler: str = "embedded"
    schedule_misfire_grace_minutes: int = 180  # a scheduler back within this long still runs the missed night
    schedule_failures_to_pause: int = 3  # consecutive failed scheduled runs; a warning comes one earlier
    scheduler_poll_seconds: float = 10.0  # how often the active scheduler reads schedules and run outcomes
    scheduler_lease_seconds: float = 15.0  # a standby takes over within this long of the active one's death
    # Where refresh runs execute (server/jobs/). `threads`: a thread pool in each process that asks for runs (the
    # embedded default); `procrastinate`: jobs in PostgreSQL, carried out by `ledgerpane worker` processes on any
    # number of machines.
    job_queue: str = "threads"
    job_queue_heartbeat_seconds: float = 10.0  # a worker says it is alive this often
    job_queue_stalled_seconds: float = 30.0  # a worker silent this long is dead: its jobs are retried
    job_queue_retry_seconds: float = 10.0  # a run another live process holds is tried again after this long
    provider_run_slots: int = 0  # runs of one provider at once across all workers (procrastinate queue); 0: no cap
    # Providers' rate limits (server/connectors/framework/budgets.py): `process` counts calls in each process; `redis`
    # counts them in REDIS_URL, under budget_namespace, so every worker of a deployment together stays under them.
    provider_budgets: str = "process"
    budget_namespace: str = "ledgerpane"
    # Keeping grants alive (server/scheduler/keepalive.py): a grant that would lapse unused within this many days is
    # renewed; a scheduled connection's grant is checked this long before its next run, so a revoked one is
    # known, and its admins told, the evening before rather than at the night's run. Checked this often.
    grant_keepalive_days: int = 7
    grant_check_hours: float = 12.0
    grant_check_seconds: float = 300.0
    # Notices to the workspace's admins (server/notify/): by email when an SMTP host is set, to a webhook when a
    # URL is (signed with the secret); on re-auth required, auto-pause and grant expiry, and every failed scheduled
    # run when notify_every_failure.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_username: str = ""
    smtp_password: str = ""
    notify_email_from: str = "ledgerpane@localhost"
    notify_email_to: tuple[str, ...] = ()  # besides the workspace's admins
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""
    notify_every_failure: bool = False

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
    "LEDGERPANE_LEGACY_SCOPES": ("legacy_scopes", lambda text: tuple(k.strip() for k in text.split(",") if k.strip())),
    "LEDGERPANE_SCHEDULER": ("scheduler", str),
    "LEDGERPANE_SCHEDULE_MISFIRE_GRACE_MINUTES": ("schedule_misfire_grace_minutes", int),
    "LEDGERPANE_SCHEDULE_FAILURES_TO_PAUSE": ("schedule_failures_to_pause", int),
    "LEDGERPANE_SCHEDULER_POLL_SECONDS": ("scheduler_poll_seconds", float),
    "LEDGERPANE_SCHEDULER_LEASE_SECONDS": ("scheduler_lease_seconds", float),
    "LEDGERPANE_JOB_QUEUE": ("job_queue", str),
    "LEDGERPANE_JOB_QUEUE_HEARTBEAT_SECONDS": ("job_queue_heartbeat_seconds", float),
    "LEDGERPANE_JOB_QUEUE_STALLED_SECONDS": ("job_queue_stalled_seconds", float),
    "LEDGERPANE_JOB_QUEUE_RETRY_SECONDS": ("job_queue_retry_seconds", float),
    "LEDGERPANE_PROVIDER_RUN_SLOTS": ("provider_run_slots", int),
    "LEDGERPANE_PROVIDER_BUDGETS": ("provider_budgets", str),
    "LEDGERPANE_BUDGET_NAMESPACE": ("budget_namespace", str),
    "LEDGERPANE_GRANT_KEEPALIVE_DAYS": ("grant_keepalive_days", int),
    "LEDGERPANE_GRANT_CHECK_HOURS": ("grant_check_hours", float),
    "LEDGERPANE_GRANT_CHECK_SECONDS": ("grant_check_seconds", float),
    "LEDGERPANE_SMTP_HOST": ("smtp_host", str),
    "LEDGERPANE_SMTP_PORT": ("smtp_port", int),
    "LEDGERPANE_SMTP_SECURITY": ("smtp_security", str),
    "LEDGERPANE_SMTP_USERNAME": ("smtp_username", str),
    "LEDGERPANE_SMTP_PASSWORD": ("smtp_password", str),
    "LEDGERPANE_NOTIFY_EMAIL_FROM": ("notify_email_from", str),
    "LEDGERPANE_NOTIFY_EMAIL_TO": ("notify_email_to", lambda text: tuple(a.strip() for a in text.split(",")
                                                                         if a.strip())),
    "LEDGERPANE_NOTIFY_WEBHOOK_URL": ("notify_webhook_url", str),
    "LEDGERPANE_NOTIFY_WEBHOOK_SECRET": ("notify_webhook_secret", str),
    "LEDGERPANE_NOTIFY_EVERY_FAILURE": ("notify_every_failure", _bool),
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
