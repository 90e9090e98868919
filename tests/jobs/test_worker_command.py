"""`ledgerpane init-db` lays out the Procrastinate queue's schema on PostgreSQL and refuses the queue on SQLite;
`ledgerpane worker` needs the shared queue."""
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from server.cli import main
from server.db.engine import make_engine, upgrade
from server.jobs.procrastinate_queue import EX_TEMPFAIL, PRESENCE_KEY, apply_schema
from server.refresh.runs import worker_name
from tests.support.database import fresh_database_url
from tests.support.workers import REDIS_URL


def test_init_db_lays_out_the_queue_beside_the_migrations(database, tmp_path):
    url, drop = fresh_database_url(database.backend, tmp_path)
    try:
        result = CliRunner().invoke(main, ["init-db"], env={"DATABASE_URL": url, "LEDGERPANE_VAR_DIR": str(tmp_path),
                                                             "LEDGERPANE_JOB_QUEUE": "procrastinate"})
        if database.backend == "sqlite":
            assert result.exit_code == 1 and "keeps its jobs in PostgreSQL" in result.output, result.output
        else:
            assert result.exit_code == 0, result.output
            engine = make_engine(url)
            assert {"procrastinate_jobs", "refresh_run"} <= set(inspect(engine).get_table_names())
            engine.dispose()
    finally:
        drop()


def test_a_worker_needs_the_shared_queue(tmp_path):
    result = CliRunner().invoke(main, ["worker"], env={"LEDGERPANE_VAR_DIR": str(tmp_path),
                                                       "LEDGERPANE_JOB_QUEUE": "threads"})
    assert result.exit_code == 2 and "LEDGERPANE_JOB_QUEUE=procrastinate" in result.output


def test_a_worker_needs_budgets_shared_with_the_other_workers(tmp_path):
    result = CliRunner().invoke(main, ["worker"], env={"LEDGERPANE_VAR_DIR": str(tmp_path),
                                                       "LEDGERPANE_JOB_QUEUE": "procrastinate",
                                                       "LEDGERPANE_PROVIDER_BUDGETS": "process"})
    assert result.exit_code == 2 and "LEDGERPANE_PROVIDER_BUDGETS=redis" in result.output, result.output


def test_a_worker_whose_presence_lock_is_held_exits_to_be_started_again(database, tmp_path):
    """A restarted container's worker can have its predecessor's name (same host name, same pid) while PostgreSQL
    still holds the old connection's lock: it exits with 75 (EX_TEMPFAIL), for its supervisor to retry."""
    if database.backend != "postgresql":
        pytest.skip("workers keep their presence in PostgreSQL")
    url, drop = fresh_database_url("postgresql", tmp_path)
    engine = make_engine(url)
    try:
        upgrade(engine)
        apply_schema(engine)
        with engine.connect() as predecessor:  # this process is the worker CliRunner runs: its name is ours
            assert predecessor.scalar(text(f"SELECT pg_try_advisory_lock({PRESENCE_KEY}, hashtext(:name))"),
                                      {"name": worker_name()})
            result = CliRunner().invoke(main, ["worker"], env={
                "DATABASE_URL": url, "LEDGERPANE_VAR_DIR": str(tmp_path), "LEDGERPANE_JOB_QUEUE": "procrastinate",
                "LEDGERPANE_PROVIDER_BUDGETS": "redis", "REDIS_URL": REDIS_URL,
                "LEDGERPANE_BUDGET_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}"})
        assert result.exit_code == EX_TEMPFAIL == 75, result.output
    finally:
        engine.dispose()
        drop()
