"""A connection's mapping: the provider's dimensions and accounts beside the workspace's, the saved mapping and
a proposal; saving one (admins), which re-applies it to the lines already loaded; previewing one; and the audit
trail of dimension and mapping changes."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from server.access.keys import current_caller, require_admin
from server.db.engine import lock_row, request_session
from server.db.models import Connection, DimensionMember, LogEvent, MappingChange, RefreshRun
from server.errors import ApiError, error_response, not_found
from server.mapping import audit, catalog, plans, preview, review
from server.mapping.apply import reapply
from server.mapping.errors import Refused
from server.refresh.runs import not_stopped
from server.web.common import BEARER, ERRORS, Id, PageQuery, StrictModel
from server.web.connections import find_connection

bp = APIBlueprint("mapping", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Mapping")],
                  abp_security=BEARER, abp_responses={**ERRORS, 409: ERRORS[404]})


@bp.errorhandler(Refused)
def _refused(error: Refused):
    return error_response(error.status, error.code, error.message, error.field)


class ConnectionPath(BaseModel):
    connection_id: Id


class MemberRowIn(StrictModel):
    provider_member_id: Id
    member_id: Id | None = Field(None, description="The workspace member it lands on.")
    create: bool = Field(False, description="Instead of member_id: a workspace member of the same name (made if "
                                            "missing).")
    # What GET says of a saved row (placed by the rule, not by hand), so a client can send back what it read;
    # a saved mapping is re-derived from the rows and the rule, so the value itself is not used.
    by_rule: bool = Field(False, description="Read-only: ignored when saving.")


class DimensionPlanIn(StrictModel):
    provider_dimension_id: Id
    dimension_id: Id = Field(description="The workspace dimension it lands on.")
    new_members: Literal["unmapped", "create", "member"] = Field(
        "unmapped", description="Members no row maps (now and later): stay on Unmapped, become workspace members "
                                "of their name, or land on `new_members_member_id`.")
    new_members_member_id: Id | None = None
    members: list[MemberRowIn] = Field(default_factory=list, max_length=10_000)


class MappingIn(StrictModel):
    dimensions: list[DimensionPlanIn] = Field(max_length=500, description="Provider dimensions left out are not "
                                                                          "mapped.")


class MappingOut(BaseModel):
    connection_id: int
    provider_dimensions: list[dict[str, Any]] = Field(description="As last pulled, per company, with members.")
    workspace_dimensions: list[dict[str, Any]]
    accounts: list[dict[str, Any]] = Field(description="The provider's accounts as last pulled.")
    mapping: list[dict[str, Any]] = Field(description="The saved mapping.")
    proposal: list[dict[str, Any]] = Field(description="The saved mapping completed by exact name or code "
                                                       "matches.")
    review: str = Field(description="What changed at the provider since the mapping was saved; empty when "
                                    "nothing waits for review.")
    unmapped: dict[str, Any] = Field(description="What arrived unmapped at the last refresh.")


class Saved(BaseModel):
    mapping: list[dict[str, Any]]
    lines_moved: int
    moves: list[dict[str, Any]] = Field(description="dimension, from, to, lines.")
    members_created: list[str]


class PreviewOut(BaseModel):
    lines_moving: int = Field(description="Loaded lines that would change place.")
    dimensions: list[dict[str, Any]] = Field(description="Per workspace dimension, rows of period x member: lines "
                                                         "and amount (base currency) under the proposal, now, and "
                                                         "the change.")


def _plans(body: MappingIn) -> list[plans.DimensionPlan]:
    return [plans.DimensionPlan(d.provider_dimension_id, d.dimension_id, d.new_members, d.new_members_member_id,
                                [plans.MemberRow(m.provider_member_id, m.member_id, m.create) for m in d.members])
            for d in body.dimensions]


@bp.get("/connections/<int:connection_id>/mapping", responses={200: MappingOut})
def get_mapping(path: ConnectionPath):
    """The provider's dimensions and accounts as last pulled, the workspace's dimensions, the saved mapping and
    the proposal."""
    connection = find_connection(path.connection_id)
    session = request_session()
    providers = catalog.provider_dimensions(session, connection.id)
    workspace = catalog.workspace_dimensions(session, connection.workspace_id)
    current = catalog.saved(session, connection.id)
    return MappingOut(connection_id=connection.id, provider_dimensions=providers, workspace_dimensions=workspace,
                      accounts=catalog.provider_accounts(session, connection.id), mapping=current,
                      proposal=catalog.proposal(providers, workspace, current), review=connection.mapping_review,
                      unmapped=connection.unmapped or {}).model_dump(mode="json")


@bp.put("/connections/<int:connection_id>/mapping", responses={200: Saved})
def save_mapping(path: ConnectionPath, body: MappingIn):
    """Save the mapping (admins) and re-apply it to the lines already loaded, in one transaction. Refused while
    a refresh of the connection runs (it maps with the mapping it started with)."""
    caller = require_admin()
    connection = find_connection(path.connection_id)
    session = request_session()
    lock_row(session, Connection, connection.id)  # no run starts until this commits
    if session.scalar(select(RefreshRun.id).where(RefreshRun.connection_id == connection.id, not_stopped())):
        raise ApiError(409, "refresh_running", f"{connection.name} is refreshing: save the mapping once the run "
                                               "ends.")
    who = audit.Who(caller.member_id, caller.user)
    created = plans.save(session, caller.workspace_id, connection.id, _plans(body))
    moved = reapply(session, caller.workspace_id, connection.id)
    names = [name for made in created.values() for name in made]
    audit.record(session, caller.workspace_id, who, "mapping.saved",
                 f"Mapping of {connection.name} saved by {caller.user}. {moved.sentence()}",
                 {"mapping": body.model_dump()["dimensions"], "lines_moved": moved.lines, "moves": moved.moves[:50],
                  "members_created": names}, connection_id=connection.id)
    session.add(LogEvent(workspace_id=caller.workspace_id, connection_id=connection.id, data_type="dimensions",
                         status="succeeded", rows_updated=moved.lines,
                         detail=f"Mapping saved by {caller.user}. {moved.sentence()}"
                                + (f" New members: {', '.join(names)}." if names else "")))
    connection = session.get(Connection, connection.id)
    connection.mapping_review = ""
    connection.unmapped = review.unmapped_members(session, connection.id)[0]
    session.commit()
    return Saved(mapping=catalog.saved(session, connection.id), lines_moved=moved.lines, moves=moved.moves,
                 members_created=names).model_dump()


@bp.post("/connections/<int:connection_id>/mapping/preview", responses={200: PreviewOut})
def preview_mapping(path: ConnectionPath, body: MappingIn):
    """What the proposed mapping would do to the loaded lines, per dimension, period and member, beside now.
    Changes nothing."""
    connection = find_connection(path.connection_id)
    session = request_session()
    try:
        before = set(session.scalars(select(DimensionMember.id)))
        plans.save(session, connection.workspace_id, connection.id, _plans(body))
        new = set(session.scalars(select(DimensionMember.id))) - before
        return PreviewOut(**preview.figures(session, connection.workspace_id, connection.id, new)).model_dump()
    finally:
        session.rollback()  # the proposal was saved only to be read back


# --- the audit trail

class ChangeQuery(PageQuery):
    connection_id: Id | None = Field(None, description="Only this connection's mapping changes.")


class ChangeOut(BaseModel):
    id: int
    connection_id: int | None
    user: str = Field(description="Who made it; `refresh` for a rule a refresh applied.")
    action: str
    summary: str
    detail: dict[str, Any]
    created_at: datetime


class ChangeList(BaseModel):
    items: list[ChangeOut]
    total: int
    page: int
    per_page: int


@bp.get("/mapping/changes", responses={200: ChangeList})
def list_changes(query: ChangeQuery):
    """Every change to dimensions and mappings, newest first: who, when, what."""
    session = request_session()
    where = [MappingChange.workspace_id == current_caller().workspace_id]
    if query.connection_id is not None:
        connection = session.get(Connection, query.connection_id)
        if connection is None or connection.workspace_id != current_caller().workspace_id:
            raise not_found("connection")
        where.append(MappingChange.connection_id == query.connection_id)
    total = session.scalar(select(func.count()).select_from(MappingChange).where(*where))
    rows = session.scalars(select(MappingChange).where(*where).order_by(MappingChange.id.desc())
                           .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return ChangeList(items=[ChangeOut.model_validate(row, from_attributes=True) for row in rows], total=total,
                      page=query.page, per_page=query.per_page).model_dump(mode="json")
