"""Refresh runs: their live progress while they work, what they did once they end; and cancelling."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from server.access.keys import current_caller
from server.db.engine import request_session
from server.db.models import Connection, RefreshRun, RunStatus, utcnow
from server.errors import ApiError, not_found
from server.web.common import BEARER, ERRORS, Id, PageQuery

bp = APIBlueprint("runs", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Refresh runs")],
                  abp_security=BEARER, abp_responses={**ERRORS, 409: ERRORS[404]})


class RunOut(BaseModel):
    id: int
    connection_id: int
    trigger: str
    mode: str
    status: str = Field(description="queued, running, succeeded, partly_succeeded, failed or cancelled.")
    needs_attention: bool = Field(description="The loaded ledger differs from the provider's trial balance.")
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] = Field(description="pages, rows_read, rows_written, and where it is now.")
    counters: dict[str, Any] = Field(description="Per stream: read, inserted, updated; changes; mismatches.")
    error: str


class RunPath(BaseModel):
    run_id: Id


def _find(run_id: int) -> RefreshRun:
    run = request_session().get(RefreshRun, run_id)
    if run is None or run.workspace_id != current_caller().workspace_id:
        raise not_found("refresh run")
    return run


def _describe(run: RefreshRun) -> dict:
    return RunOut.model_validate({c: getattr(run, c) for c in RunOut.model_fields}).model_dump(mode="json")


class RunQuery(PageQuery):
    connection_id: Id | None = Field(None, description="Only this connection's runs.")


class RunList(BaseModel):
    items: list[RunOut]
    total: int
    page: int
    per_page: int


@bp.get("/runs", responses={200: RunList})
def list_runs(query: RunQuery):
    """Refresh runs, newest first: a connection's recent runs and their outcome."""
    where = [RefreshRun.workspace_id == current_caller().workspace_id]
    if query.connection_id is not None:
        connection = request_session().get(Connection, query.connection_id)
        if connection is None or connection.workspace_id != current_caller().workspace_id:
            raise not_found("connection")
        where.append(RefreshRun.connection_id == query.connection_id)
    session = request_session()
    total = session.scalar(select(func.count()).select_from(RefreshRun).where(*where))
    runs = session.scalars(select(RefreshRun).where(*where).order_by(RefreshRun.id.desc())
                           .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return {"items": [_describe(run) for run in runs], "total": total, "page": query.page, "per_page": query.per_page}


@bp.get("/runs/<int:run_id>", responses={200: RunOut})
def get_run(path: RunPath):
    """A refresh run, with its progress while it works."""
    return _describe(_find(path.run_id))


@bp.post("/runs/<int:run_id>/cancel", responses={200: RunOut})
def cancel_run(path: RunPath):
    """Stop a run after its current batch; what it committed stays, and the next run resumes from there."""
    run = _find(path.run_id)
    if run.status not in (RunStatus.queued.value, RunStatus.running.value):
        raise ApiError(409, "not_allowed_now", f"This run has already {run.status}.")
    run.status = RunStatus.cancelled.value
    if run.started_at is None:
        run.finished_at = utcnow()
    request_session().commit()
    return _describe(run)
