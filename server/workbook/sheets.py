"""The workbook's sheets, built with pandas straight from SQL: one query per page, joined and ordered by the
database, paged by OFFSET/LIMIT, read into a DataFrame in one go (never row by row in Python).

Actuals: one row per ledger line (or, summarised, per entity x period x account x dimension members). `Amount` is
in the entity's base currency, debit positive and credit negative, so a period's rows of one entity sum to zero
and revenue shows negative; `Transaction Amount` has the same sign in the line's own currency.

Lines of a deleted connection stay in the sheets under the connection's name: deleting a connection keeps the
data it loaded (DESIGN.md), and a workbook that silently lost them would no longer tie to the books.

Dates travel as Excel serial day numbers (days since 1899-12-30), computed by the database, so a client writes
them untouched under the column's number format.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection as Database
from sqlalchemy.sql import ColumnElement, FromClause

from server.db.models import (
    AMOUNT_SCALE,
    Account,
    Connection,
    Dimension,
    DimensionMember,
    Entity,
    LedgerLine,
    WorkspaceAccount,
)

SheetName = Literal["actuals", "accounts", "dimensions"]
SHEETS: tuple[SheetName, ...] = ("actuals", "accounts", "dimensions")
TITLES = {"actuals": "Actuals", "accounts": "Accounts", "dimensions": "Dimensions"}  # sheet and table names

TEXT, MONEY, WHOLE, MONTH, DAY = "@", "#,##0.00", "0", "mmm yyyy", "yyyy-mm-dd"
EXCEL_EPOCH = date(1899, 12, 30)  # serial day 0 (Excel's 1900 system, past its phantom 29 February 1900)
EXCEL_MAX_ROWS = 1_048_576  # a worksheet's rows, the heading row included


@dataclass(frozen=True)
class SheetColumn:
    name: str
    type: Literal["text", "number", "integer", "date"]
    format: str  # Excel number format


def text(name: str) -> SheetColumn:
    return SheetColumn(name, "text", TEXT)


@dataclass(frozen=True)
class Filters:
    """What a load asks for. Empty tuples and None mean "no limit"."""

    entity_ids: tuple[int, ...] = ()
    period_from: date | None = None  # first day of a month, inclusive
    period_to: date | None = None  # first day of a month, inclusive
    account_codes: tuple[str, ...] = ()
    member_ids: tuple[int, ...] = ()
    summary: bool = False


class UnknownIds(LookupError):
    """Ids the filters name that the workspace does not have (another workspace's included)."""

    def __init__(self, field: str, ids: list[int]) -> None:
        super().__init__(f"No such {field}: {', '.join(map(str, ids))}")
        self.field, self.ids = field, ids


@dataclass(frozen=True)
class DimensionSlot:
    name: str
    position: int  # which dimN_member_id of a ledger line


@dataclass
class Page:
    columns: list[SheetColumn]
    frame: pd.DataFrame  # columns named as `columns`, values as the JSON answer carries them
    total_rows: int


def account_lookup(workspace_id: int) -> FromClause:
    """Per provider account (the `account_id` a ledger line keeps), the workspace account its lines land on
    (`account.workspace_account_id`, issue 13): the sheets show that account's code and name, so accounts mapped
    many-to-one read as one account; an account not placed yet shows as itself. The provider's own code and name
    stay beside it (`source_code`, `source_name`). The one place the sheets read accounts."""
    placed = WorkspaceAccount.__table__
    return select(Account.id, Account.workspace_id, Account.workspace_account_id,
                  func.coalesce(placed.c.code, Account.code).label("code"),
                  func.coalesce(placed.c.name, Account.name).label("name"),
                  Account.code.label("source_code"), Account.name.label("source_name"),
                  Account.account_type.label("source_type"), Account.account_class.label("source_class"),
                  Account.status, Account.currency, Account.entity_id, Account.connection_id) \
        .outerjoin(placed, placed.c.id == Account.workspace_account_id) \
        .where(Account.workspace_id == workspace_id).subquery("account_of_line")


def account_kinds(workspace_id: int) -> FromClause:
    """Each workspace account's type and class: its own class where it has one, else what the provider accounts
    landing on it agree on ("" where they differ), so every line of one workspace account reads the same and a
    summary keeps one row per account."""
    agreed = [case((func.min(column) == func.max(column), func.min(column)), else_="").label(label)
              for column, label in ((Account.account_type, "account_type"), (Account.account_class, "account_class"))]
    provided = select(Account.workspace_account_id, *agreed).where(
        Account.workspace_id == workspace_id, Account.workspace_account_id.is_not(None)) \
        .group_by(Account.workspace_account_id).subquery("provided")
    own = WorkspaceAccount.__table__
    return select(own.c.id, func.coalesce(provided.c.account_type, "").label("account_type"),
                  case((own.c.account_class != "", own.c.account_class),
                       else_=func.coalesce(provided.c.account_class, "")).label("account_class")) \
        .outerjoin(provided, provided.c.workspace_account_id == own.c.id) \
        .where(own.c.workspace_id == workspace_id).subquery("account_kind")


def described_accounts(workspace_id: int) -> Select:
    """What the sheets show of each provider account: the workspace account's code, name, type and class (its own
    type and class where it is not placed), and the provider's code and name."""
    accounts, kinds = account_lookup(workspace_id), account_kinds(workspace_id)
    placed = accounts.c.workspace_account_id.is_not(None)
    return select(accounts.c.id, accounts.c.code, accounts.c.name,
                  case((placed, kinds.c.account_type), else_=accounts.c.source_type).label("account_type"),
                  case((placed, kinds.c.account_class), else_=accounts.c.source_class).label("account_class"),
                  accounts.c.source_code, accounts.c.source_name, accounts.c.status, accounts.c.currency,
                  accounts.c.entity_id, accounts.c.connection_id) \
        .outerjoin(kinds, kinds.c.id == accounts.c.workspace_account_id)


def _serial_day(column: ColumnElement, dialect: str) -> ColumnElement:
    """Days since EXCEL_EPOCH, computed by the database (no date object per row in Python)."""
    if dialect == "sqlite":
        return cast(func.julianday(column) - func.julianday(literal_column(f"'{EXCEL_EPOCH}'")), Integer)
    return type_coerce(column - literal_column(f"DATE '{EXCEL_EPOCH}'"), Integer)


def _money(column: ColumnElement, dialect: str) -> ColumnElement:
    """An amount as a double in SQL: exact to the cent and far beyond, and no Decimal per row in Python."""
    if dialect == "sqlite":  # stored as an integer count of 1/10,000ths (models.Amount)
        return type_coerce(column, Integer) / literal_column(f"{10 ** AMOUNT_SCALE}.0")
    return cast(column, Float)  # FLOAT is double precision on PostgreSQL


class Workbook:
    """One workspace's sheets under one set of filters, on one database connection."""

    def __init__(self, db: Database, workspace_id: int, filters: Filters) -> None:
        self.db, self.workspace_id, self.filters = db, workspace_id, filters
        self.dialect = db.dialect.name
        self.dimensions = [DimensionSlot(name, position) for name, position in db.execute(
            select(Dimension.name, Dimension.position).where(Dimension.workspace_id == workspace_id)
            .order_by(Dimension.display_order, Dimension.position))]
        self._check_entities()
        self.member_slots = self._member_slots()
        self._lookups: dict[str, pd.DataFrame] | None = None

    # --- the filters, checked against the workspace

    def _check_entities(self) -> None:
        wanted = set(self.filters.entity_ids)
        if not wanted:
            return
        known = set(self.db.scalars(select(Entity.id).where(Entity.workspace_id == self.workspace_id,
                                                            Entity.id.in_(wanted))))
        if wanted - known:
            raise UnknownIds("entity", sorted(wanted - known))

    def _member_slots(self) -> dict[int, list[int]]:
        """The members asked for, by the ledger-line slot of their dimension."""
        wanted = set(self.filters.member_ids)
        if not wanted:
            return {}
        found = self.db.execute(select(DimensionMember.id, Dimension.position).join(Dimension).where(
            Dimension.workspace_id == self.workspace_id, DimensionMember.id.in_(wanted))).all()
        if missing := wanted - {member_id for member_id, _ in found}:
            raise UnknownIds("member", sorted(missing))
        slots: dict[int, list[int]] = {}
        for member_id, position in found:
            slots.setdefault(position, []).append(member_id)
        return slots

    def _line_conditions(self) -> list[ColumnElement]:
        line, wanted = LedgerLine.__table__.c, self.filters
        where = [line.workspace_id == self.workspace_id]
        if wanted.entity_ids:
            where.append(line.entity_id.in_(wanted.entity_ids))
        if wanted.period_from:
            where.append(line.period >= wanted.period_from)
        if wanted.period_to:
            where.append(line.period <= wanted.period_to)
        if wanted.account_codes:
            accounts = account_lookup(self.workspace_id)  # the codes the sheets show: workspace accounts'
            where.append(line.account_id.in_(select(accounts.c.id).where(accounts.c.code.in_(wanted.account_codes))))
        for position, members in sorted(self.member_slots.items()):
            where.append(line[f"dim{position}_member_id"].in_(members))
        return where

    # --- columns

    def columns(self, sheet: SheetName) -> list[SheetColumn]:
        if sheet == "accounts":
            return [text("Entity"), text("Account Code"), text("Account Name"), text("Account Type"),
                    text("Account Class"), text("Source Account Code"), text("Source Account Name"), text("Status"),
                    text("Currency"), text("Data Source")]
        if sheet == "dimensions":
            return [text("Dimension"), text("Member"), text("Code"), text("Unmapped")]
        detail = not self.filters.summary
        return [
            text("Entity"), SheetColumn("Period", "date", MONTH),
            *([SheetColumn("Date", "date", DAY)] if detail else []),
            text("Account Code"), text("Account Name"), text("Account Type"), text("Account Class"),
            *([text("Source Account Code")] if detail else []),
            *[text(slot.name) for slot in self.dimensions],
            *([text("Description")] if detail else []),
            SheetColumn("Amount", "number", MONEY),
            *([text("Transaction Currency"), SheetColumn("Transaction Amount", "number", MONEY)] if detail else []),
            text("Data Source"),
        ]

    # --- queries: one per sheet, ordered so that OFFSET pages deterministically

    def _actuals(self) -> tuple[Select, Select]:
        """Ids, dates, amounts and the line's own text; names come from `_named`. The entity and account are
        joined for the order only: fetching their text for every row would cost more than the whole sort."""
        line = LedgerLine.__table__.c
        summary = self.filters.summary
        slots = [f"dim{slot.position}_member_id" for slot in self.dimensions]
        # The account tables themselves, not `account_lookup`: joined per line, SQLite would scan that subquery
        # once per line instead of finding the row by its key.
        account, placed = Account.__table__.alias("line_account"), WorkspaceAccount.__table__.alias("line_placed")
        if summary:
            # One row per workspace account: provider accounts mapped onto it sum together (any one of them names
            # it); a provider account not placed yet keeps its own row.
            keys = [line.entity_id, line.connection_id, line.period, *[line[s] for s in slots]]
            lands_on = account.c.workspace_account_id
            shown = [lands_on, case((lands_on.is_(None), line.account_id))]
            grouped = select(*keys, func.min(line.account_id).label("account_id"),
                             func.sum(type_coerce(line.amount_base, Integer)).label("amount_base")) \
                .select_from(LedgerLine.__table__.outerjoin(account, account.c.id == line.account_id)) \
                .where(*self._line_conditions()).group_by(*keys, *shown).subquery("summary")
            source, rows, tiebreak = grouped, grouped.c, [grouped.c.account_id, *[grouped.c[s] for s in slots]]
        else:
            source, rows, tiebreak = LedgerLine.__table__, line, [line.id]
        entity = Entity.__table__
        detail = not summary
        picked = [
            rows.entity_id, _serial_day(rows.period, self.dialect).label("period"),
            *([_serial_day(line.date, self.dialect).label("date")] if detail else []),
            rows.account_id, *[rows[s] for s in slots],
            *([line.description] if detail else []),
            _money(rows.amount_base, self.dialect).label("amount_base"),
            *([line.currency, _money(line.amount, self.dialect).label("amount")] if detail else []),
            rows.connection_id,
        ]
        joined = source.outerjoin(entity, entity.c.id == rows.entity_id) \
            .outerjoin(account, account.c.id == rows.account_id) \
            .outerjoin(placed, placed.c.id == account.c.workspace_account_id)
        query = select(*picked).select_from(joined).order_by(  # by the code shown, as `account_lookup` has it
            entity.c.name, rows.entity_id, rows.period, func.coalesce(placed.c.code, account.c.code, ""), *tiebreak)
        if summary:
            return query, select(func.count()).select_from(source)
        where = self._line_conditions()
        return query.where(*where), select(func.count()).select_from(LedgerLine.__table__).where(*where)

    def _named(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The Actuals' ids replaced by what they name, from the workspace's small lookup tables, in the sheet's
        column order (a vectorised lookup per column: the strings are shared, not made once per row)."""
        if self._lookups is None:
            self._lookups = {
                "entity": self._lookup(select(Entity.id, Entity.name).where(Entity.workspace_id == self.workspace_id)),
                "account": self._lookup(described_accounts(self.workspace_id)),
                "member": self._lookup(select(DimensionMember.id, DimensionMember.name).join(Dimension)
                                       .where(Dimension.workspace_id == self.workspace_id)),
                "connection": self._lookup(select(Connection.id, Connection.name)
                                           .where(Connection.workspace_id == self.workspace_id)),
            }
        entity, account, member, connection = (self._lookups[k] for k in ("entity", "account", "member", "connection"))
        detail = not self.filters.summary
        named = {
            "Entity": frame["entity_id"].map(entity["name"]), "Period": frame["period"],
            **({"Date": frame["date"]} if detail else {}),
            "Account Code": frame["account_id"].map(account["code"]),
            "Account Name": frame["account_id"].map(account["name"]),
            "Account Type": frame["account_id"].map(account["account_type"]),
            "Account Class": frame["account_id"].map(account["account_class"]),
            **({"Source Account Code": frame["account_id"].map(account["source_code"])} if detail else {}),
            **{slot.name: frame[f"dim{slot.position}_member_id"].map(member["name"]) for slot in self.dimensions},
            **({"Description": frame["description"]} if detail else {}),
            "Amount": frame["amount_base"],
            **({"Transaction Currency": frame["currency"], "Transaction Amount": frame["amount"]} if detail else {}),
            "Data Source": frame["connection_id"].map(connection["name"]),
        }
        return pd.DataFrame(named)

    def _lookup(self, query: Select) -> pd.DataFrame:
        return pd.read_sql(query, self.db, index_col="id")

    def _accounts(self) -> tuple[Select, Select]:
        accounts = described_accounts(self.workspace_id).subquery("described")
        entity, connection = Entity.__table__, Connection.__table__
        where: list[ColumnElement] = []
        if self.filters.entity_ids:
            where.append(accounts.c.entity_id.in_(self.filters.entity_ids))
        if self.filters.account_codes:
            where.append(accounts.c.code.in_(self.filters.account_codes))
        picked = [entity.c.name, accounts.c.code, accounts.c.name, accounts.c.account_type, accounts.c.account_class,
                  accounts.c.source_code, accounts.c.source_name, accounts.c.status, accounts.c.currency,
                  connection.c.name]
        query = select(*[column.label(f"c{i}") for i, column in enumerate(picked)]).select_from(
            accounts.outerjoin(entity, entity.c.id == accounts.c.entity_id)
            .outerjoin(connection, connection.c.id == accounts.c.connection_id)).where(*where) \
            .order_by(entity.c.name, accounts.c.entity_id, accounts.c.code, accounts.c.source_code, accounts.c.id)
        return query, select(func.count()).select_from(accounts).where(*where)

    def _dimensions(self) -> tuple[Select, Select]:
        """Every member of the workspace's dimensions; with a member filter, only the members asked for in the
        dimensions it names (the others' members all, as the Actuals keep all their values)."""
        dimension, member = Dimension.__table__, DimensionMember.__table__
        where: list[ColumnElement] = [dimension.c.workspace_id == self.workspace_id]
        if self.member_slots:
            where.append(or_(dimension.c.position.not_in(list(self.member_slots)),
                             member.c.id.in_([m for ids in self.member_slots.values() for m in ids])))
        picked = [dimension.c.name, member.c.name, member.c.code,
                  case((member.c.is_unmapped, "TRUE"), else_="FALSE")]  # text: the sheets' types have no boolean
        joined = member.join(dimension, dimension.c.id == member.c.dimension_id)
        query = select(*[column.label(f"c{i}") for i, column in enumerate(picked)]).select_from(joined) \
            .where(and_(*where)).order_by(dimension.c.display_order, dimension.c.position,
                                          member.c.is_unmapped.desc(), member.c.name, member.c.id)
        return query, select(func.count()).select_from(joined).where(and_(*where))

    def _queries(self, sheet: SheetName) -> tuple[Select, Select]:
        return {"actuals": self._actuals, "accounts": self._accounts, "dimensions": self._dimensions}[sheet]()

    # --- reading

    def count(self, sheet: SheetName) -> int:
        return self.db.scalar(self._queries(sheet)[1])

    def page(self, sheet: SheetName, offset: int = 0, limit: int | None = None) -> Page:
        query, counting = self._queries(sheet)
        columns = self.columns(sheet)
        frame = self._frame(sheet, pd.read_sql(query.offset(offset).limit(limit), self.db))
        return Page(columns, shaped(frame, columns), self.db.scalar(counting))

    def chunks(self, sheet: SheetName, rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """The whole sheet in order, `rows` at a time from one query (a server-side cursor on PostgreSQL), so
        memory stays bounded whatever its size."""
        columns = self.columns(sheet)
        query = self._queries(sheet)[0].execution_options(stream_results=True, max_row_buffer=rows)
        for frame in pd.read_sql(query, self.db, chunksize=rows):
            yield shaped(self._frame(sheet, frame), columns)

    def _frame(self, sheet: SheetName, frame: pd.DataFrame) -> pd.DataFrame:
        if sheet == "actuals":
            return self._named(frame)
        frame.columns = [column.name for column in self.columns(sheet)]
        return frame


def filter_choices(db: Database, workspace_id: int) -> dict[str, list[dict[str, Any]]]:
    """What the filters can choose from, as they take it: entities by id (those chosen for refreshing or holding
    lines, not every company a provider lists), accounts by the code the sheets show (accounts without a code cannot
    be asked for by code), dimension members by id, Unmapped first."""
    has_lines = exists().where(LedgerLine.connection_id == Entity.connection_id, LedgerLine.entity_id == Entity.id)
    entities = db.execute(select(Entity.id, Entity.name, Connection.name).join(Connection)
                          .where(Entity.workspace_id == workspace_id, or_(Entity.selected, has_lines))
                          .order_by(Entity.name, Entity.id)).all()
    accounts = account_lookup(workspace_id)
    codes = db.execute(select(accounts.c.code, func.min(accounts.c.name)).where(accounts.c.code != "")
                       .group_by(accounts.c.code).order_by(accounts.c.code)).all()
    dimensions: dict[int, dict[str, Any]] = {}
    for dimension_id, dimension, member_id, member, unmapped in db.execute(
            select(Dimension.id, Dimension.name, DimensionMember.id, DimensionMember.name, DimensionMember.is_unmapped)
            .join(DimensionMember).where(Dimension.workspace_id == workspace_id)
            .order_by(Dimension.display_order, Dimension.position, DimensionMember.is_unmapped.desc(),
                      DimensionMember.name, DimensionMember.id)):
        dimensions.setdefault(dimension_id, {"id": dimension_id, "name": dimension, "members": []})["members"].append(
            {"id": member_id, "name": member, "unmapped": unmapped})
    return {"entities": [{"id": id_, "name": name, "connection": connection} for id_, name, connection in entities],
            "accounts": [{"code": code, "name": name} for code, name in codes],
            "dimensions": list(dimensions.values())}


def shaped(frame: pd.DataFrame, columns: list[SheetColumn]) -> pd.DataFrame:
    """The sheet's columns, each as its type travels: whole numbers for dates (nullable), floats for money, strings
    for text, and None where there is no value."""
    for column in columns:
        values = frame[column.name]
        if column.type in ("date", "integer"):
            frame[column.name] = values.astype("Int64")
        elif column.type == "number":
            frame[column.name] = values.astype("float64")
    return frame


def json_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as JSON-ready lists: "" where there is no value (a blank cell, as the contract says)."""
    cells = frame.astype(object)
    return cells.where(frame.notna(), "").to_numpy().tolist()

