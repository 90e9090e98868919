"""What a run changed, in finance terms: the sentence of its integration-log event."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from server.db.models import Account
from server.refresh.context import EntityScope, Run
from server.store.ledger import Written, to_amount


def summary(run: Run, entity: EntityScope, data_type: str, written: Written) -> str:
    """Reference data: counts. Ledger lines: the new lines per account and month (the store counted them
    as it wrote them), the largest first; the run keeps the list for its record."""
    deleted = f", {written.deleted} deleted" if written.deleted else ""
    if data_type != "journals":
        return f"{written.inserted} new, {written.updated} changed{deleted}."
    with run.sessions() as session:
        names = {id_: (code, name) for id_, code, name in session.execute(
            select(Account.id, Account.code, Account.name).where(Account.entity_id == entity.id))}
    changes = [{"entity": entity.name, "account_code": names[account][0], "account_name": names[account][1],
                "period": period.isoformat()[:7], "net_amount": str(to_amount(net)), "lines": lines}
               for (account, period), (net, lines) in written.added.items()]
    changes.sort(key=lambda c: -abs(Decimal(c["net_amount"])))
    run.changes.extend(changes)
    if not changes:
        changed = f"{written.updated} changed{deleted}" if written.updated or written.deleted else ""
        return f"No new lines ({changed})." if changed else "No new lines."
    described = "; ".join(f"{c['period']} {c['account_code'] or c['account_name']} {Decimal(c['net_amount']):+,.2f}"
                          for c in changes[:5])
    periods = {c["period"] for c in changes}
    return (f"{written.inserted} new lines across {len(changes)} account-periods in {len(periods)} period(s)"
            f"{f', {written.updated} changed' if written.updated else ''}{deleted}. Largest: {described}.")
