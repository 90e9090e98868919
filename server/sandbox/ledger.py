"""One emulated organisation: chart, tracking, currencies and its append-only journal.

Journals are rendered to bytes once, when posted, by the sandbox's dialect (account names are a snapshot at
posting, as in a general ledger), so serving a page is joining pre-made bytes. Amounts live as integer cents.
"""
from __future__ import annotations

import bisect
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

CLASS_OF_TYPE = {
    "BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET", "INVENTORY": "ASSET", "PREPAYMENT": "ASSET",
    "NONCURRENT": "ASSET", "CURRLIAB": "LIABILITY", "TERMLIAB": "LIABILITY", "LIABILITY": "LIABILITY",
    "PAYG": "LIABILITY", "EQUITY": "EQUITY", "REVENUE": "REVENUE", "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE", "DIRECTCOSTS": "EXPENSE", "EXPENSE": "EXPENSE", "OVERHEADS": "EXPENSE",
    "DEPRECIATN": "EXPENSE",
}
PAGE_SIZE = 100


class LedgerError(ValueError):
    """A request the organisation refuses (unknown account, unbalanced journal, ...)."""


@dataclass(slots=True)
class Account:
    account_id: str
    code: str
    name: str
    type: str
    status: str
    tax_type: str
    system_account: str
    updated_ms: int
    # The four journal-line fields, rebuilt on rename so later journals carry the new name.
    line_fields: dict = field(default_factory=dict)

    @property
    def account_class(self) -> str:
        return CLASS_OF_TYPE[self.type]

    def refresh_line_fields(self) -> None:
        self.line_fields = {"AccountID": self.account_id, "AccountCode": self.code,
                            "AccountType": self.type, "AccountName": self.name}


@dataclass(slots=True)
class TrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass(slots=True)
class TrackingCategory:
    category_id: str
    name: str
    options: list[TrackingOption]
    status: str = "ACTIVE"

    def line_tag(self, option: TrackingOption) -> dict:
        """How a journal line names this category and option."""
        return {"Name": self.name, "Option": option.name, "TrackingCategoryID": self.category_id,
                "TrackingOptionID": option.option_id}


class TaxRate(NamedTuple):
    tax_type: str
    name: str
    basis_points: int

    def on(self, net_cents: int) -> int:
        """Tax on a net amount, rounded half away from zero to the cent."""
        tax = (abs(net_cents) * self.basis_points + 5000) // 10_000
        return -tax if net_cents < 0 else tax


class Line(NamedTuple):
    line_id: str
    account: Account
    description: str
    net: int
    tax: int
    tax_rate: TaxRate | None
    tracking: tuple[dict, ...]


@dataclass(slots=True)
class Journal:
    number: int
    journal_id: str
    day: int
    created_ms: int
    reference: str
    source_id: str
    source_type: str
    lines: list[Line]
    payload: bytes = b""
    reversed_by: int | None = None
    deleted_ms: int | None = None  # deleted outright (providers that allow it); its movements are gone


class IdFactory:
    """UUID-shaped ids, unique per organisation and reproducible from the seed, cheaply."""

    _MASK = 2**60 - 1

    def __init__(self, bits: int) -> None:
        hexes = f"{bits & (2**60 - 1):015x}"
        self._prefix = f"{hexes[:8]}-{hexes[8:12]}-4{hexes[12:15]}-a"
        self._counter = itertools.count(1)  # next() on it is atomic under the GIL

    def next(self) -> str:
        count = next(self._counter)
        # An odd multiplier is a bijection modulo 2**60: unique, and not visibly sequential.
        mixed = (count * 0x9E3779B97F4A7C15) & self._MASK
        return f"{self._prefix}{mixed >> 48:03x}-{mixed & 0xFFFFFFFFFFFF:012x}"


@dataclass
class Profile:
    """What differs between the demo organisations (country, currency, tax, regions)."""

    country: str
    name: str
    base_currency: str
    foreign_currencies: list[str]
    version: str
    timezone: str
    year_end_day: int
    year_end_month: int
    sales_tax: TaxRate
    purchase_tax: TaxRate
    no_tax: TaxRate
    tax_account_name: str
    withholding_account_name: str
    pension_account_name: str
    regions: list[str]


class Organisation:
    """A tenant's data. Mutations take the lock; readers take it too, briefly, for a consistent view."""

    def __init__(self, tenant_id: str, profile: Profile, ids: IdFactory, created_ms: int,
                 render: Callable[[Journal], bytes]) -> None:
        self.tenant_id = tenant_id
        self.render = render  # a journal in the words of the dialect that serves it
        self.profile = profile
        self.ids = ids
        self.created_ms = created_ms
        self.accounts: list[Account] = []
        self.tracking: list[TrackingCategory] = []
        self.journals: list[Journal] = []
        self._created: list[int] = []  # CreatedDateUTC per journal, non-decreasing, for bisect
        # Ground truth: cents per (AccountID, ordinal day).
        self.movements: dict[tuple[str, int], int] = defaultdict(int)
        self._running: tuple[int, list[int], list[dict[str, int]]] | None = None  # see _running_totals
        self.line_count = 0
        self.lock = threading.RLock()
        # Fault injection: (account id, first day of the month as an ordinal, cents) that the trial balance
        # report adds to what the journals say, so tests can see reconciliation catch a provider that disagrees.
        self.report_adjustments: list[tuple[str, int, int]] = []
        # Endpoints the provider refuses for this organisation although the grant reaches it (a plan tier, an
        # approval the app lacks): the dialect answers them with its refusal.
        self.refused_endpoints: set[str] = set()

    @property
    def name(self) -> str:
        return self.profile.name

    # -- reading -------------------------------------------------------------------------------

    def account(self, key: str) -> Account:
        for account in self.accounts:
            if key in (account.account_id, account.code):
                return account
        raise LedgerError(f"no account {key!r}")

    def category(self, key: str) -> TrackingCategory:
        for category in self.tracking:
            if key.lower() in (category.category_id, category.name.lower()):
                return category
        raise LedgerError(f"no tracking category {key!r}")

    def journal(self, key: str) -> Journal:
        with self.lock:
            if key.isdigit() and 0 < int(key) <= len(self.journals):
                return self.journals[int(key) - 1]
            for journal in self.journals:
                if journal.journal_id == key:
                    return journal
        raise LedgerError(f"no journal {key!r}")

    def journal_page(self, offset: int, modified_since_ms: int | None) -> list[bytes]:
        """Journals numbered above `offset` (created after the date, if given), the first 100 of them."""
        with self.lock:
            start = max(offset, 0)  # JournalNumber n sits at index n - 1
            if modified_since_ms is not None:
                start = max(start, bisect.bisect_right(self._created, modified_since_ms))
            return [journal.payload for journal in self.journals[start:start + PAGE_SIZE]]

    # -- writing -------------------------------------------------------------------------------

    def append(self, day: int, created_ms: int, reference: str, source_id: str, source_type: str,
               lines: list[Line]) -> Journal:
        """Post a balanced journal with the next JournalNumber."""
        if sum(line.net for line in lines) != 0:
            raise LedgerError("journal lines do not balance: NetAmounts must sum to zero")
        if len(lines) < 2:
            raise LedgerError("a journal needs at least two lines")
        with self.lock:
            if self._created:
                created_ms = max(created_ms, self._created[-1])  # CreatedDateUTC never goes back
            journal = Journal(len(self.journals) + 1, self.ids.next(), day, created_ms, reference,
                              source_id, source_type, lines)
            journal.payload = self.render(journal)
            self.journals.append(journal)
            self._created.append(created_ms)
            movements = self.movements
            for line in lines:
                movements[(line.account.account_id, day)] += line.net
            self.line_count += len(lines)
            return journal

    def reverse(self, key: str, now_ms: int) -> Journal:
        """Voiding a transaction posts a new journal with every line negated, same date and source."""
        with self.lock:
            original = self.journal(key)
            if original.reversed_by is not None:
                raise LedgerError(f"journal {original.number} is already voided")
            lines = [line._replace(line_id=self.ids.next(), net=-line.net, tax=-line.tax)
                     for line in original.lines]
            reversal = self.append(original.day, now_ms, original.reference, original.source_id,
                                   original.source_type, lines)
            original.reversed_by = reversal.number
            return reversal

    def delete(self, key: str, now_ms: int) -> Journal:
        """Delete a transaction outright, as some providers allow: its movements leave the ground truth and its
        number is not reused."""
        with self.lock:
            journal = self.journal(key)
            if journal.deleted_ms is not None:
                raise LedgerError(f"journal {journal.number} is already deleted")
            journal.deleted_ms = now_ms
            for line in journal.lines:
                self.movements[(line.account.account_id, journal.day)] -= line.net
            self.line_count -= len(journal.lines)
            self._running = None
            return journal

    def add_tracking_option(self, category_key: str, name: str) -> TrackingOption:
        with self.lock:
            category = self.category(category_key)
            if any(option.name.lower() == name.lower() for option in category.options):
                raise LedgerError(f"option {name!r} already exists in {category.name}")
            option = TrackingOption(self.ids.next(), name)
            category.options.append(option)
            return option

    def update_account(self, key: str, now_ms: int, name: str | None = None,
                       status: str | None = None) -> Account:
        with self.lock:
            account = self.account(key)
            if status is not None:
                if status not in ("ACTIVE", "ARCHIVED"):
                    raise LedgerError("status must be ACTIVE or ARCHIVED")
                account.status = status
            if name is not None:
                if not name.strip():
                    raise LedgerError("name must not be empty")
                account.name = name
                account.refresh_line_fields()
            account.updated_ms = now_ms
            return account

    # -- ground truth --------------------------------------------------------------------------

    def net_movements(self, period: str | None = None) -> dict[tuple[str, str], int]:
        """Cents per (AccountID, "YYYY-MM") from every journal posted, reversals included."""
        totals: dict[tuple[str, str], int] = defaultdict(int)
        with self.lock:
            items = list(self.movements.items())
        month_of: dict[int, str] = {}
        for (account_id, day), cents in items:
            month = month_of.get(day)
            if month is None:
                month = month_of[day] = date.fromordinal(day).strftime("%Y-%m")
            if period is None or month == period:
                totals[(account_id, month)] += cents
        return dict(totals)

    def balances(self, from_day: int, to_day: int) -> dict[str, int]:
        """Cents per AccountID moved between two ordinal days, both included: the difference of two
        running totals, so a trial balance costs the chart, not the history."""
        days, running = self._running_totals()
        through_to = running[bisect.bisect_right(days, to_day) - 1] if days and days[0] <= to_day else {}
        before = bisect.bisect_right(days, from_day - 1) - 1
        through_before = running[before] if before >= 0 else {}
        return {a: cents - through_before.get(a, 0) for a, cents in through_to.items()
                if cents != through_before.get(a, 0)}

    def _running_totals(self) -> tuple[list[int], list[dict[str, int]]]:
        """Days with movements, sorted, and per such day every account's total through it; rebuilt only
        after something was posted."""
        with self.lock:
            if self._running is None or self._running[0] != self.line_count:
                by_day: dict[int, list[tuple[str, int]]] = defaultdict(list)
                for (account_id, day), cents in self.movements.items():
                    by_day[day].append((account_id, cents))
                days, running, totals = sorted(by_day), [], {}
                for day in days:
                    totals = dict(totals)
                    for account_id, cents in by_day[day]:
                        totals[account_id] = totals.get(account_id, 0) + cents
                    running.append(totals)
                self._running = (self.line_count, days, running)
            return self._running[1], self._running[2]
