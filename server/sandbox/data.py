"""Deterministic demo organisations: a small-business chart, tracking, currencies and three years of journals.

Everything derives from (seed, organisation index), so a given config always produces the same
ids, amounts and dates (dates are relative to the end of the history, which defaults to today).
"""
from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Callable

from server.sandbox.dialects import dialect_named
from server.sandbox.ledger import (
    Account,
    IdFactory,
    Journal,
    Line,
    Organisation,
    Profile,
    TaxRate,
    TrackingCategory,
    TrackingOption,
)
from server.sandbox.units import DAY_MS, ms_day

HISTORY_DAYS = 3 * 365

PROFILES = [
    Profile("AU", "Demo Company (AU)", "AUD", ["USD", "NZD", "EUR"], "AU", "AUSEASTERNSTANDARDTIME", 30, 6,
            TaxRate("OUTPUT", "GST on Income", 1000), TaxRate("INPUT", "GST on Expenses", 1000),
            TaxRate("BASEXCLUDED", "BAS Excluded", 0), "GST", "PAYG Withholdings Payable",
            "Superannuation Payable", ["Sydney", "Melbourne", "Brisbane", "Perth"]),
    Profile("GB", "Demo Company (UK)", "GBP", ["EUR", "USD"], "UK", "GMTSTANDARDTIME", 31, 3,
            TaxRate("OUTPUT2", "20% (VAT on Income)", 2000), TaxRate("INPUT2", "20% (VAT on Expenses)", 2000),
            TaxRate("NONE", "No VAT", 0), "VAT", "PAYE Payable", "Pension Payable",
            ["London", "Manchester", "Edinburgh", "Bristol"]),
    Profile("US", "Demo Company (US)", "USD", ["CAD", "EUR", "GBP", "MXN"], "US", "EASTERNSTANDARDTIME", 31, 12,
            TaxRate("OUTPUT", "Sales Tax on Sales", 825), TaxRate("NONE", "Tax Exempt", 0),
            TaxRate("NONE", "Tax Exempt", 0), "Sales Tax", "Payroll Tax Payable", "401(k) Payable",
            ["East", "West", "Central", "South"]),
    Profile("NZ", "Demo Company (NZ)", "NZD", ["AUD", "USD"], "NZ", "NEWZEALANDSTANDARDTIME", 31, 3,
            TaxRate("OUTPUT2", "GST on Income", 1500), TaxRate("INPUT2", "GST on Expenses", 1500),
            TaxRate("NONE", "No GST", 0), "GST", "PAYE Payable", "KiwiSaver Payable",
            ["Auckland", "Wellington", "Christchurch"]),
]

CURRENCY_NAMES = {
    "AUD": "Australian Dollar", "CAD": "Canadian Dollar", "EUR": "Euro", "GBP": "British Pound",
    "MXN": "Mexican Peso", "NZD": "New Zealand Dollar", "USD": "United States Dollar",
}

# code, name, account type, system account; "{tax}", "{withholding}", "{pension}" come from the profile.
CHART = [
    ("090", "Business Bank Account", "BANK", ""),
    ("091", "Business Savings Account", "BANK", ""),
    ("610", "Accounts Receivable", "CURRENT", "DEBTORS"),
    ("620", "Prepayments", "PREPAYMENT", ""),
    ("630", "Inventory", "INVENTORY", ""),
    ("710", "Office Equipment", "FIXED", ""),
    ("711", "Less Accumulated Depreciation on Office Equipment", "FIXED", ""),
    ("720", "Computer Equipment", "FIXED", ""),
    ("721", "Less Accumulated Depreciation on Computer Equipment", "FIXED", ""),
    ("800", "Accounts Payable", "CURRLIAB", "CREDITORS"),
    ("801", "Unpaid Expense Claims", "CURRLIAB", "UNPAIDEXPCLM"),
    ("820", "{tax}", "CURRLIAB", "GST"),
    ("825", "{withholding}", "CURRLIAB", ""),
    ("826", "{pension}", "CURRLIAB", ""),
    ("830", "Income Tax Payable", "CURRLIAB", ""),
    ("840", "Historical Adjustment", "CURRLIAB", "HISTORICAL"),
    ("860", "Rounding", "CURRLIAB", "ROUNDING"),
    ("877", "Tracking Transfers", "CURRLIAB", "TRACKINGTRANSFERS"),
    ("880", "Owner A Drawings", "CURRLIAB", ""),
    ("900", "Loan", "TERMLIAB", ""),
    ("960", "Retained Earnings", "EQUITY", "RETAINEDEARNINGS"),
    ("970", "Owner A Share Capital", "EQUITY", ""),
    ("200", "Sales", "REVENUE", ""),
    ("210", "Consulting Revenue", "SALES", ""),
    ("260", "Other Revenue", "REVENUE", ""),
    ("270", "Interest Income", "OTHERINCOME", ""),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", ""),
    ("320", "Subcontractors", "DIRECTCOSTS", ""),
    ("400", "Advertising", "EXPENSE", ""),
    ("404", "Bank Fees", "EXPENSE", ""),
    ("408", "Cleaning", "EXPENSE", ""),
    ("412", "Consulting & Accounting", "EXPENSE", ""),
    ("416", "Depreciation", "DEPRECIATN", ""),
    ("420", "Entertainment", "EXPENSE", ""),
    ("425", "Freight & Courier", "EXPENSE", ""),
    ("429", "General Expenses", "EXPENSE", ""),
    ("433", "Insurance", "EXPENSE", ""),
    ("437", "Interest Expense", "EXPENSE", ""),
    ("441", "Legal Expenses", "EXPENSE", ""),
    ("445", "Light, Power, Heating", "OVERHEADS", ""),
    ("449", "Motor Vehicle Expenses", "EXPENSE", ""),
    ("453", "Office Expenses", "EXPENSE", ""),
    ("455", "Postage (old)", "EXPENSE", ""),
    ("461", "Printing & Stationery", "EXPENSE", ""),
    ("469", "Rent", "OVERHEADS", ""),
    ("473", "Repairs and Maintenance", "EXPENSE", ""),
    ("477", "Wages and Salaries", "EXPENSE", ""),
    ("478", "Superannuation", "EXPENSE", ""),
    ("485", "Subscriptions", "EXPENSE", ""),
    ("489", "Telephone & Internet", "EXPENSE", ""),
    ("493", "Travel - National", "EXPENSE", ""),
    ("494", "Travel - International", "EXPENSE", ""),
    ("505", "Income Tax Expense", "EXPENSE", ""),
]
ARCHIVED_CODES = {"455"}
REVENUE_CODES = ["200", "200", "210", "260"]
PURCHASE_CODES = ["310", "320", "400", "404", "408", "412", "420", "425", "429", "433", "441", "445",
                  "449", "453", "461", "469", "473", "485", "489", "493", "494"]
DEPARTMENTS = ["Sales", "Marketing", "Operations", "Finance", "Engineering"]
PRODUCTS = ["Annual subscription", "Implementation services", "Training day", "Support plan",
            "Hardware bundle", "Advisory retainer", "Licence renewal", "Custom report pack"]
SUPPLIERS = ["Office supplies", "Cloud hosting", "Courier charges", "Legal review", "Electricity",
             "Team lunch", "Flights", "Car servicing", "Printer toner", "Software subscription"]
CUSTOMERS = ["Acme Tires", "Basket Case", "Bayside Club", "Boom FM", "City Limousines", "Hamilton Smith",
             "Marine Systems", "Port & Philip Freight", "Rex Media Group", "Ridgeway University"]


def tenant_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"ledgerpane-sandbox:{seed}:{index}")


def generate_organisation(index: int, seed: int, lines: int, end_ms: int,
                          render: Callable[[Journal], bytes] | None = None) -> Organisation:
    """Organisation `index` of a login, with exactly `lines` journal lines ending at `end_ms`, its journals
    rendered by `render` (the default dialect's, unless told)."""
    rng = tenant_rng(seed, index)
    profile = PROFILES[index % len(PROFILES)]
    if index >= len(PROFILES):
        profile = Profile(**{**profile.__dict__, "name": f"{profile.name} {index // len(PROFILES) + 1}"})
    tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    start_ms = end_ms - HISTORY_DAYS * DAY_MS
    organisation = Organisation(tenant_id, profile, IdFactory(rng.getrandbits(60)), start_ms - 30 * DAY_MS,
                                render or dialect_named(None).render_journal)
    _add_chart(organisation, start_ms)
    _add_tracking(organisation)
    _add_journals(organisation, rng, lines, start_ms, end_ms)
    return organisation


def currencies(profile: Profile) -> list[tuple[str, str]]:
    codes = [profile.base_currency, *profile.foreign_currencies]
    return [(code, CURRENCY_NAMES[code]) for code in codes]


def _add_chart(organisation: Organisation, updated_ms: int) -> None:
    profile = organisation.profile
    names = {"{tax}": profile.tax_account_name, "{withholding}": profile.withholding_account_name,
             "{pension}": profile.pension_account_name}
    for code, name, account_type, system_account in CHART:
        if code in REVENUE_CODES:
            tax_type = profile.sales_tax.tax_type
        elif code in PURCHASE_CODES:
            tax_type = profile.purchase_tax.tax_type
        else:
            tax_type = profile.no_tax.tax_type
        account = Account(organisation.ids.next(), code, names.get(name, name), account_type,
                          "ARCHIVED" if code in ARCHIVED_CODES else "ACTIVE", tax_type, system_account,
                          updated_ms)
        account.refresh_line_fields()
        organisation.accounts.append(account)


def _add_tracking(organisation: Organisation) -> None:
    ids = organisation.ids
    region = TrackingCategory(ids.next(), "Region",
                              [TrackingOption(ids.next(), name) for name in organisation.profile.regions])
    department = TrackingCategory(ids.next(), "Department",
                                  [TrackingOption(ids.next(), name) for name in DEPARTMENTS])
    # An option retired in the first year: old journals still carry it (includeArchived matters).
    department.options.append(TrackingOption(ids.next(), "Legacy Projects", "ARCHIVED"))
    organisation.tracking = [region, department]


class _Drafter:
    """Draws realistic balanced transactions; each method returns (SourceType, Reference, lines)."""

    def __init__(self, organisation: Organisation, rng: random.Random, legacy_until: int) -> None:
        self.rng = rng
        self.ids = organisation.ids
        self.profile = organisation.profile
        self.account = {account.code: account for account in organisation.accounts}
        region, department = organisation.tracking
        self.region_tags = [region.line_tag(option) for option in region.options]
        self.department_tags = [department.line_tag(o) for o in department.options if o.status == "ACTIVE"]
        self.legacy_tags = [department.line_tag(o) for o in department.options if o.status != "ACTIVE"]
        self.legacy_until = legacy_until
        self.count = 0
        self.open_receivables: deque[tuple[int, str]] = deque()
        self.open_payables: deque[tuple[int, str]] = deque()
        self.invoice_number = 0

    def amount(self, low_cents: int, high_cents: int) -> int:
        return int(math.exp(self.rng.uniform(math.log(low_cents), math.log(high_cents))))

    def tags(self) -> tuple[dict, ...]:
        rng = self.rng
        chosen = []
        if rng.random() < 0.75:
            chosen.append(rng.choice(self.region_tags))
        if rng.random() < 0.6:
            pool = self.department_tags
            if self.count < self.legacy_until and rng.random() < 0.3:
                pool = self.legacy_tags
            chosen.append(rng.choice(pool))
        return tuple(chosen)

    def line(self, code: str, net: int, description: str = "", tax: int = 0,
             rate: TaxRate | None = None, tags: tuple[dict, ...] = ()) -> Line:
        return Line(self.ids.next(), self.account[code], description, net, tax, rate, tags)

    def sales_invoice(self) -> tuple[str, str, list[Line]]:
        rng, rate = self.rng, self.profile.sales_tax
        self.invoice_number += 1
        reference = f"INV-{self.invoice_number:05d}"
        customer = rng.choice(CUSTOMERS)
        lines, total_net, total_tax = [], 0, 0
        for _ in range(rng.choice((1, 1, 2, 3))):
            net = self.amount(5_000, 800_000)
            tax = rate.on(net)
            lines.append(self.line(rng.choice(REVENUE_CODES), -net, rng.choice(PRODUCTS), -tax, rate,
                                   self.tags()))
            total_net, total_tax = total_net + net, total_tax + tax
        lines.append(self.line("610", total_net + total_tax, customer))
        if total_tax:
            lines.append(self.line("820", -total_tax))
        self.open_receivables.append((total_net + total_tax, reference))
        return "ACCREC", reference, lines

    def bill(self) -> tuple[str, str, list[Line]]:
        rng, rate = self.rng, self.profile.purchase_tax
        reference = f"BILL-{rng.randrange(10_000, 99_999)}"
        lines, total_net, total_tax = [], 0, 0
        for _ in range(rng.choice((1, 1, 2, 3))):
            net = self.amount(2_000, 300_000)
            tax = rate.on(net)
            lines.append(self.line(rng.choice(PURCHASE_CODES), net, rng.choice(SUPPLIERS), tax, rate,
                                   self.tags()))
            total_net, total_tax = total_net + net, total_tax + tax
        lines.append(self.line("800", -(total_net + total_tax)))
        if total_tax:
            lines.append(self.line("820", total_tax))
        self.open_payables.append((total_net + total_tax, reference))
        return "ACCPAY", reference, lines

    def receive_payment(self) -> tuple[str, str, list[Line]]:
        if not self.open_receivables:
            return self.sales_invoice()
        amount, invoice = self.open_receivables.popleft()
        return "ACCRECPAYMENT", f"Payment: {invoice}", [
            self.line("090", amount), self.line("610", -amount)]

    def pay_bill(self) -> tuple[str, str, list[Line]]:
        if not self.open_payables:
            return self.bill()
        amount, bill = self.open_payables.popleft()
        return "ACCPAYPAYMENT", f"Payment: {bill}", [self.line("800", amount), self.line("090", -amount)]

    def spend_money(self) -> tuple[str, str, list[Line]]:
        rng, rate = self.rng, self.profile.purchase_tax
        net = self.amount(1_000, 80_000)
        tax = rate.on(net)
        lines = [self.line(rng.choice(PURCHASE_CODES), net, rng.choice(SUPPLIERS), tax, rate, self.tags()),
                 self.line("090", -(net + tax))]
        if tax:
            lines.append(self.line("820", tax))
        return "CASHPAID", "Card payment", lines

    def receive_money(self) -> tuple[str, str, list[Line]]:
        amount = self.amount(500, 50_000)
        code = self.rng.choice(("270", "260"))
        return "CASHREC", "Bank deposit", [
            self.line("090", amount),
            self.line(code, -amount, "Interest" if code == "270" else "Sundry income", 0,
                      self.profile.no_tax, self.tags())]

    def payroll(self) -> tuple[str, str, list[Line]]:
        wages = self.amount(400_000, 2_500_000)
        withheld, pension = wages * 2 // 10, wages * 11 // 100
        tags = self.tags()
        return "PAYSLIP", "Payroll", [
            self.line("477", wages, "Gross wages", 0, self.profile.no_tax, tags),
            self.line("478", pension, "Employer contribution", 0, self.profile.no_tax, tags),
            self.line("825", -withheld), self.line("826", -pension),
            self.line("090", -(wages - withheld))]

    def depreciation(self) -> tuple[str, str, list[Line]]:
        amount = self.amount(5_000, 200_000)
        asset = self.rng.choice(("711", "721"))
        return "MANJOURNAL", "Monthly depreciation", [
            self.line("416", amount, "Depreciation", 0, self.profile.no_tax, self.tags()),
            self.line(asset, -amount, "Depreciation")]

    def transfer(self) -> tuple[str, str, list[Line]]:
        amount = self.amount(10_000, 1_000_000)
        return "TRANSFER", "Transfer to savings", [self.line("091", amount), self.line("090", -amount)]

    def accrual(self) -> tuple[str, str, list[Line]]:
        amount = self.amount(5_000, 100_000)
        return "MANJOURNAL", "Accrued expenses", [
            self.line("412", amount, "Audit fee accrual", 0, self.profile.no_tax, self.tags()),
            self.line("830", -(amount // 3)), self.line("800", -(amount - amount // 3))]

    def draft(self, remaining: int) -> tuple[str, str, list[Line]]:
        """A transaction that keeps the total line count exact: never leave a single line over."""
        self.count += 1
        if remaining <= 3:
            return self.transfer() if remaining == 2 else self.accrual()
        maker = self.rng.choices(self.makers, self.weights)[0]
        source_type, reference, lines = maker()
        if len(lines) > remaining or remaining - len(lines) == 1:
            return self.transfer()
        return source_type, reference, lines

    @property
    def makers(self) -> list[Callable[[], tuple[str, str, list[Line]]]]:
        return [self.sales_invoice, self.bill, self.receive_payment, self.pay_bill, self.spend_money,
                self.receive_money, self.payroll, self.depreciation, self.transfer]

    weights = [30, 25, 15, 12, 8, 3, 3, 2, 2]


def _add_journals(organisation: Organisation, rng: random.Random, lines: int, start_ms: int,
                  end_ms: int) -> None:
    if lines < 2:
        return
    drafter = _Drafter(organisation, rng, legacy_until=lines // 12)
    drafts = []
    remaining = lines
    while remaining > 0:
        draft = drafter.draft(remaining)
        drafts.append(draft)
        remaining -= len(draft[2])
    # Spread the journals evenly over the history, in creation order; some are back-dated a few
    # days (entered late), as bookkeepers do.
    slot = (end_ms - start_ms) / len(drafts)
    for position, (source_type, reference, journal_lines) in enumerate(drafts):
        created_ms = start_ms + int(slot * (position + rng.random() * 0.9))
        day = ms_day(created_ms)
        if rng.random() < 0.15:
            day = max(ms_day(start_ms), day - rng.randrange(1, 11))
        organisation.append(day, created_ms, reference, drafter.ids.next(), source_type, journal_lines)


def draft_journals(organisation: Organisation, count: int, seed: int) -> list[tuple[str, str, list[Line]]]:
    """`count` more realistic transactions for an organisation (the admin API's "generate")."""
    rng = random.Random(f"ledgerpane-sandbox:{seed}:{organisation.tenant_id}:{len(organisation.journals)}")
    drafter = _Drafter(organisation, rng, legacy_until=0)
    return [drafter.draft(remaining=1_000) for _ in range(count)]
