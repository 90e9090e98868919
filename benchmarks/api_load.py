"""The API under load (issue 17): gunicorn with 2 workers on PostgreSQL (and Redis, if one answers), a workspace
with 1,000 connections and 100,000 integration-log events, and 50 clients on loopback asking for the Connections
list and the log for 30 s.
Prints requests/s, p50, p99 and errors, overall and per kind of request (goal: p99 under 100 ms, no errors).

    .venv/bin/python -m benchmarks.api_load                  # PostgreSQL at TEST_DATABASE_URL or 127.0.0.1:5432/test
    .venv/bin/python -m benchmarks.api_load --clients 50 --seconds 30 --interval 1 --explain
    .venv/bin/python -m benchmarks.api_load --redis ''            # no Redis: each worker keeps its own answers

The requests are the task pane's own (the list as it polls it, 25 a page until the user asks for more; the log as
it shows it, 50 a page, and its next pages by cursor). Three runs:

- saturation: each client sends its next request the moment the last one is answered. This measures what the
  server can do at most; its latency is clients / throughput by Little's law, so with 50 such clients a p99
  under 100 ms would need well over 500 requests/s from two workers on two cores.
- panes: each of the 50 clients is an open task pane whose user acts about once a second (`--interval`, a random
  gap; the pane polls the list every 1.5 s only while a refresh runs, every 20 s otherwise). Its requests go out
  on that schedule whether or not the last one has been answered, and a latency counts from when the request was
  due, so a slow server cannot hide its queue (no "coordinated omission"). This is the p99 the goal is about.

- reference (run first): the saturation run again, with every client asking for the health check (`/healthz`: the
  pool's ping and one `SELECT 1`, no key): about the least a request through gunicorn, Flask and PostgreSQL costs
  on this machine, measured in the same run. The saturation run's requests/s is also printed as a share of it.

Each run starts when gunicorn has finished the last one's queue. The load generator runs in a process of its
own (asyncio streams, one connection per request as gunicorn's sync workers close them) and prints the CPU it
used, beside the CPU per request of gunicorn (`ledgerpane web`) and of the PostgreSQL backends serving it: on a
shared machine these are the figures the neighbours do not move. It runs on uvloop: on two cores its CPU is the
server's, and a sync worker waits for the client to close each connection (gunicorn 27 lingers on close), so a
slow client would be measured as a slow server. `--explain` prints PostgreSQL's plans for the
list's and the log's queries on the seeded data.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
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

import redis
import uvloop
from sqlalchemy import event, insert, text

from server.access.workspaces import create_key, create_workspace
from server.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from server.db.models import Account, Connection, Entity, LogEvent, RefreshRun, utcnow

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[1]
DATA_TYPES = ("accounts", "dimensions", "journals", "trial_balance", "currencies")
NIGHTLY_RUNS = [24 * day + 6 for day in range(29, -1, -1)]  # hours ago: a month of them, the newest last


def seed(url: str, connections: int, events: int) -> tuple[str, list[int]]:
    """A workspace as a large customer has it: connections live with two entities, a chart and a month of nightly
    runs each, and a log spread over the last 90 days. Returns the admin's key and the connection ids."""
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
            for c in ids for h in NIGHTLY_RUNS]))
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


def reachable(redis_url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _process_cpu(stat: Path) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) from /proc/<pid>/stat; None once the process is gone."""
    try:
        fields = stat.read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children that are still running: gunicorn's master and
    workers. On a shared machine this, per request, is the figure that does not depend on the neighbours."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        process = _process_cpu(entry / "stat")
        if process is not None and (int(entry.name) == pid or process[0] == pid):
            total += process[1]
    return total


def database_cpu_seconds(admin, application_name: str) -> dict[int, float]:
    """CPU time of each PostgreSQL backend serving gunicorn's workers (on this machine, as loopback implies),
    by backend pid: the other half of a request's cost, which the workers' own CPU time leaves out. The
    service's sessions carry `application_name`, which tells them from the neighbours'."""
    with admin.connect() as db:
        pids = db.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                          {"name": application_name}).scalars().all()
    found = {pid: _process_cpu(Path(f"/proc/{pid}/stat")) for pid in pids}
    return {pid: process[1] for pid, process in found.items() if process is not None}


def database_cpu_since(admin, application_name: str, before: dict[int, float]) -> float:
    """CPU the service's backends used since `before` (a backend that started since counts from zero)."""
    return sum(seconds - before.get(pid, 0.0)
               for pid, seconds in database_cpu_seconds(admin, application_name).items())


def settle(pid: int, quiet: float = 0.05) -> None:
    """Wait until gunicorn has nothing left to do (requests whose clients gave up are still served): the next
    run must not inherit the last one's queue."""
    for _ in range(600):
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < quiet:
            return


def start_gunicorn(url: str, workers: int, port: int, var_dir: str, application_name: str,
                   redis_url: str = "") -> subprocess.Popen:
    """The production web service, as the README starts it (`ledgerpane web`: gunicorn), with Redis if given (the
    rate limits' counters, and the kept answers shared by the workers)."""
    env = {**os.environ, "DATABASE_URL": f"{url}&application_name={application_name}", "REDIS_URL": redis_url,
           "LEDGERPANE_SANDBOX": "false", "LEDGERPANE_VAR_DIR": var_dir, "LEDGERPANE_SCHEDULER": "off",
           "LEDGERPANE_LOG_LEVEL": "WARNING", "LEDGERPANE_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "GUNICORN_CMD_ARGS": "--log-level warning"}
    return subprocess.Popen([sys.executable, "-m", "server", "web", "--workers", str(workers), "--port", str(port)],
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


PANE_LIST = "/api/v1/connections?sort={sort}&order={order}&per_page=25&page=1"  # addin/taskpane/store.js (LIST_STEP)
PANE_LOG = "/api/v1/log?per_page=50"  # addin/taskpane/views/log.js
# About the least a request costs through the same stack (gunicorn, Flask, the pool's ping and one round trip to
# PostgreSQL, no key): the reference the list and the log are measured against. (A kept answer costs a little
# less: one round trip, no ping; server/db/snapshots.py.)
HEALTH = [("health check", "/healthz")]


def log_cursors(port: int, key: str, pages: int) -> list[str]:
    """The log's `next_cursor`s, one page after another, as a client walking back through the log gets them."""
    async def walk() -> list[str]:
        cursors, path = [], PANE_LOG
        for _ in range(pages):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                         f"Connection: close\r\n\r\n".encode())
            body = (await reader.read()).partition(b"\r\n\r\n")[2]
            writer.close()
            cursor = json.loads(body)["next_cursor"]
            if cursor is None:
                break
            cursors.append(cursor)
            path = f"{PANE_LOG}&cursor={cursor}"
        return cursors

    return asyncio.run(walk())


def requests_mix(connection_ids: list[int], cursors: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """What the task pane asks for, by kind: the list (as it polls it, sorted by the last run, searched) and the
    log (newest first, one connection's, failures only, since a date, a later page by its cursor)."""
    mix = []
    for _ in range(2000):
        connection = rng.choice(connection_ids)
        mix += [("connections", PANE_LIST.format(sort="name", order="asc")),
                ("connections by last run", PANE_LIST.format(sort="last_run_at", order="desc")),
                ("connections search", PANE_LIST.format(sort="name", order="asc")
                 + f"&q=group%200{rng.randint(0, 99):02d}"),  # ten of the names ("Company group 0420"...)
                ("log", PANE_LOG),
                ("log of a connection", f"{PANE_LOG}&connection_id={connection}"),
                ("log failures", f"{PANE_LOG}&status=failed"),
                ("log since", f"{PANE_LOG}&since=2026-01-01&data_type=journals"),
                ("log later page", f"{PANE_LOG}&cursor={rng.choice(cursors)}")]
    rng.shuffle(mix)
    return mix


async def one_request(port: int, path: str, key: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        status, _ = await get(reader, writer, path, key)
    finally:
        writer.close()
    return status


async def panes(port: int, key: str, clients: int, seconds: float, interval: float,
                mix: list[tuple[str, str]]) -> dict:
    """Open task panes: every client's requests are due on its own random schedule (a mean `interval` apart)."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)
    rng = random.Random(5)
    began = time.perf_counter()
    stop = began + seconds
    pending: set[asyncio.Task] = set()

    async def due(kind: str, path: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        try:
            status = await asyncio.wait_for(one_request(port, path, key), timeout=30)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
            errors[kind] += 1
            statuses[type(error).__name__] += 1
            return
        latencies[kind].append(time.perf_counter() - at)  # from when it was due, not from when it went out
        if status != 200:
            errors[kind] += 1
            statuses[str(status)] += 1

    schedule = []
    for _client in range(clients):
        at = began + rng.uniform(0, interval)
        while at < stop:
            schedule.append(at)
            at += rng.expovariate(1 / interval)
    for position, at in enumerate(sorted(schedule)):
        kind, path = mix[position % len(mix)]
        await asyncio.sleep(max(0.0, at - time.perf_counter() - 0.05))  # keep a few tasks ahead, not thousands
        task = asyncio.create_task(due(kind, path, at))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return {"latencies": latencies, "errors": errors, "statuses": statuses, "elapsed": time.perf_counter() - began}


async def saturation(port: int, key: str, clients: int, seconds: float, mix: list[tuple[str, str]]) -> dict:
    """Closed loops: each client asks again the moment it has its answer."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)  # of the errors: an HTTP status, or what broke the connection
    windows: dict[int, list[float]] = defaultdict(list)  # latencies by when the request went out
    began = time.perf_counter()
    stop = began + seconds

    async def client(number: int) -> None:
        position = number * 37
        while time.perf_counter() < stop:
            kind, path = mix[position % len(mix)]
            position += 1
            started = time.perf_counter()  # the connection's setup counts in the latency, as it does for a browser
            try:
                status = await asyncio.wait_for(one_request(port, path, key), timeout=30)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
                errors[kind] += 1
                statuses[type(error).__name__] += 1
                continue
            latencies[kind].append(time.perf_counter() - started)
            windows[int((started - began) // WINDOW)].append(latencies[kind][-1])
            if status != 200:
                errors[kind] += 1
                statuses[str(status)] += 1

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {"latencies": latencies, "errors": errors, "statuses": statuses, "elapsed": time.perf_counter() - began,
            "windows": [windows[n] for n in sorted(windows)]}


WINDOW = 5.0  # seconds: the saturation run's p99 is also printed per window, to show where its tail comes from


def generate(how: str, *args) -> dict:
    """One run of the load generator, in its own process; returns the figures and the CPU it used."""
    started = time.process_time()
    result = uvloop.run({"panes": panes, "saturation": saturation}[how](*args))
    result["cpu"] = time.process_time() - started
    return {**result, "latencies": dict(result["latencies"]), "errors": dict(result["errors"]),
            "statuses": dict(result["statuses"])}


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
    if result.get("windows"):
        print(f"p99 by {WINDOW:g} s window (ms): "
              + ", ".join(f"{percentile(values, 0.99):.0f}" for values in result["windows"]))


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
    cursor = client.get(f"{PANE_LOG}&page=100", headers={"Authorization": f"Bearer {key}"}).json["next_cursor"]
    for path in (PANE_LIST.format(sort="name", order="asc"), PANE_LIST.format(sort="last_run_at", order="desc"),
                 PANE_LOG, f"{PANE_LOG}&connection_id={connection_id}", f"{PANE_LOG}&status=failed",
                 f"{PANE_LOG}&since=2026-01-01&data_type=journals", f"{PANE_LOG}&cursor={cursor}"):
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
    parser.add_argument("--interval", type=float, default=1.0, help="panes: mean seconds between a client's requests")
    parser.add_argument("--explain", action="store_true", help="print the plans of the endpoints' queries")
    parser.add_argument("--redis", default=REDIS_URL, help="REDIS_URL for the service, as a deployment of several "
                                                           "workers has it; '' for none")
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
            redis_url = options.redis if options.redis and reachable(options.redis) else ""
            print(f"Redis: {redis_url or 'none'} (with Redis the workers share their kept answers)")
            server = start_gunicorn(url, options.workers, port, var_dir, schema, redis_url)
            deadline = time.monotonic() + 120
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not start") from None
                    time.sleep(0.1)
            cursors = log_cursors(port, key, 60)
            mix = requests_mix(connection_ids, cursors, random.Random(1))
            # The generator gets a process of its own (spawned: nothing of this one's memory or threads).
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                pool.submit(generate, "saturation", port, key, options.clients, 2, mix).result()  # warm up
                reference = None
                for run, how, args in (("reference", "saturation", (options.clients, options.seconds, HEALTH)),
                                       ("saturation", "saturation", (options.clients, options.seconds, mix)),
                                       ("panes", "panes", (options.clients, options.seconds, options.interval, mix))):
                    settle(server.pid)
                    cpu, database_cpu = cpu_seconds(server.pid), database_cpu_seconds(admin, schema)
                    result = pool.submit(generate, how, port, key, *args).result()
                    load = os.getloadavg()[0]
                    # Requests whose clients gave up are still served: their CPU counts, so it is read once
                    # gunicorn is idle again and shared among every request sent.
                    settle(server.pid)
                    cpu, database_cpu = cpu_seconds(server.pid) - cpu, database_cpu_since(admin, schema, database_cpu)
                    served = sum(len(values) for values in result["latencies"].values())
                    sent = served + sum(result["errors"].values()) - sum(
                        count for status, count in result["statuses"].items() if status.isdigit())
                    rate = served / result["elapsed"]
                    print(f"\n{run}: gunicorn, {options.workers} workers, PostgreSQL; {options.clients} clients"
                          + (f" acting every {options.interval:g} s on average" if how == "panes" else
                             " asking again as soon as answered") + f", {options.seconds:g} s on loopback"
                          + (" (the health check alone)" if run == "reference" else ""))
                    report(result)
                    if how == "saturation":
                        print(f"Little's law: {options.clients} clients at {rate:.0f} requests/s wait "
                              f"{options.clients / max(rate, 1e-9) * 1000:.0f} ms on average; 100 ms needs "
                              f"{options.clients * 10} requests/s")
                    if run == "reference":
                        reference = rate
                    elif how == "saturation":
                        print(f"against the reference: {rate / reference:.0%} of the requests/s of the health check "
                              f"in the same run ({reference:.0f})")
                    print(f"CPU per request sent: gunicorn {cpu / max(sent, 1) * 1000:.1f} ms, PostgreSQL "
                          f"{database_cpu / max(sent, 1) * 1000:.1f} ms, load generator "
                          f"{result['cpu'] / max(sent, 1) * 1000:.2f} ms ({result['cpu'] / result['elapsed']:.0%} "
                          f"of one core); load average {load:.1f} on {os.cpu_count()} cores")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
