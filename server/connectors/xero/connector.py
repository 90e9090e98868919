"""Xero: declarations plus the hooks where Xero's API is odd (.NET dates, journal lines, report rows).

Shapes follow Xero's OpenAPI (xero_accounting.yaml, xero-identity.yaml); facts from research/providers.md §1.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import BadResponse
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, TokenSource
from server.connectors.framework.oauth import OAuthClient, OAuthEndpoints
from server.connectors.framework.paginators import EachOption, OffsetByKey, Options, PageRequest
from server.connectors.framework.parsing import to_decimal
from server.connectors.framework.streams import Incremental, Stream

# Read-only accounting plus a refresh token. Apps created on/after 2 March 2026 must ask for the granular
# report scope (the broad `accounting.reports.read` then fails with invalid_scope); older apps may use
# LEGACY_SCOPES until they migrate.
SCOPES = (
    "openid",  # with profile and email: an id_token saying who consented (the business account we show)
    "profile",
    "email",
    "offline_access",
    "accounting.settings.read",
    "accounting.journals.read",
    "accounting.reports.trialbalance.read",
)
LEGACY_SCOPES = ("offline_access", "accounting.settings.read", "accounting.journals.read", "accounting.reports.read")

# Published per tenant: 60 calls/min, 5 concurrent, 5,000/day. We budget a little under the minute and day
# limits: Xero counts arrivals in fixed windows, we count departures in a sliding one.
XERO_LIMITS = RateLimits(per_window=55, window_seconds=60.0, concurrent=5, per_day=4_950)


@dataclass(frozen=True)
class XeroEndpoints:
    authorize_url: str
    token_url: str
    revocation_url: str
    connections_url: str
    api_base: str

    @classmethod
    def real(cls) -> XeroEndpoints:
        return cls(
            authorize_url="https://login.xero.com/identity/connect/authorize",
            token_url="https://identity.xero.com/connect/token",
            revocation_url="https://identity.xero.com/connect/revocation",
            connections_url="https://api.xero.com/connections",
            api_base="https://api.xero.com/api.xro/2.0",
        )

    @classmethod
    def sandbox(cls, root: str) -> XeroEndpoints:
        """The built-in emulator answers the same API under `<root>/xero/`."""
        base = root.rstrip("/") + "/xero"
        return cls(
            authorize_url=f"{base}/identity/connect/authorize",
            token_url=f"{base}/identity/connect/token",
            revocation_url=f"{base}/identity/connect/revocation",
            connections_url=f"{base}/connections",
            api_base=f"{base}/api.xro/2.0",
        )


# ---------------------------------------------------------------------------------------------- dates

_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms_date(value: str) -> tuple[datetime, timedelta] | None:
    match = _MS_DATE.fullmatch(value)
    if not match:
        return None
    instant = _EPOCH + timedelta(milliseconds=int(match[1]))
    offset = match[2]
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])) * (-1 if offset[0] == "-" else 1) \
        if offset else timedelta(0)
    return instant, shift


def parse_instant(value: str | None) -> datetime | None:
    """`/Date(1573755038314+0000)/`, `/Date(1439434356790)/` or ISO 8601 -> an aware UTC datetime.
    In the .NET form the milliseconds are UTC; the offset only says where the wall clock was, so it is
    not read (that is two thirds of the cost, paid once a journal). Not cached: these are creation and
    update times, nearly all different."""
    if not value:
        return None
    match = _MS_DATE.fullmatch(value)
    if match:
        return _EPOCH + timedelta(milliseconds=int(match[1]))
    moment = datetime.fromisoformat(value)
    # Xero's ISO timestamps without an offset (connections, *UTC fields) are UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@functools.lru_cache(maxsize=65_536)  # journal dates repeat page after page; the results are immutable
def parse_calendar_date(value: str | None) -> date | None:
    """A date field (JournalDate) -> the calendar date the user typed, never shifted by a time zone.
    Xero sends it as midnight UTC; if an offset is present, the wall clock it names is the date."""
    if not value:
        return None
    parsed = _ms_date(value)
    if parsed:
        instant, shift = parsed
        return (instant + shift).date()
    return date.fromisoformat(value[:10])


def format_modified_since(moment: datetime) -> str:
    """If-Modified-Since in Xero's form (UTC, no offset), keeping milliseconds like the spec's example:
    truncating to the second would re-send every record changed within the cursor's last second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


# -------------------------------------------------------------------------------------------- records

@dataclass(slots=True)
class Organisation:
    organisation_id: str
    name: str
    base_currency: str
    country_code: str | None
    timezone: str | None
    financial_year_end_day: int | None
    financial_year_end_month: int | None
    is_demo_company: bool


@dataclass(slots=True)
class Account:
    account_id: str
    code: str | None  # system accounts may have no code
    name: str
    type: str | None
    account_class: str | None
    status: str | None
    currency_code: str | None
    tax_type: str | None
    reporting_code: str | None
    system_account: str | None
    updated_at: datetime | None


@dataclass(slots=True)
class DimensionOption:
    option_id: str
    name: str
    status: str | None


@dataclass(slots=True)
class Dimension:
    """A Xero tracking category with its options (archived ones included, so old mappings survive)."""

    category_id: str
    name: str
    status: str | None
    options: tuple[DimensionOption, ...]


@dataclass(slots=True)
class Currency:
    code: str
    description: str | None


# Journal lines are the one stream as long as the ledger, so they are declared in Xero's own shape and
# msgspec decodes a page straight into them: no dict per line, no Python loop over the fields (half the
# cost of a page before). The journal's own fields are filled in by JournalsStream.parse_record. They hold
# no references that could form a cycle, so the collector need not track them (gc=False, 5% of a pull).

class Tracking(msgspec.Struct, frozen=True, gc=False):  # frozen: hashable, the mapper remembers combinations
    category_id: str | None = msgspec.field(default=None, name="TrackingCategoryID")
    category_name: str | None = msgspec.field(default=None, name="Name")
    option_id: str | None = msgspec.field(default=None, name="TrackingOptionID")
    option_name: str | None = msgspec.field(default=None, name="Option")


class JournalLine(msgspec.Struct, gc=False):
    """One general-ledger line. `net_amount` > 0 is a debit; amounts are in the base currency."""

    source_line_id: str = msgspec.field(name="JournalLineID")
    account_id: str = msgspec.field(name="AccountID")
    net_amount: Decimal = msgspec.field(name="NetAmount")
    account_code: str | None = msgspec.field(default=None, name="AccountCode")
    account_name: str | None = msgspec.field(default=None, name="AccountName")
    account_type: str | None = msgspec.field(default=None, name="AccountType")
    gross_amount: Decimal | None = msgspec.field(default=None, name="GrossAmount")
    tax_amount: Decimal | None = msgspec.field(default=None, name="TaxAmount")
    tax_type: str | None = msgspec.field(default=None, name="TaxType")
    description: str | None = msgspec.field(default="", name="Description")  # "" when blank
    tracking: tuple[Tracking, ...] | None = msgspec.field(default=(), name="TrackingCategories")
    # From the journal the line belongs to:
    source_journal_id: str = ""
    journal_number: int = 0
    date: date | None = None
    source_type: str | None = None
    source_id: str | None = None
    reference: str | None = None
    created_at: datetime | None = None


class _Journal(msgspec.Struct):
    journal_id: str = msgspec.field(name="JournalID")
    journal_number: int = msgspec.field(name="JournalNumber")
    journal_date: str = msgspec.field(name="JournalDate")
    created: str | None = msgspec.field(default=None, name="CreatedDateUTC")
    source_type: str | None = msgspec.field(default=None, name="SourceType")
    source_id: str | None = msgspec.field(default=None, name="SourceID")
    reference: str | None = msgspec.field(default=None, name="Reference")
    lines: list[JournalLine] | None = msgspec.field(default=None, name="JournalLines")


class _JournalsPage(msgspec.Struct):
    journals: list[_Journal] | None = msgspec.field(default=None, name="Journals")


@dataclass(slots=True)
class TrialBalanceLine:
    """One account row of the trial balance as at `period_end`. Xero's Debit/Credit columns are the
    movement of the month ending at that date; YTD Debit/YTD Credit the year to date."""

    period_end: date
    account_id: str
    account_code: str | None
    account_name: str
    section: str | None
    debit: Decimal
    credit: Decimal
    net: Decimal
    ytd_debit: Decimal
    ytd_credit: Decimal
    ytd_net: Decimal


# -------------------------------------------------------------------------------------------- streams

class OrganisationStream(Stream):
    name = "organisation"
    path = "/Organisation"
    data_type = None
    records_path = "Organisations"

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Organisation]:
        yield Organisation(
            organisation_id=raw["OrganisationID"],
            name=raw["Name"],
            base_currency=raw["BaseCurrency"],
            country_code=raw.get("CountryCode"),
            timezone=raw.get("Timezone"),
            financial_year_end_day=raw.get("FinancialYearEndDay"),
            financial_year_end_month=raw.get("FinancialYearEndMonth"),
            is_demo_company=bool(raw.get("IsDemoCompany")),
        )


_UPDATED_UTC = Incremental(
    key="UpdatedDateUTC",
    value=lambda raw: parse_instant(raw.get("UpdatedDateUTC")),
    encode=format_modified_since,
    decode=lambda cursor: datetime.fromisoformat(cursor).replace(tzinfo=UTC),
    send_as="header",
    name="If-Modified-Since",
)


class AccountsStream(Stream):
    name = "accounts"
    path = "/Accounts"
    data_type = "accounts"
    records_path = "Accounts"
    incremental = _UPDATED_UTC

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Account]:
        yield Account(
            account_id=raw["AccountID"],
            code=raw.get("Code"),
            name=raw["Name"],
            type=raw.get("Type"),
            account_class=raw.get("Class"),
            status=raw.get("Status"),
            currency_code=raw.get("CurrencyCode"),
            tax_type=raw.get("TaxType"),
            reporting_code=raw.get("ReportingCode"),
            system_account=raw.get("SystemAccount") or None,
            updated_at=parse_instant(raw.get("UpdatedDateUTC")),
        )


class TrackingCategoriesStream(Stream):
    name = "tracking_categories"
    path = "/TrackingCategories"
    data_type = "dimensions"
    records_path = "TrackingCategories"
    params = {"includeArchived": "true"}

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Dimension]:
        options = tuple(
            DimensionOption(option_id=o["TrackingOptionID"], name=o["Name"], status=o.get("Status"))
            for o in raw.get("Options") or ()
        )
        yield Dimension(category_id=raw["TrackingCategoryID"], name=raw["Name"], status=raw.get("Status"),
                        options=options)


class CurrenciesStream(Stream):
    name = "currencies"
    path = "/Currencies"
    data_type = "currencies"
    records_path = "Currencies"

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Currency]:
        yield Currency(code=raw["Code"], description=raw.get("Description"))


class JournalsStream(Stream):
    """Immutable system journals, oldest first, 100 a page. offset = last JournalNumber seen, which is
    also the cursor; edits and voids arrive as new (reversing) journals, so nothing is ever deleted.
    Option `modified_since` (datetime) adds Xero's If-Modified-Since; offset still advances by the last
    number returned (providers.md §1.4)."""

    name = "journals"
    path = "/Journals"
    data_type = "journals"
    records_path = "journals"
    body_type = _JournalsPage
    paginator = OffsetByKey(param="offset", key="journal_number")
    incremental = Incremental(
        key="JournalNumber", value=lambda raw: raw.journal_number, encode=str, decode=int, send_as="paginator"
    )

    def request_headers(self, cursor: str | None, options: Options) -> dict[str, str]:
        since = options.get("modified_since")
        return {"If-Modified-Since": format_modified_since(since)} if since else {}

    def parse_record(self, raw: _Journal, request: PageRequest) -> list[JournalLine]:
        lines = raw.lines or []
        posted = parse_calendar_date(raw.journal_date)
        created = parse_instant(raw.created)
        for line in lines:
            line.source_journal_id, line.journal_number, line.date = raw.journal_id, raw.journal_number, posted
            line.source_type, line.source_id, line.reference = raw.source_type, raw.source_id, raw.reference
            line.created_at = created
        return lines


_NAME_AND_CODE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[^()]*)\)\s*$")


class TrialBalanceStream(Stream):
    """`Reports/TrialBalance?date=` once per period end in option `period_ends` (dates).
    Report rows are nested in sections; each account row's cells are
    [Account "Name (Code)", Debit, Credit, YTD Debit, YTD Credit], with the AccountID in the
    cells' `account` attribute. Summary (total) rows are skipped."""

    name = "trial_balance"
    path = "/Reports/TrialBalance"
    data_type = "trial_balance"
    records_path = "Reports.0.Rows"
    paginator = EachOption(param="date", option="period_ends")

    def extract_records(self, body: Any) -> list[Any]:
        rows = []
        for section in super().extract_records(body):
            if section.get("RowType") == "Section":
                title = section.get("Title") or None
                rows.extend({**row, "Section": title} for row in section.get("Rows") or ()
                            if row.get("RowType") == "Row")
        return rows

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[TrialBalanceLine]:
        cells = raw["Cells"]
        if len(cells) < 5:
            raise BadResponse(f"trial balance row with {len(cells)} cells")
        account_id = next((a["Value"] for a in cells[0].get("Attributes") or () if a.get("Id") == "account"), None)
        if account_id is None:
            return  # a row without an account (e.g. unallocated rounding) cannot be loaded against one
        label = cells[0].get("Value") or ""
        match = _NAME_AND_CODE.match(label)
        debit, credit, ytd_debit, ytd_credit = (to_decimal(c.get("Value")) or Decimal(0) for c in cells[1:5])
        yield TrialBalanceLine(
            period_end=date.fromisoformat(str(request.params["date"])),
            account_id=account_id,
            account_code=match["code"] if match else None,
            account_name=match["name"] if match else label,
            section=raw.get("Section"),
            debit=debit,
            credit=credit,
            net=debit - credit,
            ytd_debit=ytd_debit,
            ytd_credit=ytd_credit,
            ytd_net=ytd_debit - ytd_credit,
        )


# ------------------------------------------------------------------------------------------ connector

class XeroConnector(Connector):
    key = "xero"
    display_name = "Xero"
    auth_kind = "oauth2"
    scopes = SCOPES
    uses_pkce = True
    dimension_kinds = ("tracking categories",)
    streams = (
        OrganisationStream(),
        AccountsStream(),
        TrackingCategoriesStream(),
        CurrenciesStream(),
        JournalsStream(),
        TrialBalanceStream(),
    )
    rate_limits = XERO_LIMITS

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        endpoints: XeroEndpoints | None = None,
        scopes: tuple[str, ...] | None = None,
        http: HttpClient | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        super().__init__(http=http, rate_limits=rate_limits)
        self.endpoints = endpoints or XeroEndpoints.real()
        self.api_base = self.endpoints.api_base
        self.oauth = OAuthClient(
            client_id=client_id,
            client_secret=client_secret,
            endpoints=OAuthEndpoints(self.endpoints.authorize_url, self.endpoints.token_url,
                                     self.endpoints.revocation_url),
            scopes=scopes or self.scopes,
            pkce=self.uses_pkce,
        )

    def request_headers(self, tenant_id: str) -> dict[str, str]:
        return {"Accept": "application/json", "xero-tenant-id": tenant_id}

    def list_companies(
        self, token: TokenSource, log: list[RequestRecord] | None = None, auth_event_id: str | None = None
    ) -> list[Company]:
        """Organisations this grant covers (GET /connections); `auth_event_id` narrows to one consent."""
        params = {"authEventId": auth_event_id} if auth_event_id else None
        response, record = self.http.request(
            "GET", self.endpoints.connections_url, rate_key=f"{self.key}:identity", limits=self.rate_limits,
            token=token, params=params, headers={"Accept": "application/json"}, log=log,
        )
        connections = self.decode(response, record.endpoint)
        if not isinstance(connections, list):
            raise BadResponse("connections is not a list", endpoint=record.endpoint, status=response.status_code)
        record.rows = len(connections)
        return [
            Company(provider_entity_id=c["tenantId"], name=c.get("tenantName") or "", kind="organisation",
                    connection_id=c.get("id"))
            for c in connections
            if c.get("tenantType") == "ORGANISATION"
        ]

    def disconnect_company(self, token: TokenSource, connection_id: str,
                           log: list[RequestRecord] | None = None) -> None:
        """Remove one tenant from the grant (DELETE /connections/{id} -> 204); other tenants stay."""
        self.http.request(
            "DELETE", f"{self.endpoints.connections_url}/{connection_id}", rate_key=f"{self.key}:identity",
            limits=self.rate_limits, token=token, log=log,
        )

    def organisation(self, token: TokenSource, tenant_id: str,
                     log: list[RequestRecord] | None = None) -> Organisation:
        for page in self.pull("organisation", token=token, tenant_id=tenant_id, log=log):
            return page.records[0]
        raise BadResponse("Organisation returned no organisation", endpoint=self.api_base + "/Organisation")
