"""The workspace's connected data sources: the list, adding one, and its actions.

Every query is scoped to the caller's workspace: another workspace's connection answers 404.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import ARRAY, Integer, Row, any_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from server.access.keys import Caller, current_caller, require_admin
from server.connections.entities import release_at_provider, selected_entities, sync_entities
from server.connections.handoff import begin
from server.connections.metering import calls_this_month
from server.connections.status import Event, TransitionRefused, apply, can
from server.connectors import ProviderError, ProviderOption, UnknownProvider, catalog
from server.connectors.framework.http import WAITED_ON, patience
from server.db.engine import request_session
from server.db.models import (
    Account,
    Connection,
    ConnectionStatus,
    DataType,
    Entity,
    LogEvent,
    RefreshRun,
    Workspace,
    utcnow,
)
from server.db.snapshots import LIST_AGE, TrueUntil, remembered
from server.errors import ApiError
from server.runtime import runtime
from server.web.common import BEARER, ERRORS, Id, Name, OptionalBody, PageQuery, StrictModel, Text, find_connection
from server.web.schedules import ScheduleOut, schedule_fields

log = logging.getLogger(__name__)
bp = APIBlueprint("connections", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Connections")],
                  abp_security=BEARER, abp_responses={**ERRORS, 409: ERRORS[404]})

S = ConnectionStatus
WITH_CREDENTIALS = frozenset({S.authenticated, S.live, S.error})  # may refresh, list and select entities


# --- what the API shows of a connection

class EntityRef(BaseModel):
    id: int
    name: str


class CredentialStatus(BaseModel):
    state: Literal["none", "active", "error"]
    detail: str = ""


class AccountStatus(BaseModel):
    state: Literal["loading", "none", "ready", "error"]
    accounts: int = Field(description="Accounts loaded across the selected entities.")
    label: str = Field(description="What the list shows, e.g. `12 accounts`.")


class LastRun(BaseModel):
    id: int
    trigger: str
    status: str = Field(description="queued, running, succeeded, partly_succeeded, failed or cancelled.")
    needs_attention: bool
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, Any] = Field(description="pages, rows_read, rows_written while it runs, and at its end.")
    error: str


class ConnectionOut(BaseModel):
    id: int
    name: str
    provider: str
    provider_name: str
    status: str = Field(description="setup, authenticated, live, reauth_required, error or disconnected.")
    status_detail: str
    business_account: str = Field(description="The login that granted access at the provider.")
    business_account_id: str
    credential_status: CredentialStatus
    account_status: AccountStatus
    selected_entities: list[EntityRef]
    data_types: list[str]
    schedule: ScheduleOut
    next_run_at: datetime | None = Field(description="The next scheduled refresh; null while paused or while it "
                                                     "cannot refresh (the schedule's `note` says why).")
    created_at: datetime
    last_authorized_at: datetime | None
    last_successful_run_at: datetime | None
    records_last_30_days: int
    calls_this_month: int = Field(0, description="Calls made to the provider this calendar month (UTC) by refreshes; "
                                                 "some providers meter reads by the month.")
    mapping_review: str = Field("", description="Non-empty: the provider's dimensions or accounts changed since the "
                                                "mapping was saved (what changed); the list shows \"source changed: "
                                                "review mapping\".")
    unmapped: dict[str, Any] = Field(default_factory=dict, description="After the last refresh: `members` landing "
                                     "on Unmapped (and their `names`), `dimensions_not_mapped`.")
    last_run: LastRun | None = Field(description="The newest refresh run, running or ended; null before the first.")
    actions: list[str] = Field(description="What the caller may do now: refresh, reconnect, select_entities, "
                                           "sync_entities, choose_data_types, disconnect, delete.")


class ConnectionList(BaseModel):
    items: list[ConnectionOut]
    total: int
    page: int
    per_page: int


def allowed_actions(connection: Connection, caller: Caller, has_selection: bool) -> list[str]:
    status = S(connection.status)
    actions = []
    if status in WITH_CREDENTIALS and has_selection:
        actions.append("refresh")
    if may_reconnect(connection, caller):
        actions.append("reconnect")
    if status in WITH_CREDENTIALS:
        actions += ["select_entities", "sync_entities"]
    actions.append("choose_data_types")
    if caller.is_admin:
        if can(connection, Event.disconnected):
            actions.append("disconnect")
        actions.append("delete")
    return actions


def may_reconnect(connection: Connection, caller: Caller) -> bool:
    """A new consent can bind the connection to a different provider login, so it is an admin's call;
    except while the first consent is unfinished (setup), when there is no login yet to swap."""
    return caller.is_admin or connection.status == S.setup


def _one_of(session: Session, column, ids: list[int]):
    """`column IN ids`; on PostgreSQL `column = ANY(ids)`: one parameter instead of one per id, so a page's
    statement reads the same whatever its ids (psycopg and PostgreSQL then parse and plan it once, where a
    hundred placeholders made psycopg parse each statement anew)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return column.in_(ids)


# What the list reads of a connection: every column but the sealed tokens and the provider's setup fields.
LISTED_COLUMNS = [column for column in Connection.__table__.c if column.key not in {"token_ciphertext",
                                                                                     "setup_fields"}]


def _listed(session: Session, rows: list[Row]) -> list[SimpleNamespace]:
    """The page's connections as plain records, each with its entities (read in one query). Not ORM objects: a
    page of a hundred, with their two hundred entities, cost the list more as ORM objects than all its queries;
    the list only reads them."""
    by_connection: dict[int, list[Row]] = {row.id: [] for row in rows}
    for entity in session.execute(select(Entity.id, Entity.connection_id, Entity.name, Entity.selected,
                                         Entity.available)
                                  .where(_one_of(session, Entity.connection_id, list(by_connection)))
                                  .order_by(Entity.name)):
        by_connection[entity.connection_id].append(entity)
    return [SimpleNamespace(**row._mapping, entities=by_connection[row.id]) for row in rows]


def _records_last_30_days():
    """Rows a connection's log says were loaded (inserted or updated) in the last 30 days: per listed connection."""
    since = utcnow() - timedelta(days=30)
    return (select(func.coalesce(func.sum(LogEvent.rows_inserted + LogEvent.rows_updated), 0))
            .where(LogEvent.connection_id == Connection.id, LogEvent.created_at >= since).scalar_subquery())


def _account_count():
    return select(func.count()).where(Account.connection_id == Connection.id).scalar_subquery()


RUN_SHOWN = tuple(LastRun.model_fields)  # what the list shows of a run, not whole runs


def _page_facts(session: Session, connection_ids: list[int]) -> dict[int, tuple[int, int, dict[str, Any] | None]]:
    """Per connection of a page: rows loaded in the last 30 days (from the log), accounts, and the newest run. Two
    queries: the counts and the newest run's id, each a lookup in an index per connection, then those runs."""
    newest = select(func.max(RefreshRun.id)).where(RefreshRun.connection_id == Connection.id).scalar_subquery()
    counted = session.execute(select(Connection.id, _records_last_30_days(), _account_count(), newest)
                              .where(_one_of(session, Connection.id, connection_ids))).all()
    run_ids = [run_id for *_, run_id in counted if run_id is not None]
    runs = {row[0]: dict(zip(RUN_SHOWN, row, strict=True)) for row in session.execute(
        select(*(getattr(RefreshRun, name) for name in RUN_SHOWN)).where(_one_of(session, RefreshRun.id, run_ids)))}
    return {connection_id: (int(total), count, runs.get(run_id)) for connection_id, total, count, run_id in counted}


def _account_status(connection: Connection, accounts: int) -> dict[str, Any]:
    if connection.account_status == "error":
        return dict(state="error", accounts=accounts, label=connection.account_detail or "Error")
    if accounts:
        return dict(state="ready", accounts=accounts, label=f"{accounts} account{'s' * (accounts != 1)}")
    if connection.account_status == "loading":
        return dict(state="loading", accounts=0, label="Loading")
    return dict(state="none", accounts=0, label="No accounts")


def _offered() -> dict[str, ProviderOption]:
    """The providers configured now. A connection to one no longer configured still shows (by its key)."""
    return {option.key: option for option in catalog(runtime().settings)}


def describe(session: Session, connections: list[Connection]) -> list[dict]:
    return [ConnectionOut.model_validate(fields).model_dump(mode="json") for fields in _described(session, connections)]


def _described(session: Session, connections: list[Connection]) -> list[dict[str, Any]]:
    """Each connection's fields for ConnectionOut, as plain values: a page of them is validated in one call (a
    model built per connection, and per part of one, cost the list more than its queries)."""
    facts = _page_facts(session, [c.id for c in connections])
    caller = current_caller()
    offered = _offered()
    timezone = session.scalar(select(Workspace.timezone).where(Workspace.id == caller.workspace_id))
    now = utcnow()
    described = []
    for connection in connections:
        records, accounts, last_run = facts[connection.id]
        selected = selected_entities(connection)
        option = offered.get(connection.provider)
        provider_name = option.display_name if option else connection.provider
        schedule = schedule_fields(connection, timezone, now)
        described.append(dict(
            id=connection.id, name=connection.name, provider=connection.provider, provider_name=provider_name,
            status=connection.status, status_detail=connection.status_detail,
            business_account=connection.business_account, business_account_id=connection.business_account_id,
            credential_status={"state": connection.credential_status, "detail": connection.credential_detail},
            account_status=_account_status(connection, accounts),
            selected_entities=[{"id": e.id, "name": e.name} for e in selected],
            data_types=connection.data_types, schedule=schedule, next_run_at=schedule["next_run_at"],
            created_at=connection.created_at, last_authorized_at=connection.last_authorized_at,
            last_successful_run_at=connection.last_successful_run_at,
            records_last_30_days=records, calls_this_month=calls_this_month(connection, now),
            last_run=last_run,
            mapping_review=connection.mapping_review or "", unmapped=connection.unmapped or {},
            actions=allowed_actions(connection, caller, bool(selected)),
        ))
    return described


def refuse(message: str) -> ApiError:
    return ApiError(409, "not_allowed_now", message)


# --- the list

SORTABLE = ("name", "provider", "business_account", "entities", "credential_status", "accounts", "created_at",
            "last_authorized_at", "last_successful_run_at", "last_run_at", "schedule", "records_last_30_days")


class ConnectionQuery(PageQuery):
    q: Text | None = Field(None, description="Search name, provider (key or catalog name), business "
                                                            "account and the names of selected entities.")
    sort: Literal[SORTABLE] = "name"  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc"


class ConnectionPath(BaseModel):
    connection_id: Id


def _matches(q: str):
    text = q.lower()
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    like = [func.lower(column).like(pattern, escape="\\")
            for column in (Connection.name, Connection.provider, Connection.business_account)]
    named = [key for key, option in _offered().items() if text in option.display_name.lower()]
    with_entity = select(Entity.connection_id).where(func.lower(Entity.name).like(pattern, escape="\\"))
    return or_(*like, Connection.provider.in_(named), Connection.id.in_(with_entity))


def _sort_column(sort: str):
    """The column, or per-connection subquery, that orders the list by what the user sees."""
    if sort == "records_last_30_days":
        return _records_last_30_days()
    if sort == "entities":  # by the first selected entity's name, as the list shows them
        return (select(func.min(Entity.name)).where(Entity.connection_id == Connection.id, Entity.selected)
                .scalar_subquery())
    if sort == "accounts":
        return _account_count()
    if sort == "last_run_at":  # the newest run, the one the list shows: one step down an index, however many runs
        return (select(RefreshRun.queued_at).where(RefreshRun.connection_id == Connection.id)
                .order_by(RefreshRun.id.desc()).limit(1).scalar_subquery())
    if sort == "schedule":  # by local time of day, as the list shows it
        return Connection.schedule_minute
    return getattr(Connection, sort)


@bp.get("/connections", responses={200: ConnectionList})
def list_connections(query: ConnectionQuery):
    """The workspace's data sources, searched, sorted and paged."""
    caller = current_caller()
    # Every open pane polls this: while the database is unchanged, the page is given again (server/db/snapshots.py).
    page = remembered("connections", (caller.workspace_id, caller.role, request.query_string),
                      lambda: _list_page(query), max_age=LIST_AGE, shared=True)
    return Response(page, mimetype="application/json")


def _list_page(query: ConnectionQuery) -> TrueUntil:
    """The page as JSON, true until its first next run comes due."""
    session = request_session()
    where = [Connection.workspace_id == current_caller().workspace_id, Connection.deleted_at.is_(None)]
    if query.q:
        where.append(_matches(query.q))
    column = _sort_column(query.sort)
    ordered = (column.asc() if query.order == "asc" else column.desc()).nulls_last()
    total = session.scalar(select(func.count()).select_from(Connection).where(*where))
    # What the list does not show stays in the database: the tokens, the setup fields.
    rows = session.execute(select(*LISTED_COLUMNS).where(*where).order_by(ordered, Connection.id)
                           .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    page = ConnectionList.model_validate({"items": _described(session, _listed(session, rows)), "total": total,
                                          "page": query.page, "per_page": query.per_page})
    due = [item.next_run_at for item in page.items if item.next_run_at is not None]
    return TrueUntil(page.model_dump_json(), min(due, default=None))  # straight to JSON: no dicts between


@bp.get("/connections/<int:connection_id>", responses={200: ConnectionOut})
def get_connection(path: ConnectionPath):
    """One data source."""
    return describe(request_session(), [find_connection(path.connection_id)])[0]


# --- adding a source

class NewConnection(StrictModel):
    provider: str = Field(description="A provider key from `GET /api/v1/providers`.")
    name: Name | None = None
    setup: dict[str, Text] = Field(default_factory=dict, description="The provider's setup fields, if any.")


class Handoff(BaseModel):
    connection: ConnectionOut
    authorize_url: str = Field(description="Open this (on our origin) in the Office dialog to start consent.")


@bp.post("/connections", responses={201: Handoff})
def create_connection(body: NewConnection):
    """Add a data source: creates it in `setup` and returns the link that starts the provider's consent."""
    caller = current_caller()
    option = _offered().get(body.provider)
    if option is None:
        raise ApiError(422, "unknown_provider", f"No provider {body.provider!r} is offered here.", "provider")
    required = {f.name for f in option.setup_fields if f.required}
    known = {f.name for f in option.setup_fields}
    for name in body.setup:
        if name not in known:  # the field named as given, unless it holds what no field name should
            raise ApiError(422, "unknown_field", f"{option.display_name} has no setup field {name!r}.",
                           f"setup.{name}" if name.isprintable() else "setup")
    for name in sorted(required - body.setup.keys()):
        raise ApiError(422, "missing_field", f"{option.display_name} needs {name} before consent.", f"setup.{name}")
    session = request_session()
    connection = Connection(workspace_id=caller.workspace_id, provider=option.key,
                            name=body.name or option.display_name, setup_fields=body.setup,
                            created_by=caller.member_id, data_types=list(option.data_types))
    session.add(connection)
    session.flush()
    url = begin(session, connection, caller.member_id, "connect")
    session.commit()
    return {"connection": describe(session, [connection])[0], "authorize_url": url}, 201


@bp.post("/connections/<int:connection_id>/reconnect", responses={200: Handoff})
def reconnect(path: ConnectionPath):
    """A new consent for this source, keeping its selections, mappings and data. Admins only, except to
    finish a first consent that never completed (status `setup`)."""
    connection = find_connection(path.connection_id)
    if not may_reconnect(connection, current_caller()):
        require_admin()
    session = request_session()
    url = begin(session, connection, current_caller().member_id, "reconnect")
    session.commit()
    return {"connection": describe(session, [connection])[0], "authorize_url": url}


# --- companies and ledgers

class EntityOut(BaseModel):
    id: int
    provider_entity_id: str
    name: str
    kind: str
    selected: bool
    available: bool = Field(description="False when the provider no longer lists it (its data stays).")
    group: str | None = Field(default=None, description="Where the provider keeps companies in groups the user "
                                                        "picks first (an environment, at some providers), the "
                                                        "group this one is in; null otherwise.")


class EntityList(BaseModel):
    items: list[EntityOut]


class EntitySelection(StrictModel):
    selected_ids: list[int] = Field(description="The entities to bring in; all others are deselected.")


def _entity_list(connection: Connection) -> dict:
    try:
        group_of = runtime().connector_for(connection).group_of
    except UnknownProvider:  # no longer offered here: its companies are listed without groups
        group_of = lambda provider_entity_id: None  # noqa: E731
    return EntityList(items=[EntityOut.model_validate(e, from_attributes=True).model_copy(
        update={"group": group_of(e.provider_entity_id)}) for e in connection.entities]).model_dump()


def _require_credentials(connection: Connection) -> None:
    if S(connection.status) not in WITH_CREDENTIALS:
        raise refuse(f"{connection.name} is {connection.status.replace('_', ' ')}: "
                     + ("reconnect it first." if connection.status != S.setup else "finish the consent first."))


@bp.get("/connections/<int:connection_id>/entities", responses={200: EntityList})
def list_entities(path: ConnectionPath):
    """The companies/ledgers the grant covers; the ones being brought in are selected."""
    return _entity_list(find_connection(path.connection_id))


@bp.put("/connections/<int:connection_id>/entities", responses={200: EntityList})
def select_entities(path: ConnectionPath, body: EntitySelection):
    """Choose which companies/ledgers to bring in."""
    connection = find_connection(path.connection_id)
    _require_credentials(connection)
    by_id = {entity.id: entity for entity in connection.entities}
    for index, entity_id in enumerate(body.selected_ids):
        if entity_id not in by_id:
            raise ApiError(422, "unknown_entity", f"Entity {entity_id} is not one this connection lists.",
                           f"selected_ids.{index}")
        if not by_id[entity_id].available:
            raise ApiError(422, "entity_unavailable", f"{by_id[entity_id].name} is no longer offered by the "
                           "provider.", f"selected_ids.{index}")
    chosen = set(body.selected_ids)
    dropped = [entity for entity in connection.entities if entity.selected and entity.id not in chosen]
    for entity in connection.entities:
        entity.selected = entity.id in chosen
    if dropped:  # a deselected company is released at the provider, which may bill for each one connected
        release_at_provider(runtime().connector_for(connection), runtime().vault.token_source(connection.id),
                            dropped)
    request_session().commit()
    return _entity_list(connection)


@bp.post("/connections/<int:connection_id>/entities/sync", responses={200: EntityList, 502: ERRORS[404]})
def sync_connection_entities(path: ConnectionPath):
    """List the companies/ledgers again at the provider ("Sync accounts"), keeping selections."""
    connection = find_connection(path.connection_id)
    _require_credentials(connection)
    session = request_session()
    vault, connector = runtime().vault, runtime().connector_for(connection)
    try:
        companies = connector.list_companies(vault.token_source(connection.id))
    except ProviderError as error:
        session.rollback()
        raise ApiError(502, "provider_error", f"{connection.name}: the provider did not answer the company list "
                       f"({error.message}).") from None
    sync_entities(session, connection, companies)
    session.commit()
    return _entity_list(connection)


# --- data types

class DataTypeOut(BaseModel):
    key: str
    enabled: bool


class DataTypeList(BaseModel):
    items: list[DataTypeOut]


class DataTypeChoice(StrictModel):
    enabled: list[DataType] = Field(min_length=1, description="The data types to pull; at least one.")


def _data_types_offered(connection: Connection) -> list[str]:
    option = _offered().get(connection.provider)
    return list(option.data_types) if option else list(connection.data_types)


def _data_types(connection: Connection) -> dict:
    return DataTypeList(items=[DataTypeOut(key=t, enabled=t in connection.data_types)
                               for t in _data_types_offered(connection)]).model_dump()


@bp.get("/connections/<int:connection_id>/data-types", responses={200: DataTypeList})
def get_data_types(path: ConnectionPath):
    """The data types this source offers, and which of them the refresh pulls."""
    return _data_types(find_connection(path.connection_id))


@bp.put("/connections/<int:connection_id>/data-types", responses={200: DataTypeList})
def set_data_types(path: ConnectionPath, body: DataTypeChoice):
    """Choose which data types the refresh pulls."""
    connection = find_connection(path.connection_id)
    offered = _data_types_offered(connection)
    for index, data_type in enumerate(body.enabled):
        if data_type.value not in offered:
            raise ApiError(422, "not_offered", f"{connection.name} does not offer {data_type.value}.",
                           f"enabled.{index}")
    connection.data_types = [t for t in offered if t in {d.value for d in body.enabled}]
    request_session().commit()
    return _data_types(connection)


# --- disconnect and delete (admins)

@bp.post("/connections/<int:connection_id>/disconnect", responses={200: ConnectionOut})
def disconnect(path: ConnectionPath):
    """Stop refreshing this source; its data stays. Our access is revoked at the provider and the tokens
    erased: a disconnected source is reconnected through a new consent, so keeping them would only keep a
    live grant (and, at providers that bill per connected company, a bill) for nothing."""
    require_admin()
    connection = find_connection(path.connection_id, changing=True)
    try:
        apply(connection, Event.disconnected, "Disconnected by an admin; no refresh runs until reconnected.")
    except TransitionRefused as refused:
        raise refuse(str(refused)) from None
    _, detail = _end_grant(connection)
    connection.status_detail = f"Disconnected by an admin; no refresh runs until reconnected. {detail}"
    session = request_session()
    session.commit()
    return describe(session, [connection])[0]


class ConnectionDeleted(BaseModel):
    id: int
    deleted: bool
    revoked_at_provider: bool
    detail: str


@bp.delete("/connections/<int:connection_id>", responses={200: ConnectionDeleted})
def delete_connection(path: ConnectionPath):
    """Remove this source: revoke the grant at the provider where possible and erase the tokens.
    Loaded data stays, still reported and attributed to this source."""
    require_admin()
    connection = find_connection(path.connection_id, changing=True)
    revoked, detail = _end_grant(connection)
    connection.deleted_at = utcnow()
    connection.status_detail = "Deleted; its data stays."
    request_session().commit()
    return ConnectionDeleted(id=connection.id, deleted=True, revoked_at_provider=revoked, detail=detail).model_dump()


def _end_grant(connection: Connection) -> tuple[bool, str]:
    """Release the companies and revoke our access at the provider where we can, then erase the tokens
    whatever the provider said: (revoked, what happened in plain words)."""
    revoked, detail = False, "There was no sign-in to revoke."
    if connection.token_ciphertext is not None:
        with patience(WAITED_ON):  # an admin is waiting on the button
            revoked, detail = _release_and_revoke(connection)
    runtime().vault.erase(connection)
    return revoked, detail


def _release_and_revoke(connection: Connection) -> tuple[bool, str]:
    kept = release_at_provider(runtime().connector_for(connection), runtime().vault.token_source(connection.id),
                               connection.entities)
    if kept:
        log.warning("connection %s: the provider kept its link to %s", connection.id, ", ".join(kept))
    try:
        runtime().vault.revoke(connection)
    except ProviderError as error:
        # The tokens are erased either way; say plainly that the provider may still list us.
        log.warning("connection %s: revocation failed: %s", connection.id, error)
        return False, (f"The provider did not confirm the revocation ({error.message}); remove Ledgerpane from the "
                       "provider's connected apps to be sure.")
    return True, "The provider revoked our access."


# --- refresh (the play button)

class RefreshRequest(OptionalBody):
    mode: Literal["incremental", "full", "repull"] = Field(
        "incremental", description="incremental: what changed since the last run (default); full: all history; "
                                   "repull: the given streams again, from `since`.")
    streams: list[DataType] | None = Field(None, description="For a re-pull: the data types to pull again.")
    since: date | None = Field(None, description="For a re-pull: changes since this date.")


class RefreshStarted(BaseModel):
    run_id: int
    created: bool = Field(description="False when a run of this connection was already queued or running, or was "
                                      "cancelled and has not stopped yet (run_id is that run).")


@bp.post("/connections/<int:connection_id>/refresh", responses={202: RefreshStarted})
def refresh(path: ConnectionPath, body: RefreshRequest):
    """Refresh now. One run per connection at a time: asking again returns the active run."""
    from server.refresh.runs import request_refresh

    connection = find_connection(path.connection_id)
    _require_credentials(connection)
    if not selected_entities(connection):
        raise refuse(f"{connection.name} has no company or ledger selected: choose at least one first.")
    if body.mode == "repull" and (not body.streams or body.since is None):
        raise ApiError(422, "missing_field", "A re-pull needs the data types to pull again and a date.",
                       "streams" if not body.streams else "since")
    session = request_session()
    first = session.scalar(select(func.count()).where(RefreshRun.connection_id == connection.id)) == 0
    session.commit()  # release the read before the run takes the connection's lock
    run_id, created = request_refresh(
        runtime().sessions, connection.id, trigger="initial" if first else "manual",
        member_id=current_caller().member_id, mode=body.mode,
        streams=[s.value for s in body.streams] if body.streams else None, since=body.since)
    if created:
        runtime().jobs.submit(run_id)
    return RefreshStarted(run_id=run_id, created=created).model_dump(), 202
