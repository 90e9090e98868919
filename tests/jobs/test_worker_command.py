"""`ledgerpane init-db` lays out the Procrastinate queue's schema on PostgreSQL and refuses the queue on SQLite;
`ledgerpane worker` needs the shared queue."""
from click.testing import CliRunner
from sqlalchemy import inspect

from server.cli import main
from server.db.engine import make_engine
from tests.support.database import fresh_database_url


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
