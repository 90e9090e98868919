"""`ledgerpane` operations: serve, web, scheduler, worker, init-db, create-workspace, create-key, sandbox, refresh,
manifest."""
from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

import click
from sqlalchemy import select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from server.access.workspaces import add_member, create_key, create_workspace, member_for_key
from server.config import LONGEST_REQUEST_LINE, Settings, load_settings
from server.connectors import catalog
from server.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from server.db.models import Member, Role, Workspace
from server.jobs import job_queue_for, prepare_database, resubmit_queued
from server.sandbox import RateLimits as SandboxRateLimits
from server.sandbox import SandboxClient, SandboxConfig, create_sandbox_app
from server.sandbox import serve as serve_sandbox
from server.sandbox.config import DEMO_CLIENT


@click.group(help="Ledgerpane: accounting data into your planning workspace, from inside Excel.")
def main() -> None:
    pass


def _migrated(settings: Settings):
    if not settings.database_url:
        keep_private(settings)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    try:
        prepare_database(settings, engine)
    except ValueError as error:  # a job queue this database cannot hold
        raise click.ClickException(str(error)) from None
    return make_sessionmaker(engine)


@main.command("init-db", help="Create or upgrade the database schema (Alembic migrations).")
def init_db() -> None:
    settings = load_settings()
    _migrated(settings)
    click.echo(f"Database is up to date: {_safe_url(settings.effective_database_url)}")


@main.command("create-workspace", help="Create a workspace and its first admin; prints the admin's key.")
@click.argument("name")
@click.option("--admin", "admin_user", required=True, help="Email or login of the first admin.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone, e.g. Europe/London.")
@click.option("--currency", "base_currency", default="USD", show_default=True, help="Base currency (ISO 4217).")
def create_workspace_command(name: str, admin_user: str, timezone: str, base_currency: str) -> None:
    sessions = _migrated(load_settings())
    try:
        with transaction(sessions) as session:
            workspace, admin = create_workspace(session, name, admin_user, timezone, base_currency)
            key = create_key(session, admin, label="created with create-workspace")
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    click.echo(f"Workspace {workspace.id}: {workspace.name}")
    click.echo(f"Workspace key: {key}")


@main.command("create-key", help="Create a key for a person in a workspace (added as a member if new).")
@click.option("--workspace", "workspace_id", type=int, required=True, help="Workspace id.")
@click.option("--user", required=True, help="Email or login of the person.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.member.value, show_default=True)
@click.option("--label", default="", help="What the key is for, to tell keys apart later.")
def create_key_command(workspace_id: int, user: str, role: str, label: str) -> None:
    sessions = _migrated(load_settings())
    with transaction(sessions) as session:
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            raise click.BadParameter(f"no workspace {workspace_id}", param_hint="--workspace")
        member = session.scalar(select(Member).where(Member.workspace_id == workspace_id, Member.user == user))
        if member is None:
            member = add_member(session, workspace, user, Role(role))
        elif member.role != role:
            raise click.BadParameter(f"{user} is already a {member.role} of this workspace", param_hint="--role")
        key = create_key(session, member, label)
    click.echo(f"Workspace key: {key}")


@main.command(help="Run the service (waitress), creating the database and a first workspace if needed.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    import waitress

    from server.app import create_app

    settings = load_settings()
    public_url = settings.public_url or f"http://{host}:{port}"
    key = _embedded_workspace_key(settings, _migrated(settings))
    app = flask_app = create_app({"public_url": public_url})
    if settings.sandbox and not settings.sandbox_url:
        app = DispatcherMiddleware(app, {"/sandbox": create_sandbox_app(demo_sandbox_config(settings, public_url))})
        click.echo(f"Demo provider (sandbox): {public_url}/sandbox")
    click.echo(f"Ledgerpane is serving {_safe_url(settings.effective_database_url)}")
    click.echo(f"Task pane: {public_url}/taskpane.html#key={key}")
    click.echo(f"API: {public_url}/api/v1/workspace (OpenAPI at {public_url}/api/openapi.json)")
    click.echo(f"Workspace key: {key}", color=False)
    freeze_startup_objects()
    scheduler = None
    if settings.scheduler == "embedded":  # the overnight schedule in this process (LEDGERPANE_SCHEDULER=off: none)
        from server.scheduler.service import SchedulerService

        scheduler = SchedulerService(flask_app.extensions["ledgerpane"]).start()
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="ledgerpane")
    finally:
        if scheduler is not None:
            scheduler.stop()


@main.command(help="Run the web service in production (Linux): the API and the task pane under gunicorn, in "
                   "several processes; no scheduler (run `ledgerpane scheduler` beside it). Other gunicorn settings "
                   "go in GUNICORN_CMD_ARGS.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Processes serving requests: about one per "
                                                                         "core.")
def web(host: str, port: int, workers: int) -> None:
    try:
        service = gunicorn_service(host, port, workers)
    except ImportError:  # gunicorn is installed on Linux only (pyproject.toml)
        raise click.ClickException("gunicorn runs on Linux: use `ledgerpane serve` (waitress) here.") from None
    freeze_startup_objects()  # the master's too: shared with the workers it forks, and quick to exit
    service.run()


# A sync worker is killed when one request takes longer than gunicorn's timeout (30 s of its own). An .xlsx of a
# large workspace takes longer to build (about 7.7 s per 100,000 Actuals rows here), and the pane waits 120 s
# for one (addin/taskpane/workbook/download.js).
LONGEST_REQUEST_SECONDS = 150


def gunicorn_service(host: str, port: int, workers: int):
    """The web service as a gunicorn application: our settings, then any in GUNICORN_CMD_ARGS."""
    from gunicorn.app.base import BaseApplication

    class WebService(BaseApplication):
        def load_config(self) -> None:
            # gunicorn 25+ opens an admin socket at one path per user, shared by every gunicorn there: none of ours.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("timeout", LONGEST_REQUEST_SECONDS)
            # The workbook's filters put hundreds of account codes or member ids in an address (gunicorn's own
            # limit is 4,094 bytes); the app refuses longer ones itself, and the pane sends none (api.js).
            self.cfg.set("limit_request_line", LONGEST_REQUEST_LINE)
            from_environment = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
            for name, value in vars(from_environment).items():
                if value is not None and name != "args":
                    self.cfg.set(name.lower(), value)
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            # Each worker builds its own app after the fork (a database pool and a job queue's threads do not
            # survive one), then freezes what it built.
            self.cfg.set("post_worker_init", lambda _worker: freeze_startup_objects())

        def load(self):
            from server.app import create_app  # in the worker: the master stays small

            return create_app()

    return WebService()


def freeze_startup_objects() -> None:
    """A serving process's long-lived objects (modules, models, schemas: ~200,000 once the app is built) go to
    the collector's permanent generation. Left in the oldest generation, every full collection walked them all
    (150-490 ms under load, issue 17), stalling the requests in flight; frozen, it takes about 1 ms."""
    gc.collect()
    gc.freeze()


@main.command(help="Run the overnight scheduler. Run several for standby: one is active (it holds a database "
                   "lock), the others take over within seconds if it stops.")
def scheduler() -> None:
    import signal

    from server.runtime import Runtime
    from server.scheduler.service import SchedulerService

    settings = load_settings()
    _migrated(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime(settings)
    runtime.jobs = job_queue_for(runtime)
    service = SchedulerService(runtime)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: service.stop())
    click.echo(f"Scheduler {service.holder} on {_safe_url(settings.effective_database_url)}")
    try:
        service.run()
    finally:
        runtime.close()


@main.command(help="Carry out refresh runs from the shared job queue (LEDGERPANE_JOB_QUEUE=procrastinate). Run as "
                   "many as needed, on as many machines; SIGTERM lets the runs under way end first.")
@click.option("--concurrency", type=int, default=None,
              help="Runs at the same time in this process.  [default: LEDGERPANE_REFRESH_WORKERS]")
def worker(concurrency: int | None) -> None:
    from server.jobs.procrastinate_queue import run_worker
    from server.refresh.runs import worker_name
    from server.runtime import Runtime

    settings = load_settings()
    if settings.job_queue != "procrastinate":
        raise click.UsageError("workers take runs from a shared job queue: set LEDGERPANE_JOB_QUEUE=procrastinate "
                               "(the default thread pool carries runs out in the process that asks for them)")
    if settings.provider_budgets != "redis":
        raise click.UsageError("workers share each provider's rate limits: set LEDGERPANE_PROVIDER_BUDGETS=redis and "
                               "REDIS_URL (workers each counting alone would together go over them)")
    _migrated(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime(settings)
    runtime.jobs = job_queue_for(runtime)
    try:
        resubmit_queued(runtime)
        click.echo(f"Worker {worker_name()} on {_safe_url(settings.effective_database_url)}")
        run_worker(runtime, concurrency or settings.refresh_workers)
    finally:
        runtime.close()


@main.command(help="Run the sandbox provider on its own (each provider's OAuth and API over demo data).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--lines", default=20_000, show_default=True, type=int, help="Journal lines to generate.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="An OAuth redirect URI to accept for the demo app (repeatable).")
def sandbox(host: str, port: int, lines: int, redirect_uris: tuple[str, ...]) -> None:
    settings = load_settings()
    config = demo_sandbox_config(settings, settings.public_url or "http://127.0.0.1:8000", lines=lines,
                                 extra_redirect_uris=list(redirect_uris))
    click.echo(f"Sandbox provider on http://{host}:{port} (admin key: {config.admin_key})")
    serve_sandbox(config, host=host, port=port)


@main.command(help="Refresh one connection now, in this process, and print what it did.")
@click.argument("connection_id", type=int)
@click.option("--mode", type=click.Choice(["incremental", "full"]), default="incremental", show_default=True)
def refresh(connection_id: int, mode: str) -> None:
    from server.db.models import Connection
    from server.refresh.pipeline import execute
    from server.refresh.runs import request_refresh
    from server.runtime import Runtime

    settings = load_settings()
    runtime = Runtime(settings)
    try:
        with transaction(runtime.sessions) as session:
            if session.get(Connection, connection_id) is None:
                raise click.BadParameter(f"no connection {connection_id}", param_hint="CONNECTION_ID")
        run_id, created = request_refresh(runtime.sessions, connection_id, trigger="manual", member_id=None,
                                          mode=mode)
        if not created:
            raise click.ClickException(f"run {run_id} of this connection is already under way")
        click.echo(f"Run {run_id}: {mode} refresh started")
        status = execute(runtime, run_id)
        click.echo(f"Run {run_id}: {status}")
    finally:
        runtime.close()
    if status != "succeeded":
        raise SystemExit(1)


@main.command(help="Write the Office add-in manifest for the origin users reach the service at.")
@click.option("--origin", required=True, help="The https origin, e.g. https://ledgerpane.example.com")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default="-", show_default=True)
def manifest(origin: str, output: str) -> None:
    from server.web.addin import render_manifest

    try:
        text = render_manifest(origin)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--origin") from None
    click.open_file(output, "w").write(text)


def demo_sandbox_config(settings: Settings, public_url: str, lines: int = 20_000,
                        extra_redirect_uris: list[str] | None = None) -> SandboxConfig:
    """The sandbox of the embedded default: the demo app may send users back to this service only."""
    client = SandboxClient(DEMO_CLIENT.client_id, DEMO_CLIENT.client_secret,
                           [*(f"{public_url}/oauth/callback/{o.key}" for o in catalog(settings) if o.is_demo),
                            *(extra_redirect_uris or [])],
                           name=DEMO_CLIENT.name)
    return SandboxConfig(clients=[client], lines=lines,
                         rate_limits=SandboxRateLimits.scaled(settings.sandbox_rate_scale))


def _embedded_workspace_key(settings: Settings, sessions) -> str:
    """The key printed at start. Keys are stored hashed, so the embedded default keeps its admin key
    in var/workspace-key (mode 0600) to print it again on the next start."""
    key_file = settings.var_dir / "workspace-key"
    with transaction(sessions) as session:
        if key_file.is_file() and member_for_key(session, key_file.read_text().strip()) is not None:
            return key_file.read_text().strip()
        admin = session.scalar(select(Member).where(Member.role == Role.admin.value).order_by(Member.id))
        if admin is None:
            _, admin = create_workspace(session, "My workspace", "admin@localhost")
        key = create_key(session, admin, label="printed by ledgerpane serve")
    _write_private(key_file, key)
    return key


def keep_private(settings: Settings) -> None:
    """The embedded default keeps everything in var/: the database (sealed tokens), the vault key and the
    workspace key. Only this user may list the folder (0700) or read the database (0600); SQLite gives its
    journal and WAL files the database file's mode. A deployment keeps its vault key in LEDGERPANE_SECRET_KEY."""
    var = Path(settings.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o700)
    database = var / "ledgerpane.db"
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if path.exists():
            path.chmod(0o600)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    path.chmod(0o600)


def _safe_url(url: str) -> str:
    """The database URL without its password, fit to print."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- workbook pull: the sheets into a workbook open in desktop Excel (xlwings) -----------------------------------

@main.group(help="The workbook's sheets (Actuals, Accounts, Dimensions) outside the task pane.")
def workbook() -> None:
    pass


@workbook.command("pull", help="Write the sheets into a workbook in desktop Excel (Windows or macOS), as tables "
                               "replaced in place.")
@click.option("--book", required=True, help="The workbook, e.g. Budget.xlsx (opened in Excel if it is not).")
@click.option("--url", envvar="LEDGERPANE_URL", required=True, help="The service, e.g. https://ledgerpane.example."
                                                                    "com (or LEDGERPANE_URL).")
@click.option("--key", envvar="LEDGERPANE_KEY", required=True, help="A workspace key (or LEDGERPANE_KEY).")
@click.option("--entity", "entities", type=int, multiple=True, help="Entity id (repeat for several).")
@click.option("--from", "period_from", help="First period, YYYY-MM.")
@click.option("--to", "period_to", help="Last period, YYYY-MM.")
@click.option("--summary", is_flag=True, help="Actuals summed by period x account x dimensions.")
def workbook_pull(book: str, url: str, key: str, entities: tuple[int, ...], period_from: str | None,
                  period_to: str | None, summary: bool) -> None:
    from ledgerpane.client import LedgerpaneError, Workspace
    from ledgerpane.excel import NEEDS_DESKTOP_EXCEL, has_desktop_excel, open_book, write_sheets

    if not has_desktop_excel():
        raise click.ClickException(NEEDS_DESKTOP_EXCEL)
    workspace = Workspace(url, key)
    try:
        frames = {"Actuals": workspace.actuals(entities=entities, period_from=period_from, period_to=period_to,
                                               summary=summary),
                  "Accounts": workspace.accounts(entities=entities),
                  "Dimensions": workspace.dimensions()}
    except LedgerpaneError as error:
        raise click.ClickException(str(error)) from None
    write_sheets(open_book(book), frames)
    click.echo(", ".join(f"{name}: {len(frame):,} rows" for name, frame in frames.items()) + f" written to {book}.")
