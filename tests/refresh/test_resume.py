"""A refresh killed mid-way (a real process, SIGKILL) loses nothing: the next run resumes from the last
committed batch and the workspace ends equal to the provider's ledger, with no line twice."""
import os
import signal
import subprocess
import sys

from sqlalchemy import func, select

from server.db.models import LedgerLine, RefreshRun
from tests.support.journey import ORIGIN
from tests.support.refresh import assert_equals_the_provider, line_total, run_refresh, staged_left
from tests.support.waiting import wait_until


def test_a_killed_refresh_resumes_where_it_stopped(journey, db, provider, tmp_path):
    connection_id = journey.connect()
    journey.select(connection_id)
    for tenant in provider.tenants():  # slow enough to be caught between two batches
        provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults",
                       {"kind": "slow", "delay": 0.2, "count": 200}, expect=201)
    env = {**os.environ, "DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(tmp_path), "LEDGERPANE_SANDBOX": "false",
           "LEDGERPANE_SANDBOX_URL": provider.url, "LEDGERPANE_PUBLIC_URL": ORIGIN,
           "LEDGERPANE_SANDBOX_RATE_SCALE": str(1 / 60), "LEDGERPANE_REFRESH_BATCH_ROWS": "250",
           "LEDGERPANE_REFRESH_PAGES_IN_PROCESS": "1"}  # killed while its helper process reads
    worker = subprocess.Popen([sys.executable, "-m", "server", "refresh", str(connection_id)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def committed() -> bool:
            assert worker.poll() is None, worker.stdout.read()
            return line_total(db) > 0

        wait_until(committed, deadline=60, message="the refresh never committed a batch")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    committed = line_total(db)
    assert 0 < committed < sum(t["lineCount"] for t in provider.tenants()), "killed between batches"

    provider.admin("POST", "/admin/reset", {"data": False, "faults": True, "stats": False, "limits": False},
                   expect=200)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded" and not run["needs_attention"], run
    assert_equals_the_provider(db, provider, connection_id)
    with db.sessions() as session:
        duplicates = session.scalar(select(func.count()).select_from(
            select(LedgerLine.source_line_id).group_by(LedgerLine.entity_id, LedgerLine.source_line_id)
            .having(func.count() > 1).subquery()))
        killed = session.scalars(select(RefreshRun).order_by(RefreshRun.id)).first()
    assert duplicates == 0
    assert not staged_left(db), "batches staged for the killed run were dropped"
    assert killed.status == "failed" and killed.error.startswith("Interrupted")
    assert run["counters"]["journals"]["read"] < sum(t["lineCount"] for t in provider.tenants()), \
        "the new run resumed from the cursor instead of starting over"
