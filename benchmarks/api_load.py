"""The API under load (issue 17): gunicorn with 2 workers on PostgreSQL, a workspace with 1,000 connections and
100,000 integration-log events, and 50 clients on loopback asking for the Connections list and the log for 30 s.
Prints requests/s, p50, p99 and errors, overall and per kind of request (goal: p99 under 100 ms, no errors).

    .venv/bin/python -m benchmarks.api_load                  # PostgreSQL at TEST_DATABASE_URL or 127.0.0.1:5432/test
    .venv/bin/python -m benchmarks.api_load --clients 50 --seconds 30 --explain

The clients are closed loops (each sends its next request when the last answer is in), written on asyncio
streams, so that the load generator costs little of the two cores the server shares with it. By Little's law
the mean latency is then clients / throughput: a p99 under 100 ms with 50 clients needs well over 500 requests/s.
`--explain` prints PostgreSQL's plans for the list's and the log's queries on the seeded data.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert, text

from server.access.workspaces import create_key, create_workspace
from server.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from server.db.models import Account, Connection, Entity, LogEvent, RefreshRun, utcnow

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[1]
DATA_TYPES = ("accounts", "dimensions", "journals", "trial_balance", "currencies")


def seed(url: str, connections: int, events: int) -> tuple[str, list[int]]:
    """A workspace as a large customer has it: connections live with two entities, a chart and a last run each, and
    a log spread over the last 90 days. Returns the admin's key and the connection ids."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    rng = random.Random(17)
    now = utcnow()
    with transaction(sessions) as session:
        workspace, admin = create_workspace(session, "Load test", "controller@load.test", "Europe/London", "GBP")
        key = create_key(session, admin, "benchmark")
        workspace_id = workspace.id
    with engine.begin() as db:
        ids = list(db.execute(insert(Connection).returning(Connection.id), [
            {"workspace_id": workspace_id, "provider": "xero-sandbox", "name": f"Company group {n:04d}",
             "status": "live", "credential_status": "active", "account_status": "ready",
             "business_account": f"finance{n}@client.test", "created_at": now - timedelta(days=rng.randint(1, 400)),
             "last_successful_run_at": now - timedelta(hours=rng.randint(1, 48))}
            for n in range(connections)]).scalars())
        entities = list(db.execute(insert(Entity).returning(Entity.id, Entity.connection_id), [
            {"workspace_id": workspace_id, "connection_id": c, "provider_entity_id": f"tenant-{c}-{e}",
             "name": f"Entity {c}-{e}", "selected": True, "base_currency": "GBP"} for c in ids for e in range(2)]))
        db.execute(insert(Account), [
            {"workspace_id": workspace_id, "connection_id": c, "entity_id": e, "source_account_id": f"acc-{e}-{a}",
             "code": str(200 + a), "name": f"Account {a}"} for e, c in entities for a in range(10)])
        runs = list(db.execute(insert(RefreshRun).returning(RefreshRun.id, RefreshRun.connection_id), [
            {"workspace_id": workspace_id, "connection_id": c, "trigger": "scheduled", "status": "succeeded",
             "queued_at": now - timedelta(hours=h), "started_at": now - timedelta(hours=h),
             "finished_at": now - timedelta(hours=h) + timedelta(seconds=40), "progress": {"pages": 3}}
            for c in ids for h in (30, 6)]))
        run_of = {c: r for r, c in runs}
        entity_list = [(e, c) for e, c in entities]
        for start in range(0, events, 20_000):
            rows = []
            for _ in range(start, min(events, start + 20_000)):
                entity_id, connection_id = rng.choice(entity_list)
                rows.append({"workspace_id": workspace_id, "connection_id": connection_id, "entity_id": entity_id,
                             "run_id": run_of[connection_id], "data_type": rng.choice(DATA_TYPES),
                             "status": rng.choices(["succeeded", "failed", "needs_attention"], [90, 5, 5])[0],
                             "rows_inserted": rng.randint(0, 500), "rows_updated": rng.randint(0, 50),
                             "pages": rng.randint(1, 5), "duration_ms": rng.randint(50, 5000),
                             "endpoints": [{"method": "GET", "url": "https://api.xero.com/api.xro/2.0/Journals",
                                            "calls": 3, "statuses": {"200": 3}, "ms": 420, "attempts": 3}],
                             "detail": "120 new lines across 14 account-periods in 2 period(s).",
                             "created_at": now - timedelta(seconds=rng.randint(0, 90 * 86_400))})
            db.execute(insert(LogEvent), rows)
    # As autovacuum leaves a table that grew by inserts over months: statistics, and a visibility map (so that
    # counting can read an index alone).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return key, ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children that are still running: gunicorn's master and
    workers. On a shared machine this, per request, is the figure that does not depend on the neighbours."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start_gunicorn(url: str, workers: int, port: int, var_dir: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "LEDGERPANE_SANDBOX": "false", "LEDGERPANE_VAR_DIR": var_dir,
           "LEDGERPANE_SCHEDULER": "off", "LEDGERPANE_LOG_LEVEL": "WARNING",
           "LEDGERPANE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
                             f"127.0.0.1:{port}", "--log-level", "warning", "server.app:create_app()"],
                            env=env, cwd=REPO)


async def get(reader, writer, path: str, key: str) -> tuple[int, bool]:
    """One GET; returns the status and whether the server keeps the connection open (gunicorn's sync workers
    close it after each answer). The body is read and dropped."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
            keep = False
    await reader.readexactly(length)
    return status, keep


def requests_mix(connection_ids: list[int], rng: random.Random) -> list[tuple[str, str]]:
    """What the task pane asks for, by kind: the list (first page, other pages, sorted by the last run, searched)
    and the log (newest first, one connection's, failures only, since a date, a later page)."""
    mix = []
    for _ in range(2000):
        connection = rng.choice(connection_ids)
        mix += [("connections", "/api/v1/connections"),
                ("connections page", f"/api/v1/connections?page={rng.randint(2, 40)}"),
                ("connections by last run", "/api/v1/connections?sort=last_run_at&order=desc"),
                ("connections search", f"/api/v1/connections?q=group%20{rng.randint(0, 99):02d}"),
                ("log", "/api/v1/log"),
                ("log of a connection", f"/api/v1/log?connection_id={connection}"),
                ("log failures", "/api/v1/log?status=failed"),
                ("log since", "/api/v1/log?since=2026-01-01&data_type=journals"),
                ("log page", f"/api/v1/log?page={rng.randint(2, 200)}")]
    rng.shuffle(mix)
    return mix


async def load(port: int, key: str, clients: int, seconds: float, mix: list[tuple[str, str]]) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)  # of the errors: an HTTP status, or what broke the connection
    stop = time.perf_counter() + seconds

    async def client(number: int) -> None:
        position = number * 37
        writer = None
        while time.perf_counter() < stop:
            kind, path = mix[position % len(mix)]
            position += 1
            started = time.perf_counter()
            try:
                if writer is None:  # the connection's setup counts in the latency, as it does for a browser
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                status, keep = await get(reader, writer, path, key)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                errors[kind] += 1
                statuses[type(error).__name__] += 1
                keep = False
            else:
                latencies[kind].append(time.perf_counter() - started)
                if status != 200:
                    errors[kind] += 1
                    statuses[str(status)] += 1
            if not keep and writer is not None:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return {"latencies": latencies, "errors": errors, "statuses": statuses, "elapsed": time.perf_counter() - began}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


def report(result: dict) -> None:
    everything = [value for values in result["latencies"].values() for value in values]
    errors = sum(result["errors"].values())
    print(f"{'requests':<26}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, values in sorted(result["latencies"].items()):
        print(f"{kind:<26}{len(values):>8}{len(values) / result['elapsed']:>9.0f}{percentile(values, 0.5):>9.1f}"
              f"{percentile(values, 0.99):>9.1f}{result['errors'].get(kind, 0):>8}")
    print(f"{'all':<26}{len(everything):>8}{len(everything) / result['elapsed']:>9.0f}"
          f"{percentile(everything, 0.5):>9.1f}{percentile(everything, 0.99):>9.1f}{errors:>8}")
    p99 = percentile(everything, 0.99)
    by_status = f" by status: {dict(result['statuses'])}" if errors else ""
    print(f"goal p99 < 100 ms: {'met' if p99 < 100 else 'missed'} ({p99:.0f} ms); errors: {errors}{by_status}")


def explain(url: str, key: str, connection_id: int) -> None:
    """The plans of the queries behind GET /api/v1/connections and GET /api/v1/log, as the app sends them."""
    from server.app import create_app

    app = create_app({"database_url": url, "sandbox": False, "var_dir": tempfile.mkdtemp(), "scheduler": "off"})
    engine = app.extensions["ledgerpane"].engine
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    client = app.test_client()
    for path in ("/api/v1/connections", "/api/v1/connections?sort=last_run_at&order=desc", "/api/v1/log",
                 f"/api/v1/log?connection_id={connection_id}", "/api/v1/log?page=150"):
        statements.clear()
        assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        print(f"\n=== GET {path}: {len(statements)} queries")
        with engine.connect() as db:
            raw = db.connection.driver_connection
            for statement, parameters in statements:
                if "workspace_key" in statement or "FROM member" in statement:
                    continue  # the key check, the same for every request
                plan = raw.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + statement, parameters).fetchall()
                head = " ".join(statement.split())[:160]
                print(f"--- {head}\n" + "\n".join(f"    {row[0]}" for row in plan))
    app.extensions["ledgerpane"].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--explain", action="store_true", help="print the plans of the endpoints' queries")
    options = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    server = None
    try:
        started = time.perf_counter()
        key, connection_ids = seed(url, options.connections, options.events)
        print(f"seeded {options.connections} connections and {options.events} log events in "
              f"{time.perf_counter() - started:.1f} s (schema {schema})")
        if options.explain:
            explain(url, key, connection_ids[0])
        port = free_port()
        with tempfile.TemporaryDirectory() as var_dir:
            server = start_gunicorn(url, options.workers, port, var_dir)
            deadline = time.monotonic() + 120
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not start") from None
                    time.sleep(0.1)
            mix = requests_mix(connection_ids, random.Random(1))
            asyncio.run(load(port, key, options.clients, 2, mix))  # warm: imports, pools, plans
            print(f"gunicorn, {options.workers} workers, PostgreSQL; {options.clients} clients for "
                  f"{options.seconds:g} s on loopback")
            cpu = cpu_seconds(server.pid)
            result = asyncio.run(load(port, key, options.clients, options.seconds, mix))
            report(result)
            served = sum(len(values) for values in result["latencies"].values())
            rate = served / result["elapsed"]
            print(f"Little's law: {options.clients} clients at {rate:.0f} requests/s wait "
                  f"{options.clients / max(rate, 1e-9) * 1000:.0f} ms on average; 100 ms needs "
                  f"{options.clients * 10} requests/s")
            print(f"gunicorn CPU per request: {(cpu_seconds(server.pid) - cpu) / max(served, 1) * 1000:.1f} ms "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
