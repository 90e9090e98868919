"""One night of 1,000 connections (issue 14): the overnight wave carried out by `ledgerpane worker` processes through
the Procrastinate queue on PostgreSQL, with provider budgets shared in Redis, against the sandbox provider with its
rate limits on a scaled clock (`--scale 1/6`: a "minute" of ten seconds, so ten tenants allow 60 calls a second
together). Run on 1 and on 4 worker processes, each on a fresh database and fresh grants, with the same runs at once
in all (`--runs`, three per tenant by default, shared out over the workers); prints per run:

- wall time from the first run queued to the last run ended;
- the share of each tenant's rate ceiling used while it had pages left: per window of the provider's minute (fixed
  windows, where the provider counts them), the calls it took out of the 60 it allows, over the tenant's full
  windows (its first and last, when it started and ran out of pages, are partial);
- the 429s the provider answered (goal: 0);
- the application's peak calls in any one provider "minute", against its 10,000;
- that every connection was refreshed exactly once (one run each, succeeded, its tenant's every line loaded once);
- what held the night back, measured in the same run: the seconds runs waited for a tenant's budget (all workers
  together, counted by the shared budgets), the machine's CPU busy over the night (all its cores, every process on
  it), and the CPU seconds our side took per call (workers, sandbox and their PostgreSQL backends), hence the calls a
  second this machine could carry with all its cores against the tenants' ceiling, and whether that ceiling is
  below half of it: only then do the figures measure the budgets rather than this machine (if not, it says the
  `--scale` that would be); the load average before and after, as other work on the machine takes its CPU too;

and the 4-vs-1 ratio of wall times.

    .venv/bin/python -m benchmarks.overnight                        # PostgreSQL at TEST_DATABASE_URL, Redis at 6379
    .venv/bin/python -m benchmarks.overnight --connections 200 --tenants 10 --lines 3000 --workers 1 4 --scale 1/6

Connections are spread over `--tenants` organisations (each connection its own grant, selecting one of them), so a
tenant's ceiling is shared by the connections of many workspaces, as one organisation's limits are by every app.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
import requests
from sqlalchemy import func, select, text

from benchmarks.harness import ADMIN_KEY, ORIGIN, admin, database
from server.access.workspaces import create_workspace
from server.config import load_settings
from server.connections.entities import sync_entities
from server.connections.status import Event, apply
from server.db.engine import make_engine, transaction
from server.db.models import Connection, LedgerLine, RefreshRun
from server.jobs import job_queue_for
from server.jobs.procrastinate_queue import apply_schema
from server.refresh.runs import request_refresh
from server.runtime import Runtime
from server.sandbox.config import DEMO_CLIENT

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TICK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]
TENANT_CEILING = 60  # calls per provider "minute" per tenant, as the sandbox (and Xero) allow
APP_CEILING = 10_000  # calls per provider "minute" per application
GOAL = 0.9  # of a tenant's ceiling, while it has pages left (issue 14)


def _serve_sandbox(tenants: int, lines: int, scale: float, ready: Any) -> None:
    """The sandbox, with every API call's arrival (time, tenant, status) kept for GET /bench/arrivals."""
    import waitress

    from server.sandbox import RateLimits, SandboxClient, SandboxConfig, create_sandbox_app

    client = SandboxClient(DEMO_CLIENT.client_id, DEMO_CLIENT.client_secret, [f"{ORIGIN}/oauth/callback/xero-sandbox"])
    app = create_sandbox_app(SandboxConfig(clients=[client], lines=lines, tenants=tenants, auto_approve=True,
                                           admin_key=ADMIN_KEY, rate_limits=RateLimits.scaled(scale)))
    arrivals: list[tuple[float, str, int]] = []

    def recorded(environ: dict, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/bench/arrivals":
            body = json.dumps(arrivals).encode()
            arrivals.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        arrived, tenant = time.time(), environ.get("HTTP_XERO_TENANT_ID", "")

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            if tenant:
                arrivals.append((arrived, tenant, int(status[:3])))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    server = waitress.create_server(recorded, host="127.0.0.1", port=0, threads=16)
    ready.put(f"http://127.0.0.1:{server.effective_port}")
    server.run()


def connect_all(runtime: Runtime, count: int, tenants: list[str]) -> list[int]:
    """`count` connections, each its own grant (as after the consent dialog) with one organisation selected."""
    connector = runtime.connector("xero-sandbox")
    redirect = f"{ORIGIN}/oauth/callback/xero-sandbox"
    with transaction(runtime.sessions) as session:
        workspace_id = create_workspace(session, "Overnight", "controller@overnight.test")[0].id
    ids = []
    http = requests.Session()
    for number in range(count):
        consent = connector.auth.authorization_url(redirect)
        back = urlsplit(http.get(consent.url, allow_redirects=False, timeout=30).headers["Location"])
        granted = connector.auth.complete(redirect_uri=redirect, expected_state=consent.state,
                                          code_verifier=consent.code_verifier,
                                          callback={k: v[0] for k, v in parse_qs(back.query).items()})
        token = granted.credential["access_token"]
        with transaction(runtime.sessions) as session:
            connection = Connection(workspace_id=workspace_id, provider="xero-sandbox", name=f"Company {number:04d}")
            session.add(connection)
            session.flush()
            runtime.vault.store(connection, granted.credential)
            sync_entities(session, connection, connector.list_companies(lambda rejected=None, t=token: t))
            for entity in connection.entities:
                entity.selected = entity.provider_entity_id == tenants[number % len(tenants)]
            apply(connection, Event.authorized)
            ids.append(connection.id)
    return ids


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, over every core."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / TICK, sum(ticks) / TICK


def named(url: str, name: str) -> str:
    """The database URL with an application name, to find the night's PostgreSQL backends by."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def night(workers: int, args: argparse.Namespace, sandbox_url: str, sandbox_pid: int,
          directory: Path) -> dict[str, Any]:
    namespace = f"overnight-{uuid.uuid4().hex[:8]}"
    with database("postgresql", directory) as url:
        apply_schema(make_engine(url))
        settings = {"database_url": url, "var_dir": directory, "sandbox": False, "sandbox_url": sandbox_url,
                    "public_url": ORIGIN, "sandbox_rate_scale": args.scale, "job_queue": "procrastinate",
                    "provider_budgets": "redis", "redis_url": REDIS_URL, "budget_namespace": namespace,
                    "refresh_workers": runs_per_worker(args, workers)}
        runtime = Runtime(load_settings(settings))
        runtime.jobs = job_queue_for(runtime)
        listed = admin(sandbox_url, "GET", "/admin/tenants")
        lines = {t["tenantId"]: t["lineCount"] for t in listed}
        connection_ids = connect_all(runtime, args.connections, list(lines))
        admin(sandbox_url, "POST", "/admin/reset", {"data": False, "faults": True, "stats": True, "limits": True})
        requests.get(f"{sandbox_url}/bench/arrivals", timeout=60)  # forget the setup's calls
        env = {**os.environ, **{f"LEDGERPANE_{k.upper()}": str(v) for k, v in settings.items()
                                if k not in ("database_url", "redis_url")},
               "DATABASE_URL": named(url, namespace), "REDIS_URL": REDIS_URL, "LEDGERPANE_LOG_LEVEL": "WARNING"}
        logs = [directory / f"worker-{n}.log" for n in range(workers)]
        processes = [subprocess.Popen([sys.executable, "-m", "server", "worker"], cwd=REPO, env=env,
                                      stdout=log.open("wb"), stderr=subprocess.STDOUT) for log in logs]
        try:
            # The night's clock starts with every worker up: four starting on a busy machine take longer than one.
            give_up = time.perf_counter() + 120
            while not all("\nWorker " in "\n" + log.read_text(errors="replace") for log in logs):
                if time.perf_counter() > give_up or any(p.poll() is not None for p in processes):
                    raise SystemExit("a worker did not start:\n" + "\n".join(
                        log.read_text(errors="replace")[-3000:] for log in logs))
                time.sleep(0.1)
            load_before = os.getloadavg()[0]
            sandbox_cpu, (machine_busy, machine_all) = process_cpu(sandbox_pid), machine_cpu()
            started = time.perf_counter()
            for connection_id in connection_ids:  # what the scheduler does at 02:00
                run_id, _ = request_refresh(runtime.sessions, connection_id, trigger="scheduled", member_id=None)
                runtime.jobs.submit(run_id)
            give_up = started + args.deadline
            while _still_going(runtime):
                if time.perf_counter() > give_up or any(p.poll() is not None for p in processes):
                    raise SystemExit("the night did not end; the workers said:\n" + "\n".join(
                        log.read_text(errors="replace")[-3000:] for log in logs))
                time.sleep(0.2)
            wall = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            machine_busy, machine_all = (a - b for a, b in zip(machine_cpu(), (machine_busy, machine_all), strict=True))
            with runtime.engine.connect() as db:
                backends = list(db.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                           {"name": namespace}))
            ours = {"workers": sum(process_cpu(p.pid) for p in processes),
                    "sandbox": process_cpu(sandbox_pid) - sandbox_cpu,
                    "postgres": sum(process_cpu(pid) for pid in backends)}
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
        arrivals = requests.get(f"{sandbox_url}/bench/arrivals", timeout=60).json()
        waited = float(redis.Redis.from_url(REDIS_URL).get(f"{namespace}:budgets:waited") or 0)
        figures = {"workers": workers, "wall": wall, **_rates(arrivals, args.scale),
                   **_exactly_once(runtime, connection_ids, lines), "budget_waited": waited, "cpu": ours,
                   "machine_busy": machine_busy / machine_all, "cores": os.cpu_count(),
                   "load": (load_before, load_after)}
        runtime.close()
    return figures


def _still_going(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        return bool(session.scalar(select(func.count()).select_from(RefreshRun).where(
            RefreshRun.status.in_(("queued", "running")))))


def _rates(arrivals: list[list], scale: float) -> dict[str, Any]:
    window = 60.0 * scale
    if not arrivals:
        return {"calls": 0, "served_429": 0, "tenant_share_median": 0.0, "tenant_share_mean": 0.0,
                "tenant_share_min": 0.0, "windows_at_goal": 0.0, "app_peak": 0}
    per_tenant: dict[str, Counter] = defaultdict(Counter)
    for arrived, tenant, _status in arrivals:
        # The sandbox, like the provider, counts in fixed windows from the epoch: measure in the same ones.
        per_tenant[tenant][int(arrived // window)] += 1
    shares = []
    for windows in per_tenant.values():
        first, last = min(windows), max(windows)
        # Between them every window counts, one without a call too: the tenant still had pages left.
        shares += [windows[w] / TENANT_CEILING for w in range(first + 1, last)]
    times = sorted(a[0] for a in arrivals)
    peak, low = 0, 0
    for high, arrived in enumerate(times):  # the most calls of the application within any one window
        while times[low] <= arrived - window:
            low += 1
        peak = max(peak, high - low + 1)
    return {"calls": len(arrivals), "served_429": sum(1 for a in arrivals if a[2] == 429),
            "tenant_share_median": statistics.median(shares) if shares else 0.0,
            "tenant_share_mean": statistics.fmean(shares) if shares else 0.0,
            "tenant_share_min": min(shares) if shares else 0.0,
            "windows_at_goal": sum(1 for share in shares if share >= GOAL) / len(shares) if shares else 0.0,
            "app_peak": peak}


def _exactly_once(runtime: Runtime, connection_ids: list[int], lines: dict[str, int]) -> dict[str, Any]:
    with runtime.sessions() as session:
        runs = Counter(dict(session.execute(select(RefreshRun.connection_id, func.count())
                                            .group_by(RefreshRun.connection_id)).all()))
        succeeded = session.scalar(select(func.count()).select_from(RefreshRun).where(
            RefreshRun.status == "succeeded"))
        loaded = dict(session.execute(select(LedgerLine.connection_id, func.count())
                                      .group_by(LedgerLine.connection_id)).all())
        expected = {}
        for connection in session.scalars(select(Connection).where(Connection.id.in_(connection_ids))):
            [entity] = [e for e in connection.entities if e.selected]
            expected[connection.id] = lines[entity.provider_entity_id]
    once = (all(runs[c] == 1 for c in connection_ids) and succeeded == len(connection_ids)
            and all(loaded.get(c, 0) == expected[c] for c in connection_ids))
    return {"exactly_once": once, "runs": sum(runs.values()), "succeeded": succeeded}


def runs_per_worker(args: argparse.Namespace, workers: int) -> int:
    """Each worker's share of the runs at once (`--runs`, by default three per tenant: one run alone, its calls one
    after another, cannot keep a tenant at its ceiling while it writes a batch or the next run starts, and two fell
    short whenever this shared machine stalled them)."""
    return -(-(args.runs or 3 * args.tenants) // workers)


def ceiling(args: argparse.Namespace) -> float:
    """Calls a second all tenants allow together."""
    return args.tenants * TENANT_CEILING / (60.0 * args.scale)


def held_back(figures: dict[str, Any], args: argparse.Namespace) -> str:
    """What held the night back: the budgets (time waiting for them) or the machine (its CPU)."""
    allowed = ceiling(args)
    per_call = sum(figures["cpu"].values()) / max(figures["calls"], 1)
    carried = figures["calls"] / figures["wall"]
    cores = figures["cores"]
    capacity = cores / per_call if per_call else float("inf")
    cpu = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in figures["cpu"].items())
    ours = sum(figures["cpu"].values()) / (figures["wall"] * cores)  # share of the machine's CPU our side had
    if allowed <= capacity / 2:
        verdict = "below half of it: the figures measure the budgets, not this machine"
    else:  # the scale at which the ceiling would be half of what the machine carries
        verdict = (f"above half of it: the figures measure this machine more than the budgets "
                   f"(from --scale {2 * args.tenants * TENANT_CEILING / (60.0 * capacity):.3f} on, it would be half)")
    return (f"  calls a second: {carried:.0f}, the tenants' ceiling {allowed:.0f}; runs waited "
            f"{figures['budget_waited']:.0f} s in all for a tenant's budget; machine CPU busy "
            f"{figures['machine_busy']:.0%} of {cores} cores (every process on it; load average "
            f"{figures['load'][0]:.1f} before, {figures['load'][1]:.1f} after), {ours:.0%} of them ours: {cpu}, "
            f"{per_call * 1000:.1f} ms a call; all {cores} cores, had they been ours alone, would carry "
            f"{capacity:.0f} calls a second: the tenants' ceiling is {allowed / capacity:.0%} of that, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--lines", type=int, default=3000, help="journal lines over all tenants")
    # 1/6: ten tenants allow 60 calls a second together, under half of what a 2-core machine carries at the 6-8 ms
    # of CPU a call costs on all sides (at 1/30 the ceiling, 300 a second, was above all of it).
    parser.add_argument("--scale", type=lambda text: float(Fraction(text)), default="1/6",
                        help="the provider's windows relative to real ones (1/6: a ten-second minute)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker processes, one night each")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs at once over all the worker processes of a night (default: three per tenant)")
    parser.add_argument("--deadline", type=float, default=1800, help="seconds a night may take before giving up")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    sandbox = context.Process(target=_serve_sandbox, args=(args.tenants, args.lines, args.scale, ready), daemon=True)
    sandbox.start()
    try:
        sandbox_url = ready.get(timeout=600)
        nights = []
        for workers in args.workers:
            with tempfile.TemporaryDirectory(prefix="overnight-") as directory:
                figures = night(workers, args, sandbox_url, sandbox.pid, Path(directory))
            nights.append(figures)
            print(f"{workers} worker process(es) x {runs_per_worker(args, workers)} runs at once: "
                  f"{args.connections} connections over {args.tenants} tenants in {figures['wall']:.1f} s; "
                  f"{figures['calls']} calls, 429s: {figures['served_429']}; tenant ceiling used while it had pages "
                  f"left: median {figures['tenant_share_median']:.0%}, mean {figures['tenant_share_mean']:.0%}, "
                  f"lowest window {figures['tenant_share_min']:.0%}, windows at {GOAL:.0%} or more "
                  f"{figures['windows_at_goal']:.0%}; "
                  f"app peak {figures['app_peak']} of {APP_CEILING} per window; exactly once: "
                  f"{figures['exactly_once']} ({figures['runs']} runs, {figures['succeeded']} succeeded)", flush=True)
            print(held_back(figures, args), flush=True)
        if len(nights) >= 2:
            print(f"wall time {nights[0]['workers']} vs {nights[-1]['workers']} workers: "
                  f"{nights[0]['wall'] / nights[-1]['wall']:.2f}x faster with {nights[-1]['workers']}")
    finally:
        sandbox.terminate()
        sandbox.join(timeout=10)


if __name__ == "__main__":
    main()
