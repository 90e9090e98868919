"""QuickBooks Online: declarations plus the hooks where Intuit's API is odd (one company per consent, the query
language, change data capture, Fault bodies). Facts from research/providers.md §2 and wave2.md §6.

The ledger comes from month-sliced GeneralLedger reports, not from the posting entities. A company's ledger is
posted by a dozen entities (JournalEntry, Invoice, Bill, Payment, BillPayment, Purchase, Deposit, Transfer,
SalesReceipt, CreditMemo, VendorCredit, RefundReceipt...), each with its own posting rules (items whose income
account is on the Item, tax lines, the receivable or payable on the header...): rebuilding the ledger from them
is error-prone, and duplicated lines in public connectors (providers.md §8.7: "prefer the GeneralLedger /
TransactionList report for posting-level truth"). The report shows each posting as QuickBooks posted it, one row
per line with its account, its debit or credit and its transaction's type and id (§2.4); a month per request keeps
ranges well under Intuit's six months.

What changed comes from change data capture over those entities (§2.5; the only place QuickBooks reports
deletions): a deleted transaction is a Deletion; a changed one is re-read from the report for the month of its
TxnDate, as a Deletion (an edit may drop lines) followed by its rows. Beyond CDC's 30 days, or when a CDC answer is
full (1,000 objects, and CDC has no end bound to shorten the window with), every month is read again, each report
as a ReplacedRange: what was loaded for that month and the report no longer shows goes, so a transaction deleted
during a gap CDC cannot look back over (a customer who comes back after months) goes too. Intuit meters reads, so
such a read's cursor says which month comes next (ReadUnderWay): handed to the ledger reader's helper process, or
taken up after a failure or a kill, it goes on from there instead of reading again what it read, once CDC has said
what changed meanwhile in the months it read. The trial balance, what a report is also good at, is read as a
report.
"""
from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import requests

from server.connectors.framework.auth import Consent
from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import (
    AuthExpired,
    BadResponse,
    CompanyDisconnected,
    NotEntitled,
    ProviderUnavailable,
    RequestRejected,
)
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, Response, TokenSource, redact_url
from server.connectors.framework.oauth import OAuthClient, OAuthEndpoints
from server.connectors.framework.paginators import EachOption, Options, PageRequest, QueryText
from server.connectors.framework.records import (
    Account,
    CompanyProfile,
    Currency,
    Deletion,
    Dimension,
    DimensionMember,
    DimensionValue,
    LedgerLine,
    ReplacedRange,
    Role,
    TrialBalanceRow,
)
from server.connectors.framework.streams import Incremental, Page, SourceField, Stream

SCOPES = ("com.intuit.quickbooks.accounting", "openid", "email")  # there is no read-only accounting scope (§2.1)
MINOR_VERSION = "75"  # every request runs as 75 since August 2025; we say so on each (wave2.md §6)
# 500 requests a minute and 10 at once per realm (§2.6): a little under both.
QUICKBOOKS_LIMITS = RateLimits(per_window=480, window_seconds=60.0, concurrent=10)
CDC_WINDOW = timedelta(days=30)  # CDC looks back at most this far (§2.5)
CDC_MARGIN = timedelta(days=1)  # a cursor this close to the window's edge re-reads everything instead
CDC_MAX_OBJECTS = 1000  # a CDC answer holding this many may have left changes out: not a safe checkpoint
CLASSES = {"Asset": "asset", "Liability": "liability", "Equity": "equity", "Revenue": "revenue",
           "Expense": "expense"}
MONTHS = {name: number for number, name in enumerate(calendar.month_name) if name}


@dataclass(frozen=True)
class QuickBooksEndpoints:
    authorize_url: str
    token_url: str
    revocation_url: str
    api_base: str  # .../v3/company; the realm follows
    issuer: str

    @classmethod
    def real(cls, sandbox_company: bool = False) -> QuickBooksEndpoints:
        """Intuit's endpoints (discovery document, §2.1); `sandbox_company`: a developer's sandbox company."""
        host = "sandbox-quickbooks.api.intuit.com" if sandbox_company else "quickbooks.api.intuit.com"
        return cls(authorize_url="https://appcenter.intuit.com/connect/oauth2",
                   token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
                   revocation_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
                   api_base=f"https://{host}/v3/company", issuer="https://oauth.platform.intuit.com/op/v1")

    @classmethod
    def sandbox(cls, root: str) -> QuickBooksEndpoints:
        """The built-in emulator answers the same API under `<root>/quickbooks/`."""
        base = root.rstrip("/") + "/quickbooks"
        return cls(authorize_url=f"{base}/connect/oauth2", token_url=f"{base}/oauth2/v1/tokens/bearer",
                   revocation_url=f"{base}/oauth2/v2/tokens/revoke", api_base=f"{base}/v3/company",
                   issuer=f"{base}/op/v1")


def parse_instant(value: str | None) -> datetime | None:
    """Intuit's `2015-06-26T10:58:26-07:00` -> aware UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


READING_FROM = " reading from "  # the ledger's cursor while every month is read: "<began> reading from <month>"


@dataclass(frozen=True)
class ReadUnderWay:
    """Where a read of every month stands: it began at `began` (its first report's time, the cursor once it
    ends) and `next_month` is the first month it has not read. It orders after every earlier instant and before
    `began` itself (the read finished), so the pipeline saves it over the cursor it replaces, saves the end over
    it, and does not rewind it (it is not an instant)."""

    began: datetime
    next_month: date

    def __lt__(self, other: object) -> bool:
        return _order(self) < _order(other)

    def __le__(self, other: object) -> bool:
        return _order(self) <= _order(other)

    def __gt__(self, other: object) -> bool:
        return _order(self) > _order(other)

    def __ge__(self, other: object) -> bool:
        return _order(self) >= _order(other)


def _order(position: object) -> tuple[datetime, date]:
    if isinstance(position, ReadUnderWay):
        return position.began, position.next_month
    if isinstance(position, datetime):
        return position, date.max  # a read finished then: after every month of one begun then
    raise TypeError(f"a ledger cursor cannot be compared with {position!r}")


def format_ledger_cursor(position: datetime | ReadUnderWay) -> str:
    if isinstance(position, ReadUnderWay):
        return f"{format_instant(position.began)}{READING_FROM}{position.next_month.isoformat()}"
    return format_instant(position)


def parse_ledger_cursor(cursor: str) -> datetime | ReadUnderWay | None:
    instant, _, month = cursor.partition(READING_FROM)
    began = parse_instant(instant)
    return ReadUnderWay(began, date.fromisoformat(month)) if month and began else began


def _fault(body: Any) -> dict[str, Any] | None:
    """The first Error of a Fault body (`{"Fault": {"Error": [...], "type"}}`, §2.6), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("Fault"), dict):
        return None
    errors = body["Fault"].get("Error") or [{}]
    return {**errors[0], "type": body["Fault"].get("type", "")}


class QuickBooksStream(Stream):
    """Every request says minorversion=75; a 200 answer can still hold a Fault (§2.6)."""

    params = {"minorversion": MINOR_VERSION}

    def extract_records(self, body: Any) -> list[Any]:
        fault = _fault(body)
        if fault is not None:
            raise RequestRejected(f"QuickBooks answered a {fault['type']}: "
                                  f"{fault.get('Detail') or fault.get('Message')}")
        return super().extract_records(body)


def _query(entity: str, where: str = "") -> QueryText:
    return QueryText(select=f"select * from {entity}{' where ' + where if where else ''}")


# -------------------------------------------------------------------------------------------- streams

class PreferencesStream(QuickBooksStream):
    """The company's home currency and fiscal year (Preferences, §2.3): what the pipeline needs of a company."""

    name = "preferences"
    path = "/{tenant}/preferences"
    role = Role.company_profile
    records_path = "Preferences"

    def extract_records(self, body: Any) -> list[Any]:
        if _fault(body):
            return super().extract_records(body)  # raises with the Fault's words
        return [body["Preferences"]] if isinstance(body, dict) and isinstance(body.get("Preferences"), dict) else []

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[CompanyProfile]:
        accounting, currency = raw.get("AccountingInfoPrefs") or {}, raw.get("CurrencyPrefs") or {}
        start = MONTHS.get(accounting.get("FiscalYearStartMonth") or "January", 1)
        end_month = 12 if start == 1 else start - 1
        yield CompanyProfile(source_id=str(raw.get("Id", "")), name="", base_currency=currency["HomeCurrency"]["value"],
                             year_end_month=end_month, year_end_day=calendar.monthrange(2001, end_month)[1])


class AccountsStream(QuickBooksStream):
    name = "accounts"
    path = "/{tenant}/query"
    role = Role.accounts
    records_path = "QueryResponse.Account"
    paginator = _query("Account", "Active IN (true, false)")  # inactive accounts too: old lines point at them
    # Beside AcctNum (the code), FullyQualifiedName (the name) and AccountType: the detail type QuickBooks
    # reports group by, whether it sits under a parent account, and the bookkeeper's note (absent when empty).
    fields = (SourceField("AccountSubType"), SourceField("SubAccount", "boolean"), SourceField("Description"))

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Account]:
        yield Account(source_id=raw["Id"], code=raw.get("AcctNum") or None,
                      name=raw.get("FullyQualifiedName") or raw["Name"], account_type=raw.get("AccountType"),
                      account_class=CLASSES.get(raw.get("Classification") or ""),
                      status="active" if raw.get("Active", True) else "archived",
                      currency=(raw.get("CurrencyRef") or {}).get("value"),
                      updated_at=parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime")),
                      source_fields={field.name: raw.get(field.name) for field in self.fields})


class _ListStream(QuickBooksStream):
    """A list entity (Class, Department) as one dimension whose members are its objects."""

    path = "/{tenant}/query"
    role = Role.dimensions
    entity: str

    def extract_records(self, body: Any) -> list[Any]:
        items = super().extract_records(body)
        return [items] if items else []

    def parse_record(self, raw: list[dict[str, Any]], request: PageRequest) -> Iterable[Dimension]:
        members = tuple(DimensionMember(source_id=o["Id"], name=o.get("FullyQualifiedName") or o["Name"],
                                        status="active" if o.get("Active", True) else "archived") for o in raw)
        yield Dimension(source_id=self.entity, name=self.entity, members=members)

    def cursor_after(self, cursor: str | None, raw_records: list[Any]) -> str | None:
        return cursor


class ClassesStream(_ListStream):
    name = "classes"
    entity = "Class"
    records_path = "QueryResponse.Class"
    paginator = _query("Class", "Active IN (true, false)")


class DepartmentsStream(_ListStream):
    name = "departments"
    entity = "Department"
    records_path = "QueryResponse.Department"
    paginator = _query("Department", "Active IN (true, false)")


class CurrenciesStream(QuickBooksStream):
    """The currencies a multicurrency company added (CompanyCurrency); the home currency is the profile's."""

    name = "currencies"
    path = "/{tenant}/query"
    role = Role.currencies
    records_path = "QueryResponse.CompanyCurrency"
    paginator = _query("CompanyCurrency")

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Currency]:
        yield Currency(code=raw["Code"], name=raw.get("Name"))


# Entities that post to the ledger, as CDC names them (§2.4, §2.5).
POSTING_ENTITIES = ("JournalEntry", "Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt", "Payment", "Bill",
                    "VendorCredit", "Purchase", "BillPayment", "Deposit", "Transfer")
# The GeneralLedger report's Transaction Type -> the entity that posted it (names as QuickBooks shows them).
ENTITY_OF_TYPE = {"Journal Entry": "JournalEntry", "Invoice": "Invoice", "Sales Receipt": "SalesReceipt",
                  "Credit Memo": "CreditMemo", "Refund": "RefundReceipt", "Payment": "Payment", "Bill": "Bill",
                  "Vendor Credit": "VendorCredit", "Expense": "Purchase", "Check": "Purchase",
                  "Cash Expense": "Purchase", "Credit Card Expense": "Purchase", "Credit Card Credit": "Purchase",
                  "Bill Payment (Check)": "BillPayment", "Bill Payment (Credit Card)": "BillPayment",
                  "Deposit": "Deposit", "Transfer": "Transfer"}
GL_COLUMNS = ("tx_date", "txn_type", "doc_num", "name", "memo", "klass_name", "dept_name", "debt_amt", "credit_amt")
EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)  # the slices before the books start and after today


def transaction_key(entity: str, transaction_id: str) -> str:
    """A transaction's journal id: ids are per entity at QuickBooks, so the entity comes with it."""
    return f"{entity}:{transaction_id}"


def month_slices(first: date, today: date) -> list[tuple[date, date]]:
    """One slice before the books start, one per month from then to today's month, the last open-ended (a
    transaction can be dated ahead)."""
    slices, month = [(EARLIEST, first.replace(day=1) - timedelta(days=1))], first.replace(day=1)
    while month <= today:
        following = (month + timedelta(days=32)).replace(day=1)
        slices.append((month, following - timedelta(days=1) if following <= today else LATEST))
        month = following
    return slices


class _ReportLine(LedgerLine, gc=False):
    """A GeneralLedger row as a line, with the report's columns it keeps (GeneralLedgerStream.fields)."""

    transaction_type: str | None = None
    number: str | None = None
    name: str | None = None


class GeneralLedgerReport:
    """One GeneralLedger report read as ledger lines: one section per account (nested for sub-accounts), one
    Data row per posting line; columns found by their ColKey. A line's id is its transaction and its place
    among that transaction's rows: a transaction is always read whole (it has one date), after its Deletion."""

    def __init__(self, body: dict[str, Any], members: Callable[[str, str], str | None]) -> None:
        columns = (body.get("Columns") or {}).get("Column") or []
        self.keys = [next((m.get("Value") for m in c.get("MetaData") or () if m.get("Name") == "ColKey"), None)
                     for c in columns]
        self.time = parse_instant((body.get("Header") or {}).get("Time"))
        self.members = members
        self.by_transaction: dict[str, list[LedgerLine]] = {}
        self._walk((body.get("Rows") or {}).get("Row") or [], None)

    def _walk(self, rows: list[dict[str, Any]], account: dict[str, Any] | None) -> None:
        for row in rows:
            if "Rows" in row or "Header" in row:
                header = ((row.get("Header") or {}).get("ColData") or [{}])[0]
                self._walk((row.get("Rows") or {}).get("Row") or [], header if header.get("id") else account)
            elif "ColData" in row and account is not None:
                self._line(dict(zip(self.keys, row["ColData"], strict=False)), account)

    def _line(self, cells: dict[str | None, dict[str, Any]], account: dict[str, Any]) -> None:
        kind = cells.get("txn_type") or {}
        if not kind.get("id"):  # a Beginning Balance row: no transaction behind it
            return
        amount = _money(cells.get("debt_amt")) - _money(cells.get("credit_amt"))
        if not amount:
            return
        journal = transaction_key(ENTITY_OF_TYPE.get(kind.get("value") or "", (kind.get("value") or "").replace(
            " ", "")), kind["id"])
        lines = self.by_transaction.setdefault(journal, [])
        values = []
        for dimension, key in (("Class", "klass_name"), ("Department", "dept_name")):
            cell = cells.get(key) or {}
            if cell.get("value"):
                values.append(DimensionValue(dimension_id=dimension, dimension_name=dimension,
                                             member_id=cell.get("id") or self.members(dimension, cell["value"]),
                                             member_name=cell["value"]))
        lines.append(_ReportLine(
            source_line_id=f"{journal}:{len(lines) + 1}", account_id=account["id"], amount=amount,
            date=date.fromisoformat(cells["tx_date"]["value"]), source_journal_id=journal,
            description=(cells.get("memo") or {}).get("value") or "", dimension_values=tuple(values),
            account_name=account.get("value"), transaction_type=kind.get("value") or None,
            number=(cells.get("doc_num") or {}).get("value") or None,
            name=(cells.get("name") or {}).get("value") or None))


def _money(cell: dict[str, Any] | None) -> Decimal:
    return Decimal((cell or {}).get("value") or "0")


class GeneralLedgerStream(QuickBooksStream):
    """The ledger (see the module's docstring); QuickBooksConnector.pull reads it, a report per month. Its
    cursor is an instant QuickBooks stamped an answer with (CDC's `changedSince` next time), or, while every
    month is being read, a ReadUnderWay."""

    name = "general_ledger"
    path = "/{tenant}/reports/GeneralLedger"
    role = Role.ledger_lines
    records_path = "Rows.Row"
    params = {"minorversion": MINOR_VERSION, "accounting_method": "Accrual", "columns": ",".join(GL_COLUMNS)}
    incremental = Incremental(key="time", value=lambda raw: None, encode=format_ledger_cursor,
                              decode=parse_ledger_cursor, send_as="paginator")
    reports_deletions = True
    # The report's columns a finance user reads beside the memo (the description) and the amounts, under their
    # titles: what posted the line (Invoice, Bill, Expense...), its number, and the customer, vendor or employee.
    fields = (SourceField("Transaction Type", attribute="transaction_type"), SourceField("Num", attribute="number"),
              SourceField("Name", attribute="name"))


class TrialBalanceStream(QuickBooksStream):
    """`reports/TrialBalance?end_date=` once per period end (option `period_ends`). One Debit or Credit column
    per account: the balance at end_date, income and expense from the start of the fiscal year (what
    TrialBalanceRow.year_to_date means); no month columns, so reconciliation reads differences per class."""

    name = "trial_balance"
    path = "/{tenant}/reports/TrialBalance"
    role = Role.trial_balance
    records_path = "Rows.Row"
    params = {"minorversion": MINOR_VERSION, "accounting_method": "Accrual"}
    paginator = EachOption(param="end_date", option="period_ends")

    def extract_records(self, body: Any) -> list[Any]:
        return [row for row in super().extract_records(body) if "ColData" in row]

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[TrialBalanceRow]:
        account, debit, credit = raw["ColData"][:3]
        if not account.get("id"):
            return
        debit_amount = Decimal(debit.get("value") or "0")
        credit_amount = Decimal(credit.get("value") or "0")
        yield TrialBalanceRow(period_end=datetime.fromisoformat(str(request.params["end_date"])).date(),
                              account_id=account["id"], account_code=None, account_name=account.get("value") or "",
                              year_to_date=debit_amount - credit_amount, debit=debit_amount, credit=credit_amount)


LEDGER = GeneralLedgerStream()


# ------------------------------------------------------------------------------------------- connector

class QuickBooksOAuth(OAuthClient):
    """Intuit's code flow: the callback names the one company this consent connected (`realmId`, §2.1).
    Revocation takes a JSON body `{"token": ...}` with the app's Basic credentials, as Intuit's own client
    (intuit-oauth) sends it."""

    def revoke(self, refresh_token: str, log: list[RequestRecord] | None = None) -> None:
        url = self.endpoints.revocation_url

        def send() -> None:
            response = requests.post(url, json={"token": refresh_token}, auth=(self.client_id, self.client_secret),
                                     headers={"Accept": "application/json"}, timeout=self.timeout)
            if response.status_code >= 500:
                raise ProviderUnavailable("revocation failed", endpoint=redact_url(url), status=response.status_code)
            if response.status_code >= 400:
                raise RequestRejected("revocation refused", endpoint=redact_url(url), status=response.status_code)

        self._call("POST", url, log, send)

    def complete(self, **kwargs: Any) -> Consent:
        consent = super().complete(**kwargs)
        realm = kwargs["callback"].get("realmId")
        if not realm:
            raise BadResponse("the callback named no company (realmId)", endpoint=self.endpoints.authorize_url)
        return Consent(credential=consent.credential, account=consent.account, account_id=consent.account_id,
                       setup={**consent.setup, "realm_id": realm})


class QuickBooksConnector(Connector):
    key = "quickbooks"
    display_name = "QuickBooks Online"
    auth_kind = "oauth2"
    scopes = SCOPES
    uses_pkce = False  # not documented by Intuit (§2.1, §10)
    dimension_kinds = ("classes", "departments")
    streams = (PreferencesStream(), CurrenciesStream(), AccountsStream(), ClassesStream(), DepartmentsStream(),
               LEDGER, TrialBalanceStream())
    rate_limits = QUICKBOOKS_LIMITS
    refresh_token_idle_days = 100  # a refresh token unused for 100 days expires (providers.md §0.2, §2.1)

    def __init__(self, *, client_id: str, client_secret: str, endpoints: QuickBooksEndpoints | None = None,
                 setup: Mapping[str, str] | None = None, http: HttpClient | None = None,
                 rate_limits: RateLimits | None = None, clock=None) -> None:
        super().__init__(setup=setup, http=http, rate_limits=rate_limits)
        self.endpoints = endpoints or QuickBooksEndpoints.real()
        self.api_base = self.endpoints.api_base
        self.clock = clock or (lambda: datetime.now(UTC))
        self.auth = QuickBooksOAuth(
            client_id=client_id, client_secret=client_secret,
            endpoints=OAuthEndpoints(self.endpoints.authorize_url, self.endpoints.token_url,
                                     self.endpoints.revocation_url),
            scopes=SCOPES, pkce=False, issuer=self.endpoints.issuer)

    def list_companies(self, token: TokenSource, log: list[RequestRecord] | None = None) -> list[Company]:
        """The one company the consent connected (its realm, from the callback), named by its CompanyInfo."""
        realm = self.setup.get("realm_id")
        if not realm:
            return []
        response, record = self.get(f"{self.api_base}/{realm}/companyinfo/{realm}", token=token, tenant_id=realm,
                                    params={"minorversion": MINOR_VERSION}, log=log)
        info = self.decode(response, record.endpoint)
        if _fault(info) or not isinstance(info.get("CompanyInfo"), dict):
            raise BadResponse("companyinfo answered no company", endpoint=record.endpoint, status=response.status_code)
        record.rows = 1
        return [Company(provider_entity_id=realm, name=info["CompanyInfo"].get("CompanyName") or realm,
                        kind="company")]

    def get(self, url: str, **kwargs: Any) -> tuple[Response, RequestRecord]:
        """A data call; Faults that concern the company become errors that say what fixes them (§2.6: 120
        Authorization Failure, 6190 Invalid Company Status)."""
        try:
            return super().get(url, **kwargs)
        except (RequestRejected, AuthExpired) as error:
            try:
                fault = _fault(msgspec.json.decode(error.response.content)) if error.response is not None else None
            except (msgspec.DecodeError, ValueError):
                fault = None
            where = {"endpoint": error.endpoint, "status": error.status, "response": error.response}
            code = (fault or {}).get("code")
            if code == "6190":
                raise NotEntitled("QuickBooks says this company's subscription has ended, so its data cannot be read.",
                                  action="Ask the company's QuickBooks administrator to renew the subscription.",
                                  **where) from error
            if error.status == 403 or code == "120":
                raise CompanyDisconnected("QuickBooks no longer lets Ledgerpane read this company: the app was "
                                          "disconnected from it, or the user who connected it lost access.",
                                          **where) from error
            raise

    def pull(self, stream: str | Stream, *, token: TokenSource, tenant_id: str, cursor: str | None = None,
             options: Options | None = None, log: list[RequestRecord] | None = None) -> Iterator[Page]:
        """The ledger: what changed by CDC while the cursor is inside its window; otherwise (a first load, a
        gap of more than 30 days, a re-pull from a date, a full CDC answer) every month again, going on from
        where such a read stopped (its cursor says)."""
        stream = self.stream(stream) if isinstance(stream, str) else stream
        if stream is not LEDGER:
            yield from super().pull(stream, token=token, tenant_id=tenant_id, cursor=cursor, options=options, log=log)
            return
        options = options or {}
        session = _LedgerRead(self, token, tenant_id, log)
        since = parse_ledger_cursor(cursor) if cursor else None
        oldest = self.clock() - CDC_WINDOW + CDC_MARGIN
        if isinstance(since, ReadUnderWay):
            # Taken up where it stopped, a re-pull from a date included (the months it read are brought up to date
            # by CDC). Begun too long ago for CDC to look back to, it starts again.
            if since.began >= oldest:
                yield from session.go_on(cursor, since)
                return
            since = None
        if since is None or options.get("modified_since") or since < oldest:
            yield from session.every_month(cursor)
            return
        changed, answered_at, complete = session.changes(cursor)
        if not complete:
            # A full answer is not a safe checkpoint, and CDC cannot be asked for a shorter window: every month
            # again (each month replaces what was loaded for it, so what CDC said was deleted goes too).
            yield from session.every_month(cursor)
            return
        yield from session.changed_months(changed, cursor, format_instant(answered_at) if answered_at else cursor)


class _LedgerRead:
    """One pull of the ledger: the requests it makes and the dimension lists it looks names up in."""

    def __init__(self, connector: QuickBooksConnector, token: TokenSource, realm: str,
                 log: list[RequestRecord] | None) -> None:
        self.connector, self.token, self.realm, self.log = connector, token, realm, log
        self.base = f"{connector.api_base}/{realm}"
        self.lists: dict[str, dict[str, str]] = {}

    def _get(self, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[RequestRecord]]:
        page_log: list[RequestRecord] = []
        try:
            response, record = self.connector.get(f"{self.base}{path}", token=self.token, tenant_id=self.realm,
                                                  params={"minorversion": MINOR_VERSION, **params}, log=page_log)
        finally:
            if self.log is not None:
                self.log.extend(page_log)
        body = self.connector.decode(response, record.endpoint)
        fault = _fault(body)
        if fault is not None or not isinstance(body, dict):
            raise RequestRejected(f"QuickBooks answered a {(fault or {}).get('type', 'non-object')}: "
                                  f"{(fault or {}).get('Detail') or (fault or {}).get('Message')}",
                                  endpoint=record.endpoint, status=response.status_code)
        return body, page_log

    def members(self, dimension: str, name: str) -> str | None:
        """A Class or Department's id by its full name (the report's cells name them only)."""
        if dimension not in self.lists:
            body, _ = self._get("/query", {"query": f"select * from {dimension} where Active IN (true, false) "
                                                    f"maxresults 1000"})
            self.lists[dimension] = {o.get("FullyQualifiedName") or o["Name"]: o["Id"]
                                     for o in (body.get("QueryResponse") or {}).get(dimension) or ()}
        return self.lists[dimension].get(name)

    def report(self, start: date, end: date) -> tuple[GeneralLedgerReport, list[RequestRecord]]:
        body, page_log = self._get(LEDGER.path.removeprefix("/{tenant}"), {
            **LEDGER.params, "start_date": start.isoformat(), "end_date": end.isoformat()})
        try:
            read = GeneralLedgerReport(body, self.members)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise BadResponse(f"GeneralLedger: unexpected shape: {exc!r}", endpoint=page_log[-1].endpoint) from exc
        for record in page_log[-1:]:
            record.rows = sum(len(lines) for lines in read.by_transaction.values())
        return read, page_log

    def every_month(self, cursor: str | None, under_way: ReadUnderWay | None = None) -> Iterator[Page]:
        """Every month's report from the books' start, or from where `under_way` stopped, each page the month's
        ReplacedRange then its lines: what was loaded for the month and is no longer there goes (deleted or
        edited away at QuickBooks, or read by a first load that stopped half-way), nothing else is rewritten
        unless it changed. The slices cover every date, so nothing loaded escapes them. Each page's cursor names
        the month after it: the refresh commits it with the page and hands it to the reader's helper process,
        which goes on from there. The last page's is the instant the read is as of (its first report's time,
        or `under_way`'s)."""
        today = self.connector.clock().date()
        began: datetime | None
        if under_way is None:
            info, _ = self._get(f"/companyinfo/{self.realm}", {})
            start = (info.get("CompanyInfo") or {}).get("CompanyStartDate")
            slices = month_slices(date.fromisoformat(start) if start else today, today)
            began = None
        else:  # month by month from there, whenever the books start: the slice before them was read
            next_month = under_way.next_month
            slices = month_slices(next_month, max(today, next_month))[1:]
            began = under_way.began
        for number, (first, last) in enumerate(slices, 1):
            read, page_log = self.report(first, last)
            began = began or read.time
            lines = [line for lines in read.by_transaction.values() for line in lines]
            month = ReplacedRange(first, last, frozenset(line.source_line_id for line in lines))
            if began is None:  # a report without its time: no instant for CDC to go on from
                after = cursor
            elif number == len(slices):
                after = format_ledger_cursor(began)
            else:
                after = format_ledger_cursor(ReadUnderWay(began, slices[number][0]))
            yield Page(LEDGER.name, number, [month, *lines], after, page_log, 1)

    def go_on(self, cursor: str, under_way: ReadUnderWay) -> Iterator[Page]:
        """A read of every month taken up where it stopped: handed to the ledger reader's helper process, or
        after a failure or a kill, maybe days later. The months it read may have changed since it began
        (deleted, edited, moved to another month), so first what CDC says changed: as on any refresh, but a
        transaction now dated in a month still to read is only its Deletion (that month's report brings its
        lines; no line of this pull comes after the range that lists it). Then the months left, as of CDC's
        answer. A full CDC answer: every month again, as on any refresh."""
        changed, answered_at, complete = self.changes(format_instant(under_way.began))
        if not complete:
            yield from self.every_month(cursor)
            return
        if changed:
            yield from self.changed_months(changed, cursor, cursor, read_later_from=under_way.next_month)
        yield from self.every_month(cursor, ReadUnderWay(answered_at or under_way.began, under_way.next_month))

    def changes(self, cursor: str) -> tuple[dict[str, dict[str, Any]], datetime | None, bool]:
        """The posting transactions changed since the cursor, by key; the instant QuickBooks answered at;
        whether that is all of them (False: an entity had too many for one CDC answer). All entities in one
        call; a full answer is asked again entity by entity (the 1,000 cap is per response, shared by its
        entities)."""
        found, answered_at, full = self._cdc(POSTING_ENTITIES, cursor)
        if full:
            for entity in POSTING_ENTITIES:
                one, _, one_full = self._cdc((entity,), cursor)
                found.update(one)
                if one_full:
                    return found, None, False
        return found, answered_at, True

    def _cdc(self, entities: tuple[str, ...], cursor: str) -> tuple[dict[str, dict[str, Any]], datetime | None, bool]:
        body, _ = self._get("/cdc", {"entities": ",".join(entities), "changedSince": cursor})
        found: dict[str, dict[str, Any]] = {}
        count = 0
        for answer in body.get("CDCResponse") or ():
            for response in answer.get("QueryResponse") or ():
                for entity, objects in response.items():
                    if entity in POSTING_ENTITIES and isinstance(objects, list):
                        count += len(objects)
                        found.update({transaction_key(entity, o["Id"]): o for o in objects})
        return found, parse_instant(body.get("time")), count >= CDC_MAX_OBJECTS

    def changed_months(self, changed: dict[str, dict[str, Any]], cursor: str, new_cursor: str,
                       read_later_from: date | None = None) -> Iterator[Page]:
        """Deleted transactions as Deletions; changed ones re-read from their month's report, each as its
        Deletion then its rows (none: it no longer posts). The last page carries the new cursor, even when
        nothing changed, so a quiet company's cursor stays inside CDC's window. `read_later_from`: the months
        from then on are read after these pages, whole: a transaction changed into one of them is only its
        Deletion here (its lines elsewhere go; its month's report brings its lines)."""
        months: dict[date, list[str]] = {}
        gone = []
        for key, found in changed.items():
            month = date.fromisoformat(found["TxnDate"]).replace(day=1) if found.get("TxnDate") else None
            read_later = month is not None and read_later_from is not None and month >= read_later_from
            if found.get("status") == "Deleted" or month is None or read_later:
                gone.append(Deletion(source_journal_id=key))
            else:
                months.setdefault(month, []).append(key)
        pages = [(None, gone, [])] if gone or not months else []
        for month, keys in sorted(months.items()):
            following = (month + timedelta(days=32)).replace(day=1)
            pages.append((month, keys, following - timedelta(days=1)))
        for number, (month, keys, last) in enumerate(pages, 1):
            cursor_after = new_cursor if number == len(pages) else cursor
            if month is None:
                yield Page(LEDGER.name, number, list(keys), cursor_after, [], len(keys))
                continue
            read, page_log = self.report(month, last)
            records: list[Any] = []
            for key in keys:
                records += [Deletion(source_journal_id=key), *read.by_transaction.get(key, ())]
            yield Page(LEDGER.name, number, records, cursor_after, page_log, len(keys))
