"""Provider-neutral records, by role: what every connector turns its provider's shapes into, once.

The refresh pipeline, the store and mapping know these and nothing else of a provider. A connector's
streams each declare the role of what they yield (`Stream.role`); the pipeline loads by role, in
`ROLES` order (accounts before the ledger lines that point at them).

Ledger lines are the one record as long as the ledger, so they are msgspec structs: a connector may
subclass `LedgerLine` with its provider's field names (`msgspec.field(name=...)`) and have a page
decoded straight into them, with no per-line copy.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec


class Role(enum.StrEnum):
    """What a stream yields. The order is the order a refresh loads them in."""

    company_profile = "company_profile"
    currencies = "currencies"
    accounts = "accounts"
    dimensions = "dimensions"
    ledger_lines = "ledger_lines"
    trial_balance = "trial_balance"


ROLES: tuple[Role, ...] = tuple(Role)

# The data type each role is shown and chosen as (the integration log, the connection's data types).
# The company profile has none: it always comes along, and is reported with the chart of accounts.
DATA_TYPE_OF: dict[Role, str | None] = {
    Role.company_profile: None,
    Role.currencies: "currencies",
    Role.accounts: "accounts",
    Role.dimensions: "dimensions",
    Role.ledger_lines: "journals",
    Role.trial_balance: "trial_balance",
}


@dataclass(slots=True)
class CompanyProfile:
    """What the pipeline needs to know of a company: its base currency and financial year end."""

    source_id: str
    name: str
    base_currency: str
    year_end_month: int | None = None  # 1-12; None: calendar year
    year_end_day: int | None = None
    country: str | None = None
    timezone: str | None = None
    currencies: tuple[str, ...] = ()  # codes it trades in, where the profile lists them


@dataclass(slots=True)
class Currency:
    code: str  # ISO 4217
    name: str | None = None


@dataclass(slots=True)
class Account:
    """An account of the company's chart. `account_class` is one of ACCOUNT_CLASSES where the provider
    says it; reconciliation reads it to know whether the account carries a balance across years."""

    source_id: str
    code: str | None  # some system accounts have no code
    name: str
    account_type: str | None  # the provider's own type, e.g. REVENUE, Bank, Income
    account_class: str | None  # asset, liability, equity, revenue, expense
    status: str = "active"  # active, archived
    currency: str | None = None
    updated_at: datetime | None = None
    source_fields: dict[str, Any] | None = None  # the stream's declared fields (Stream.fields), by name, as sent


ACCOUNT_CLASSES = ("asset", "liability", "equity", "revenue", "expense")


@dataclass(slots=True)
class DimensionMember:
    source_id: str
    name: str
    status: str = "active"


@dataclass(slots=True)
class Dimension:
    """A way the provider tags lines (a tracking category, a class list, a dimension code), with its
    members, archived ones included so that old mappings still resolve."""

    source_id: str
    name: str
    status: str = "active"
    members: tuple[DimensionMember, ...] = ()


class DimensionValue(msgspec.Struct, frozen=True, gc=False):  # frozen: hashable, mapping remembers combinations
    """The member of one provider dimension a line is tagged with, as the provider sent it."""

    dimension_id: str | None = None
    member_id: str | None = None
    dimension_name: str | None = None
    member_name: str | None = None


class LedgerLine(msgspec.Struct, gc=False):
    """One general-ledger line. `amount` > 0 is a debit, in the company's base currency.

    Lines hold no references that could form a cycle, so the collector need not track them (gc=False)."""

    source_line_id: str
    account_id: str  # the provider's account id (Account.source_id)
    amount: Decimal
    date: date | None = None
    source_journal_id: str = ""  # the journal or transaction the line belongs to
    description: str | None = ""
    dimension_values: tuple[DimensionValue, ...] | None = ()
    created_at: datetime | None = None
    # Where the line names its account (some providers do), an account the chart did not list can be added.
    account_code: str | None = None
    account_name: str | None = None
    account_type: str | None = None


@dataclass(slots=True, frozen=True)
class Deletion:
    """Lines the provider deleted: one line, or every line of a journal/transaction. A ledger-lines stream
    that reports deletions yields these among its lines, in the provider's order: a deletion removes what
    was loaded or read before it, and lines of the same journal that come after it are its new version."""

    source_journal_id: str | None = None
    source_line_id: str | None = None

    def covers(self, source_line_id: str, source_journal_id: str) -> bool:
        return source_line_id == self.source_line_id or source_journal_id == self.source_journal_id


@dataclass(slots=True, frozen=True)
class ReplacedRange:
    """The entity's ledger dated `start`..`end` (both included) is exactly the lines `source_line_ids`, as
    the provider reads now: a loaded line dated in the range that is not among them is gone, whatever said
    so or not (a deletion a change feed can no longer report, a line an edit dropped). A ledger-lines stream
    that re-reads whole date ranges yields one per range among its lines, and every line it yields dated in
    the range is among `source_line_ids`; the refresh removes the others in the batch that carries it."""

    start: date
    end: date
    source_line_ids: frozenset[str]

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a range that ends ({self.end}) before it starts ({self.start})")


@dataclass(slots=True)
class TrialBalanceRow:
    """One account's row of the provider's trial balance at `period_end` (a month end).

    What the columns mean, whatever the provider calls them (amounts are nets, debit positive):
    - `month_movement`: the account's net movement in the month that ends at `period_end`, where the
      report shows it (a month's Debit/Credit columns); None where it does not.
    - `year_to_date`, by `account_class`: for revenue and expense accounts, the net movement from the
      start of the financial year that `period_end` falls in; for asset, liability and equity accounts,
      the balance at `period_end`, every prior year included (for retained earnings, prior years' profit
      too, which no journal posts).
    Reconciliation compares each month a run touched with `month_movement`, or, where that is None, with
    the difference of `year_to_date` from the month before, read per class. `debit` and `credit` are the
    report's own columns, kept as shown for people to read.
    """

    period_end: date
    account_id: str
    account_code: str | None
    account_name: str
    year_to_date: Decimal
    debit: Decimal
    credit: Decimal
    month_movement: Decimal | None = None
    account_class: str | None = None  # one of ACCOUNT_CLASSES; None: the loaded chart says
