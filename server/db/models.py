"""The workspace data model (DESIGN.md, "Workspace data model").

Workspace -> members and their keys; connections -> entities (companies/ledgers) -> accounts;
up to four custom dimensions with members; ledger lines at the grain of an FP&A fact table;
and the bookkeeping of refreshes: sync cursors, refresh runs, integration-log events.
"""
from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

AMOUNT_SCALE = 4  # four decimal places, as the providers send
MAX_DIMENSIONS = 4
UNMAPPED = "Unmapped"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored and returned as aware UTC (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Amount(TypeDecorator):
    """Money as Decimal end to end.

    PostgreSQL stores NUMERIC(18,4). SQLite has no decimal type (SQLAlchemy would pass through
    float), so there the amount is an exact integer count of 1/10,000ths; sums stay exact too.
    """

    impl = Numeric(18, AMOUNT_SCALE)
    cache_ok = True
    _factor = Decimal(10) ** AMOUNT_SCALE

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, AMOUNT_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal(1).scaleb(-AMOUNT_SCALE))
        return int(value * self._factor) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / self._factor).quantize(Decimal(1).scaleb(-AMOUNT_SCALE))
        return Decimal(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# Enums are stored as plain strings: a new value needs no ALTER TYPE migration on PostgreSQL.
class Role(enum.StrEnum):
    admin = "admin"
    member = "member"


class ConnectionStatus(enum.StrEnum):
    """See server/connections/status.py for the transitions between them."""

    setup = "setup"
    authenticated = "authenticated"
    live = "live"
    reauth_required = "reauth_required"
    error = "error"
    disconnected = "disconnected"


class DataType(enum.StrEnum):
    accounts = "accounts"
    dimensions = "dimensions"
    journals = "journals"
    trial_balance = "trial_balance"
    currencies = "currencies"


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    partly_succeeded = "partly_succeeded"  # some entities refreshed, others failed (named on the run)
    failed = "failed"
    cancelled = "cancelled"


class ScheduleKind(enum.StrEnum):
    daily = "daily"
    weekdays = "weekdays"  # Monday to Friday
    every_n_hours = "every_n_hours"


DEFAULT_SCHEDULE_MINUTE = 2 * 60  # 02:00 local
SCHEDULE_SPREAD_SECONDS = 30 * 60  # a wave of scheduled refreshes starts over half an hour, not in one second


def spread_offset() -> int:
    """A connection's own delay after its schedule's time, drawn once and stored, so it stays put."""
    return secrets.randbelow(SCHEDULE_SPREAD_SECONDS)


class Workspace(Base):
    __tablename__ = "workspace"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    base_currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[Member]] = relationship(back_populates="workspace")


class Member(Base):
    """A person in a workspace and what they may do there."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("workspace_id", "user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    user: Mapped[str] = mapped_column(String(320))  # email or login of the person
    role: Mapped[str] = mapped_column(String(32), default=Role.member.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="members")


class WorkspaceKey(Base):
    """An API key of one member. Only a SHA-256 of the key is stored; the key is shown once."""

    __tablename__ = "workspace_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to tell keys apart in a list
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship()


class Connection(Base):
    """One grant from one provider login. Deleting it keeps the row (deleted_at) so loaded data stays
    attributed to its source; the tokens are erased."""

    __tablename__ = "connection"
    # The Connections list, by name (its default order): its first page read from the index, never a sort of all.
    __table_args__ = (Index("connection_workspace_name", "workspace_id", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.setup.value)
    status_detail: Mapped[str] = mapped_column(Text, default="")
    business_account: Mapped[str] = mapped_column(String(320), default="")  # login/email of the grant
    business_account_id: Mapped[str] = mapped_column(String(200), default="")
    credential_status: Mapped[str] = mapped_column(String(16), default="none")  # none, active, error
    credential_detail: Mapped[str] = mapped_column(Text, default="")
    account_status: Mapped[str] = mapped_column(String(16), default="none")  # loading, none, ready, error
    account_detail: Mapped[str] = mapped_column(Text, default="")
    setup_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. an environment or a realm
    data_types: Mapped[list[Any]] = mapped_column(default=lambda: [t.value for t in DataType])
    # Vault: the token set, encrypted (server/connections/vault.py). Never serialised, never logged.
    token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on each rotation
    # Calls made to the provider in the month `provider_calls_month` ("YYYY-MM", UTC): some providers meter
    # reads per month (one free tier stops at 500,000 a month), so the connection shows them.
    provider_calls_month: Mapped[str] = mapped_column(String(7), default="")
    provider_calls: Mapped[int] = mapped_column(Integer, default=0)
    # The overnight schedule (server/scheduler/), read in the workspace's timezone: daily, weekdays or every N
    # hours from a local time, started `schedule_offset_seconds` later so a wave of connections is spread out.
    schedule_kind: Mapped[str] = mapped_column(String(20), default=ScheduleKind.daily.value)
    schedule_minute: Mapped[int] = mapped_column(Integer, default=DEFAULT_SCHEDULE_MINUTE)  # after local midnight
    schedule_every_hours: Mapped[int | None] = mapped_column(Integer)  # kind every_n_hours only
    schedule_offset_seconds: Mapped[int] = mapped_column(Integer, default=spread_offset)
    schedule_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_paused_reason: Mapped[str] = mapped_column(Text, default="")
    schedule_failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed scheduled runs
    # The newest scheduled run whose outcome the failure policy has counted (server/scheduler/policy.py).
    schedule_counted_run_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_authorized_at: Mapped[datetime | None]
    last_successful_run_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # What the last refreshes found changed at the provider (dimensions, members, accounts) since the mapping
    # was saved; "" once reviewed. And what arrived unmapped (server/mapping/review.py).
    mapping_review: Mapped[str] = mapped_column(Text, default="")
    unmapped: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where provider accounts that no row or rule maps land (server/mapping/accounts.py): a workspace account
    # mirroring them (code and name), the Unmapped account, or `new_accounts_account_id`.
    new_accounts: Mapped[str] = mapped_column(String(16), default="mirror")
    new_accounts_account_id: Mapped[int | None] = mapped_column(Integer)

    entities: Mapped[list[Entity]] = relationship(back_populates="connection", order_by="Entity.name")


class Entity(Base):
    """A company or ledger that a connection's grant covers; `selected` ones are refreshed."""

    __tablename__ = "entity"
    __table_args__ = (UniqueConstraint("connection_id", "provider_entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    provider_entity_id: Mapped[str] = mapped_column(String(200))  # the provider's tenant, realm or company id
    # The provider's id of the link between the grant and this company, where it has one (a
    # connection id): deselecting the company or deleting the connection removes that link at the provider.
    provider_connection_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40), default="company")
    base_currency: Mapped[str | None] = mapped_column(String(3))
    currencies: Mapped[list[Any]] = mapped_column(default=list)  # codes the entity trades in
    year_end_month: Mapped[int | None] = mapped_column(Integer)  # financial year end, from the provider
    year_end_day: Mapped[int | None] = mapped_column(Integer)
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    available: Mapped[bool] = mapped_column(Boolean, default=True)  # still listed by the provider
    listed_at: Mapped[datetime] = mapped_column(default=utcnow)

    connection: Mapped[Connection] = relationship(back_populates="entities")


class Account(Base):
    """An account of an entity's chart, as the provider has it."""

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("entity_id", "source_account_id"),
        Index("account_connection", "connection_id"),  # the Connections list counts accounts per connection
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id", ondelete="CASCADE"))
    source_account_id: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50), default="")
    name: Mapped[str] = mapped_column(String(300))
    account_type: Mapped[str] = mapped_column(String(50), default="")  # provider's type, e.g. REVENUE
    account_class: Mapped[str] = mapped_column(String(50), default="")  # asset, liability, equity, revenue, expense
    status: Mapped[str] = mapped_column(String(20), default="active")
    currency: Mapped[str | None] = mapped_column(String(3))
    source_updated_at: Mapped[datetime | None]
    # The workspace account its lines land on, and what placed it there (row, range, prefix, mirror, rule,
    # unmapped). Lines keep the provider's account (`ledger_line.account_id`), so a new mapping re-places them
    # by changing this column alone (server/mapping/accounts.py).
    workspace_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspace_account.id", ondelete="SET NULL"), index=True)
    placed_by: Mapped[str] = mapped_column(String(10), default="")
    # The provider's other fields of the account: a JSON array, in its stream's `fields` order ("" if none).
    source_fields: Mapped[str] = mapped_column(Text, default="")


class WorkspaceAccount(Base):
    """An account of the workspace's own chart, which reports and the workbook show. It mirrors the providers'
    accounts by default; admins map provider accounts onto it. One `is_unmapped` account per workspace takes
    what the mapping leaves unplaced."""

    __tablename__ = "workspace_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50), default="")
    name: Mapped[str] = mapped_column(String(300))
    account_class: Mapped[str] = mapped_column(String(50), default="")
    is_unmapped: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountMapping(Base):
    """One line of a connection's account mapping onto a workspace account: a provider account (`kind` account),
    a range of codes (`range`, from and to inclusive, compared as numbers when all are digits) or a code prefix
    (`prefix`). A provider account's own row wins; then the first rule in `position` order that matches."""

    __tablename__ = "account_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # account, range, prefix
    position: Mapped[int] = mapped_column(Integer, default=0)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), unique=True)
    code_from: Mapped[str] = mapped_column(String(50), default="")
    code_to: Mapped[str] = mapped_column(String(50), default="")
    prefix: Mapped[str] = mapped_column(String(50), default="")
    workspace_account_id: Mapped[int] = mapped_column(ForeignKey("workspace_account.id", ondelete="CASCADE"),
                                                      index=True)


class Dimension(Base):
    """A custom dimension of the workspace (department, region, ...). At most four, in slots 1-4."""

    __tablename__ = "dimension"
    __table_args__ = (
        UniqueConstraint("workspace_id", "position"),
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint(f"position BETWEEN 1 AND {MAX_DIMENSIONS}", name="dimension_position_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # which of dim1..dim4 on a ledger line
    name: Mapped[str] = mapped_column(String(100))
    display_order: Mapped[int] = mapped_column(Integer, default=0)  # where lists show it; the slot never moves
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[DimensionMember]] = relationship(back_populates="dimension", order_by="DimensionMember.name")


class DimensionMember(Base):
    """A member of a custom dimension. Every dimension has one `is_unmapped` member: provider values
    that no mapping covers land there instead of being dropped."""

    __tablename__ = "dimension_member"
    __table_args__ = (UniqueConstraint("dimension_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dimension_id: Mapped[int] = mapped_column(ForeignKey("dimension.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50), default="")
    is_unmapped: Mapped[bool] = mapped_column(Boolean, default=False)

    dimension: Mapped[Dimension] = relationship(back_populates="members")


class LedgerLine(Base):
    """One general-ledger line, keyed by its source: (connection, entity, source_line_id).

    The fact table carries no foreign keys: the refresh pipeline is its only writer and resolves every id,
    and per-row FK checks cost more than half the load rate (benchmarks/refresh_full.py).
    """

    __tablename__ = "ledger_line"
    __table_args__ = (
        UniqueConstraint("connection_id", "entity_id", "source_line_id", name="ledger_line_source_key"),
        Index("ledger_line_workspace_period", "workspace_id", "period", "account_id"),
        # SQLite only: re-mapping counts a connection's lines per combination of provider values in this index's
        # order, without a sort (server/mapping/apply.py). Leading with the text keeps every query that filters by
        # connection on the source key. PostgreSQL groups by hashing and would pay for it on every row update.
        Index("ledger_line_dimensions", "source_dimensions", "connection_id", "entity_id").ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column()
    connection_id: Mapped[int] = mapped_column()
    entity_id: Mapped[int] = mapped_column()
    source_line_id: Mapped[str] = mapped_column(String(100))
    source_journal_id: Mapped[str] = mapped_column(String(100), default="")
    date: Mapped[date] = mapped_column(Date)
    period: Mapped[date] = mapped_column(Date)  # first day of the accounting month
    account_id: Mapped[int | None] = mapped_column()
    dim1_member_id: Mapped[int | None] = mapped_column()
    dim2_member_id: Mapped[int | None] = mapped_column()
    dim3_member_id: Mapped[int | None] = mapped_column()
    dim4_member_id: Mapped[int | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    amount_base: Mapped[Decimal | None] = mapped_column(Amount())
    description: Mapped[str] = mapped_column(Text, default="")
    # The provider's dimension values as sent ("dimensionId=memberId;..."), kept so that a changed
    # dimension mapping can re-map lines without pulling the ledger again.
    source_dimensions: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column()
    source_updated_at: Mapped[datetime | None]
    # The provider's other fields of the line (its stream's `fields`: a reference, a tax type...), cast per the
    # connection's field types: a JSON array in the stream's `fields` order, as text, which a binary COPY and
    # SQLite take as is ("" if none).
    source_fields: Mapped[str] = mapped_column(Text, default="")


class SourceDimension(Base):
    """A dimension as the provider has it (a tracking category, a class list...)."""

    __tablename__ = "source_dimension"
    __table_args__ = (UniqueConstraint("entity_id", "source_dimension_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id", ondelete="CASCADE"))
    source_dimension_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")


class SourceDimensionOption(Base):
    __tablename__ = "source_dimension_option"
    __table_args__ = (UniqueConstraint("source_dimension_id", "source_option_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_dimension_id: Mapped[int] = mapped_column(ForeignKey("source_dimension.id", ondelete="CASCADE"))
    source_option_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")


class DimensionMapping(Base):
    """Where one provider dimension (of one entity) lands: a workspace dimension, and what its members that
    no row maps do (`new_members`: stay on Unmapped, become workspace members, or land on a chosen member).
    A provider dimension without a row is not mapped: its values stay raw on the lines."""

    __tablename__ = "dimension_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    source_dimension_id: Mapped[int] = mapped_column(ForeignKey("source_dimension.id", ondelete="CASCADE"),
                                                     unique=True)
    dimension_id: Mapped[int] = mapped_column(ForeignKey("dimension.id", ondelete="CASCADE"), index=True)
    new_members: Mapped[str] = mapped_column(String(16), default="unmapped")  # unmapped, create, member
    fallback_member_id: Mapped[int | None] = mapped_column(ForeignKey("dimension_member.id", ondelete="SET NULL"))


class MemberMapping(Base):
    """One provider member onto one workspace member (many provider members may share one)."""

    __tablename__ = "member_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    source_option_id: Mapped[int] = mapped_column(ForeignKey("source_dimension_option.id", ondelete="CASCADE"),
                                                  unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("dimension_member.id", ondelete="CASCADE"), index=True)
    by_rule: Mapped[bool] = mapped_column(Boolean, default=False)  # created by the dimension's rule, not a person


class MappingChange(Base):
    """The audit trail of dimensions and mappings: who changed what, when."""

    __tablename__ = "mapping_change"
    __table_args__ = (Index("mapping_change_workspace_time", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))  # None: a refresh
    user: Mapped[str] = mapped_column(String(320), default="")  # kept as it was when the change was made
    action: Mapped[str] = mapped_column(String(40))  # e.g. dimension.created, mapping.saved
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreamField(Base):
    """A field a connection's stream keeps (`Stream.fields`): the type an admin cast it to, if any, and a few
    of its values from the last refresh. The field's default type is the connector's declaration."""

    __tablename__ = "stream_field"
    __table_args__ = (UniqueConstraint("connection_id", "stream", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(100))
    type: Mapped[str | None] = mapped_column(String(10))  # None: the default type, values kept as sent
    scale: Mapped[int | None] = mapped_column(Integer)  # decimal places of a decimal
    samples: Mapped[list[Any]] = mapped_column(default=list)  # distinct values, each as its JSON text
    samples_run_id: Mapped[int | None] = mapped_column()  # the refresh that took them
    samples_at: Mapped[datetime | None]
    changed_by: Mapped[str] = mapped_column(String(320), default="")
    changed_at: Mapped[datetime | None]


class TrialBalanceLine(Base):
    """The provider's own trial balance for a period: what the loaded ledger is reconciled against."""

    __tablename__ = "trial_balance_line"
    __table_args__ = (UniqueConstraint("entity_id", "period", "source_account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id"))
    period: Mapped[date] = mapped_column(Date)  # first day of the month
    source_account_id: Mapped[str] = mapped_column(String(200))
    account_code: Mapped[str] = mapped_column(String(50), default="")
    account_name: Mapped[str] = mapped_column(String(300), default="")
    # As the provider reports them at the period end: the balance (P&L accounts: year to date) as debit or
    # credit, and the movement of the financial year to date, debit positive.
    debit: Mapped[Decimal] = mapped_column(Amount())
    credit: Mapped[Decimal] = mapped_column(Amount())
    ytd_net: Mapped[Decimal] = mapped_column(Amount())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("refresh_run.id", ondelete="SET NULL"))


class SyncCursor(Base):
    """How far a stream has been read, per connection x entity x stream. Advanced in the same
    transaction as the rows it covers, so a crash resumes from the last committed batch."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "entity_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(60))
    value: Mapped[str] = mapped_column(Text, default="")  # the stream's own encoding (offset, timestamp)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshRun(Base):
    __tablename__ = "refresh_run"
    __table_args__ = (
        Index("refresh_run_connection_status", "connection_id", "status"),
        Index("refresh_run_connection_newest", "connection_id", "id"),  # each listed connection's last run
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id"))
    trigger: Mapped[str] = mapped_column(String(20))  # manual, initial, scheduled
    mode: Mapped[str] = mapped_column(String(20), default="incremental")  # incremental, full, repull
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.queued.value)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    streams: Mapped[list[Any] | None] = mapped_column(JSON)  # None: every enabled stream; else these only
    since: Mapped[date | None] = mapped_column(Date)  # re-pull from this date (mode "repull")
    worker: Mapped[str] = mapped_column(String(200), default="")  # host:pid running it
    heartbeat_at: Mapped[datetime | None]  # moved on every commit; a silent run is presumed dead
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)  # pages, rows read, rows written
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per stream
    error: Mapped[str] = mapped_column(Text, default="")


class LogEvent(Base):
    """An integration-log event: what one run did for one entity and data type."""

    __tablename__ = "log_event"
    __table_args__ = (
        Index("log_event_workspace_time", "workspace_id", "created_at"),
        # One connection's log, newest first, and what the Connections list sums over its last 30 days (the two
        # counts in the index too, so the sums never read the table).
        Index("log_event_connection_time", "connection_id", "created_at", "rows_inserted", "rows_updated"),
        Index("log_event_workspace_status_time", "workspace_id", "status", "created_at"),  # the log's failures
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id"))  # indexed by log_event_connection_time
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entity.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("refresh_run.id", ondelete="SET NULL"))
    data_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))  # succeeded, failed, needs_attention
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_deleted: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    endpoints: Mapped[list[Any]] = mapped_column(default=list)  # method, url (no secrets), status, ms, attempt
    detail: Mapped[str] = mapped_column(Text, default="")  # error or change summary in plain words
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthHandoff(Base):
    """One consent attempt: the dialog's start link, the `state` sent to the provider and the PKCE
    verifier, bound to the connection and the member who asked, single-use, expiring in 10 minutes.
    Only hashes of the start token and state are stored; the verifier is encrypted by the vault."""

    __tablename__ = "oauth_handoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # connect, reconnect
    start_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str | None] = mapped_column(String(64))  # the dialog's cookie, set at start
    verifier_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="")  # connected, denied, failed


class SchedulerLease(Base):
    """Which process is the active scheduler where the database has no advisory lock (SQLite): the holder
    renews its lease well before it runs out, and a standby takes over a lease that ran out."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid
    expires_at: Mapped[datetime]


# APScheduler's job store (SQLAlchemyJobStore), as that library lays it out; declared here so the migrations,
# not the scheduler's first start, create it. Jobs hold connection ids only (server/scheduler/service.py).
SCHEDULER_JOBS = Table(
    "apscheduler_jobs", Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
