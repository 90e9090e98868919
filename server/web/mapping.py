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
from server.mapping import accounts, audit, catalog, plans, preview, review
from server.mapping.apply import reapply
from server.mapping.errors import Refused
from server.refresh.runs import not_stopped
from server.web.common import BEARER, ERRORS, Id, PageQuery, StrictModel, find_connection, name_text, plain_text

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


Code = plain_text(50)


class NewAccountIn(StrictModel):
    code: Code = ""
    name: name_text(300)


class AccountTargetIn(StrictModel):
    workspace_account_id: Id | None = Field(None, description="The workspace account it lands on.")
    new_account: NewAccountIn | None = Field(None, description="Instead of workspace_account_id: a workspace "
                                                               "account of this code and name (made if missing).")


class AccountRowIn(AccountTargetIn):
    provider_account_id: Id


class AccountRuleIn(AccountTargetIn):
    kind: Literal["range", "prefix"]
    code_from: Code = Field("", description="range: the first code, such as 6000.")
    code_to: Code = Field("", description="range: the last code, such as 6999 (included).")
    prefix: Code = Field("", description="prefix: codes starting with it, such as 6.")


class AccountMappingIn(StrictModel):
    new_accounts: Literal["mirror", "unmapped", "account"] = Field(
        "mirror", description="Accounts no row or rule maps (now and later): a workspace account mirroring them "
                              "(same code, or name), the Unmapped account, or `new_accounts_account_id`.")
    new_accounts_account_id: Id | None = None
    rows: list[AccountRowIn] = Field(default_factory=list, max_length=20_000,
                                     description="One provider account each; several may share a workspace account.")
    rules: list[AccountRuleIn] = Field(default_factory=list, max_length=500,
                                       description="Code ranges and prefixes, the first matching one wins; an "
                                                   "account's own row wins over them.")


class MappingIn(StrictModel):
    dimensions: list[DimensionPlanIn] = Field(max_length=500, description="Provider dimensions left out are not "
                                                                          "mapped.")
    accounts: AccountMappingIn | None = Field(None, description="The account mapping; left out, it stays as "
                                                                "saved.")


class MappingOut(BaseModel):
    connection_id: int
    provider_dimensions: list[dict[str, Any]] = Field(description="As last pulled, per company, with members.")
    workspace_dimensions: list[dict[str, Any]]
    accounts: list[dict[str, Any]] = Field(description="The provider's accounts as last pulled, each with the "
                                                       "workspace account it lands on and what placed it there.")
    workspace_accounts: list[dict[str, Any]] = Field(description="The workspace chart, Unmapped first.")
    account_mapping: dict[str, Any] = Field(description="The saved account mapping: rule for others, rows, "
                                                        "rules.")
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
    accounts_moved: dict[str, Any] = Field(description="accounts re-mapped, lines with them, moves (from, to, "
                                                       "lines).")
    accounts_created: list[str] = Field(description="Workspace accounts made for the mapping.")


class PreviewOut(BaseModel):
    lines_moving: int = Field(description="Loaded lines that would change place.")
    dimensions: list[dict[str, Any]] = Field(description="Per workspace dimension, rows of period x member: lines "
                                                         "and amount (base currency) under the proposal, now, and "
                                                         "the change.")
    accounts: dict[str, Any] = Field(description="lines_moving, and rows of period x workspace account (Unmapped "
                                                 "included): lines and amount under the proposal, now, and the "
                                                 "change.")


def _plans(body: MappingIn) -> list[plans.DimensionPlan]:
    return [plans.DimensionPlan(d.provider_dimension_id, d.dimension_id, d.new_members, d.new_members_member_id,
                                [plans.MemberRow(m.provider_member_id, m.member_id, m.create) for m in d.members])
            for d in body.dimensions]


def _target(target: AccountTargetIn) -> accounts.Target:
    if target.workspace_account_id is not None and target.new_account is not None:
        raise Refused(422, "account_or_new", "Give workspace_account_id or new_account, not both.",
                      "workspace_account_id")
    if target.new_account is not None:
        return accounts.Target(None, target.new_account.code, target.new_account.name)
    return accounts.Target(target.workspace_account_id)


def _account_plan(body: MappingIn) -> accounts.AccountPlan | None:
    given = body.accounts
    if given is None:
        return None
    return accounts.AccountPlan(
        given.new_accounts, accounts.Target(given.new_accounts_account_id) if given.new_accounts_account_id else None,
        [accounts.AccountRow(row.provider_account_id, _target(row)) for row in given.rows],
        [accounts.AccountRule(rule.kind, _target(rule), rule.code_from, rule.code_to, rule.prefix)
         for rule in given.rules])


@bp.get("/connections/<int:connection_id>/mapping", responses={200: MappingOut})
def get_mapping(path: ConnectionPath):
    """The provider's dimensions and accounts as last pulled, the workspace's dimensions, the saved mapping and
    the proposal."""
    connection = find_connection(path.connection_id)
    session = request_session()
    providers = catalog.provider_dimensions(session, connection.id)
    workspace = catalog.workspace_dimensions(session, connection.workspace_id)
    current = catalog.saved(session, connection.id)
    chart = accounts.chart(session, connection.workspace_id)
    return MappingOut(connection_id=connection.id, provider_dimensions=providers, workspace_dimensions=workspace,
                      accounts=catalog.provider_accounts(session, connection.id), workspace_accounts=chart,
                      account_mapping=accounts.saved(session, connection.id), mapping=current,
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
    account_plan = _account_plan(body)
    created = plans.save(session, caller.workspace_id, connection.id, _plans(body))
    moved = reapply(session, caller.workspace_id, connection.id)
    made = accounts.save(session, caller.workspace_id, connection.id, account_plan) if account_plan else []
    placed = accounts.place_accounts(session, caller.workspace_id, connection.id)
    followed = accounts.lines_moved(session, caller.workspace_id, connection.id, placed)
    names = [name for made in created.values() for name in made]
    audit.record(session, caller.workspace_id, who, "mapping.saved",
                 f"Mapping of {connection.name} saved by {caller.user}. {moved.sentence()} {followed.sentence()}",
                 {"mapping": body.model_dump()["dimensions"], "lines_moved": moved.lines, "moves": moved.moves[:50],
                  "members_created": names, "accounts": body.model_dump()["accounts"],
                  "account_lines_moved": followed.lines, "account_moves": followed.moves[:50],
                  "accounts_created": made}, connection_id=connection.id)
    session.add(LogEvent(workspace_id=caller.workspace_id, connection_id=connection.id, data_type="dimensions",
                         status="succeeded", rows_updated=moved.lines,
                         detail=f"Mapping saved by {caller.user}. {moved.sentence()}"
                                + (f" New members: {', '.join(names)}." if names else "")))
    if account_plan or followed.accounts:
        session.add(LogEvent(workspace_id=caller.workspace_id, connection_id=connection.id, data_type="accounts",
                             status="succeeded", rows_updated=followed.lines,
                             detail=f"Account mapping saved by {caller.user}. {followed.sentence()}"
                                    + (f" New workspace accounts: {', '.join(made)}." if made else "")))
    connection = session.get(Connection, connection.id)
    connection.mapping_review = ""
    connection.unmapped = review.unmapped_members(session, connection.id)[0]
    session.commit()
    return Saved(mapping=catalog.saved(session, connection.id), lines_moved=moved.lines, moves=moved.moves,
                 members_created=names, accounts_moved={"lines": followed.lines, "accounts": followed.accounts,
                                                        "moves": followed.moves},
                 accounts_created=made).model_dump()


@bp.post("/connections/<int:connection_id>/mapping/preview", responses={200: PreviewOut})
def preview_mapping(path: ConnectionPath, body: MappingIn):
    """What the proposed mapping would do to the loaded lines, per dimension, period and member, beside now.
    Changes nothing."""
    connection = find_connection(path.connection_id)
    session = request_session()
    account_plan = _account_plan(body)
    try:
        before = set(session.scalars(select(DimensionMember.id)))
        accounts.unmapped_account(session, connection.workspace_id)
        chart_before = {row["id"] for row in accounts.chart(session, connection.workspace_id)}
        placed_before = preview.placed_accounts(session, connection.id)
        plans.save(session, connection.workspace_id, connection.id, _plans(body))
        new = set(session.scalars(select(DimensionMember.id))) - before
        if account_plan:
            accounts.save(session, connection.workspace_id, connection.id, account_plan)
        accounts.place_accounts(session, connection.workspace_id, connection.id)
        new_accounts = {row["id"] for row in accounts.chart(session, connection.workspace_id)} - chart_before
        account_figures = preview.account_figures(session, connection.workspace_id, connection.id, placed_before,
                                                  preview.placed_accounts(session, connection.id), new_accounts)
        return PreviewOut(**preview.figures(session, connection.workspace_id, connection.id, new),
                          accounts=account_figures).model_dump()
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
