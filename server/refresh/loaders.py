"""Loading the small records of an entity by role: its profile, currencies, chart and dimensions.

Each loader writes its records inside the caller's transaction (the one that moves the stream's
cursor) and says what it wrote. Ledger lines, the long stream, go through pipeline.py and the store.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import select, update

from server.connectors.framework.records import Account as AccountRecord
from server.connectors.framework.records import CompanyProfile, Currency, Dimension, LedgerLine, Role
from server.db.models import Account, Entity, SourceDimension, SourceDimensionOption
from server.mapping import review
from server.mapping.fields import fields_text
from server.mapping.ledger import LineMapper
from server.refresh.context import EntityScope, Run
from server.store.ledger import Written, upsert


def load_company_profile(db: DbConnection, run: Run, entity: EntityScope, records: list[CompanyProfile]) -> Written:
    if records:
        profile = records[0]
        entity.base_currency = profile.base_currency
        values: dict[str, Any] = {"base_currency": profile.base_currency, "year_end_month": profile.year_end_month,
                                  "year_end_day": profile.year_end_day}
        if profile.currencies:
            values["currencies"] = sorted(set(profile.currencies))
        db.execute(update(Entity).where(Entity.id == entity.id).values(**values))
    return Written()


def load_currencies(db: DbConnection, run: Run, entity: EntityScope, records: list[Currency]) -> Written:
    codes = sorted({r.code for r in records})
    before = db.execute(select(Entity.currencies).where(Entity.id == entity.id)).scalar_one() or []
    db.execute(update(Entity).where(Entity.id == entity.id).values(currencies=codes))
    return Written(len(set(codes) - set(before)), 0)


def load_accounts(db: DbConnection, run: Run, entity: EntityScope, records: list[AccountRecord]) -> Written:
    before = review.account_snapshot(db, entity.id)
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_account_id": r.source_id, "code": r.code or "", "name": r.name,
             "account_type": r.account_type or "", "account_class": r.account_class or "",
             "status": r.status, "currency": r.currency, "source_updated_at": r.updated_at,
             "source_fields": fields_text(r.source_fields)} for r in records]
    written = upsert(db, Account.__table__, rows, key=("source_account_id",), scope={"entity_id": entity.id})
    review.accounts_loaded(db, run.workspace_id, run.connection_id, entity.id, entity.name, before, run.id)
    return written


def load_dimensions(db: DbConnection, run: Run, entity: EntityScope, records: list[Dimension]) -> Written:
    before = review.dimension_snapshot(db, entity.id)
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_dimension_id": r.source_id, "name": r.name, "status": r.status} for r in records]
    written = upsert(db, SourceDimension.__table__, rows, key=("source_dimension_id",),
                     scope={"entity_id": entity.id})
    ids = dict(db.execute(select(SourceDimension.source_dimension_id, SourceDimension.id)
                          .where(SourceDimension.entity_id == entity.id)).all())
    for record in records:
        members = [{"source_dimension_id": ids[record.source_id], "source_option_id": m.source_id, "name": m.name,
                    "status": m.status} for m in record.members]
        written += upsert(db, SourceDimensionOption.__table__, members, key=("source_option_id",),
                          scope={"source_dimension_id": ids[record.source_id]})
    # What changed is flagged for review; rules for new members apply now, before the lines are mapped.
    review.dimensions_loaded(db, run.workspace_id, run.connection_id, entity.id, entity.name, before, run.id)
    return written


LOADERS: dict[Role, Callable[[DbConnection, Run, EntityScope, list[Any]], Written]] = {
    Role.company_profile: load_company_profile,
    Role.currencies: load_currencies,
    Role.accounts: load_accounts,
    Role.dimensions: load_dimensions,
}


def add_accounts_from_lines(db: DbConnection, run: Run, entity: EntityScope, mapper: LineMapper,
                            lines: list[LedgerLine]) -> None:
    """Lines may name accounts the chart did not list (accounts not pulled, or created since)."""
    first: dict[str, LedgerLine] = {}
    for line in lines:
        first.setdefault(line.account_id, line)
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_account_id": account_id, "code": line.account_code or "",
             "name": line.account_name or line.account_code or account_id, "account_type": line.account_type or ""}
            for account_id, line in first.items()]
    upsert(db, Account.__table__, rows, key=("source_account_id",), scope={"entity_id": entity.id})
    mapper.account_ids.update(db.execute(select(Account.source_account_id, Account.id).where(
        Account.entity_id == entity.id, Account.source_account_id.in_(first))).all())
    review.accounts_added(db, run.workspace_id, run.connection_id, entity.id, run.id)  # on the workspace chart
