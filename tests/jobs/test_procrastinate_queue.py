"""Runs carried out by `ledgerpane worker` processes through Procrastinate (PostgreSQL only): one job running and
one waiting per connection, a worker killed mid-run replaced and its run ended exactly once, runs left queued
taken up at start."""
from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select, text

from server.db.engine import make_engine, make_sessionmaker, upgrade
from server.db.models import LedgerLine, RefreshRun
from server.jobs.procrastinate_queue import apply_schema, lock_for
from server.refresh.runs import request_refresh
from tests.support.database import Database, fresh_database_url
from tests.support.journey import provider_app
from tests.support.refresh import assert_equals_the_provider, line_total, staged_left, wait_for_run
from tests.support.waiting import wait_until
from tests.support.workers import QUICK_QUEUE, can_pose_as_another_machine, worker_env


@pytest.fixture
def db(database, tmp_path):
    """A database of its own (Procrastinate's tables are not emptied between tests), with the queue's schema."""
    if database.backend != "postgresql":
        pytest.skip("Procrastinate keeps its jobs in PostgreSQL; SQLite has the thread pool")
    url, drop = fresh_database_url("postgresql", tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    apply_schema(engine)
    apply_schema(engine)  # a second process starting finds it there and leaves it
    yield Database("postgresql", url, engine, make_sessionmaker(engine))
    engine.dispose()
    drop()


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider, **QUICK_QUEUE) as app:
        yield app


def jobs(db, connection_id: int) -> list[dict]:
    with db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(
            "SELECT id, status::text, lock, queueing_lock, attempts FROM procrastinate_jobs "
            "WHERE queueing_lock = :lock ORDER BY id"), {"lock": lock_for(connection_id)})]


def press_play(journey, connection_id: int) -> int:
    response = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=journey.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["run_id"]


def test_a_run_asked_for_in_the_service_is_carried_out_by_a_worker_process(journey, provider, db, workers, tmp_path):
    connection_id = journey.connect()
    journey.select(connection_id)
    run_id = press_play(journey, connection_id)
    assert [(j["status"], j["lock"]) for j in jobs(db, connection_id)] == [("todo", lock_for(connection_id))]

    worker = workers("a", worker_env(db, provider, tmp_path))
    run = wait_for_run(journey, run_id, 120)
    assert run["status"] == "succeeded", (run, worker.said())
    assert_equals_the_provider(db, provider, connection_id)
    with db.sessions() as session:
        assert session.get(RefreshRun, run_id).worker.endswith(f":{worker.process.pid}")
    assert jobs(db, connection_id) == [], "a finished job leaves no row behind"


def test_a_connection_has_one_job_waiting_however_often_its_run_is_submitted(journey, db, runtime):
    first, second = journey.connect("Acme UK"), journey.connect("Acme US")
    for connection_id in (first, second):
        journey.select(connection_id, 1)
    run_id = press_play(journey, first)
    assert press_play(journey, first) == run_id  # the database's rule: the active run is joined
    for _ in range(3):
        runtime.jobs.submit(run_id)  # handed over again (at a restart, say): the waiting job stands for it
    press_play(journey, second)
    assert [j["status"] for j in jobs(db, first)] == ["todo"]
    assert [j["status"] for j in jobs(db, second)] == ["todo"]


def test_a_worker_killed_mid_run_is_replaced_and_the_run_ends_once(journey, provider, db, workers, tmp_path):
    connection_id = journey.connect()
    journey.select(connection_id)
    for tenant in provider.tenants():  # slow enough to be caught between two batches
        provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults",
                       {"kind": "slow", "delay": 0.2, "count": 200}, expect=201)
    env = worker_env(db, provider, tmp_path, LEDGERPANE_REFRESH_BATCH_ROWS="250")
    first = workers("first", env)
    run_id = press_play(journey, connection_id)
    wait_until(lambda: line_total(db) > 0, 120, lambda: f"the run never committed a batch: {first.said()}")
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    with db.sessions() as session:
        killed = session.get(RefreshRun, run_id)
        assert (killed.status, killed.worker.rpartition(":")[2]) == ("running", str(first.process.pid))
    committed = line_total(db)
    assert 0 < committed < sum(t["lineCount"] for t in provider.tenants()), "killed between batches"

    provider.admin("POST", "/admin/reset", {"data": False, "faults": True, "stats": False, "limits": False},
                   expect=200)
    second = workers("second", env)
    run = wait_for_run(journey, run_id, 120)
    assert run["status"] == "succeeded", (run, second.said())
    assert "queued again" in second.said(), "the dead worker's job was put back by the stalled-job sweep"
    with db.sessions() as session:
        runs = session.scalars(select(RefreshRun).where(RefreshRun.connection_id == connection_id)).all()
        duplicates = session.scalar(select(func.count()).select_from(
            select(LedgerLine.source_line_id).group_by(LedgerLine.entity_id, LedgerLine.source_line_id)
            .having(func.count() > 1).subquery()))
    assert [(r.id, r.status) for r in runs] == [(run_id, "succeeded")], "the same run resumed, no second one"
    assert runs[0].worker.endswith(f":{second.process.pid}")
    assert run["counters"]["journals"]["read"] < sum(t["lineCount"] for t in provider.tenants()), \
        "it resumed from the committed cursor instead of starting over"
    assert duplicates == 0
    assert_equals_the_provider(db, provider, connection_id)
    assert not staged_left(db)


def test_a_run_left_queued_without_a_job_is_taken_up_when_a_worker_starts(journey, provider, db, workers, tmp_path):
    connection_id = journey.connect()
    journey.select(connection_id)
    # As if the process that asked for it stopped between writing the run and handing it to the queue.
    run_id, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    assert jobs(db, connection_id) == []
    worker = workers("a", worker_env(db, provider, tmp_path))
    run = wait_for_run(journey, run_id, 120)
    assert run["status"] == "succeeded", (run, worker.said())


def test_a_provider_runs_no_more_at_once_than_its_slots(journey, provider, db, workers, tmp_path):
    connections = [journey.connect("Acme UK"), journey.connect("Acme US")]
    for connection_id in connections:
        journey.select(connection_id, 1)
    for tenant in provider.tenants():  # each run lasts long enough for the other to want to start meanwhile
        provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults",
                       {"kind": "slow", "delay": 0.1, "count": 200}, expect=201)
    run_ids = [press_play(journey, connection_id) for connection_id in connections]
    worker = workers("a", worker_env(db, provider, tmp_path, LEDGERPANE_REFRESH_WORKERS="2",
                                     LEDGERPANE_PROVIDER_RUN_SLOTS="1"))
    for run_id in run_ids:
        assert wait_for_run(journey, run_id, 120)["status"] == "succeeded", worker.said()
    with db.sessions() as session:
        first, second = sorted((session.get(RefreshRun, r) for r in run_ids), key=lambda run: run.started_at)
    assert first.finished_at <= second.started_at, "one run of the provider at a time, though the worker had room"
    assert "its provider has all its run slots taken" in worker.said()


def slow_pages(provider, count: int = 200) -> None:
    for tenant in provider.tenants():  # slow enough to be caught between two batches
        provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults",
                       {"kind": "slow", "delay": 0.2, "count": count}, expect=201)


@pytest.mark.skipif(not can_pose_as_another_machine(), reason="needs root and unshare for a host name of its own")
def test_a_run_on_another_machine_is_kept_while_its_worker_lives_and_taken_over_once_it_dies(
        journey, provider, db, workers, tmp_path):
    """Another machine's pid cannot be checked, and the run's own silence is trusted only after stale_after (ten
    minutes). Stopped (SIGSTOP), the worker's queue heartbeat goes silent and its job is handed on, but its presence
    connection stays up (the kernel still answers): its run stays its own. Killed, its presence lock goes with its
    connection and the run is taken over at once, resumed and ended once."""
    connection_id = journey.connect()
    journey.select(connection_id)
    slow_pages(provider)
    env = worker_env(db, provider, tmp_path, LEDGERPANE_REFRESH_BATCH_ROWS="250")
    first = workers("elsewhere", env, host="other-machine")
    run_id = press_play(journey, connection_id)
    wait_until(lambda: line_total(db) > 0, 120, lambda: f"the run never committed a batch: {first.said()}")
    os.kill(first.process.pid, signal.SIGSTOP)
    second = workers("here", env)
    wait_until(lambda: "is being carried out by other-machine" in second.said(), 60,
               lambda: f"the second worker never tried the silent worker's job: {second.said()}")
    assert "is taken over" not in second.said()
    with db.sessions() as session:
        held = session.get(RefreshRun, run_id)
        assert (held.status, held.worker) == ("running", f"other-machine:{first.process.pid}")

    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    provider.admin("POST", "/admin/reset", {"data": False, "faults": True, "stats": False, "limits": False},
                   expect=200)
    run = wait_for_run(journey, run_id, 120)  # well inside stale_after
    assert run["status"] == "succeeded", (run, second.said())
    assert "is taken over" in second.said()
    with db.sessions() as session:
        runs = session.scalars(select(RefreshRun).where(RefreshRun.connection_id == connection_id)).all()
    assert [(r.id, r.status) for r in runs] == [(run_id, "succeeded")], "the same run resumed, no second one"
    assert runs[0].worker.endswith(f":{second.process.pid}") and not runs[0].worker.startswith("other-machine")
    assert_equals_the_provider(db, provider, connection_id)
    assert not staged_left(db)
