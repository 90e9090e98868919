"""Xero: declarations plus the hooks where Xero's API is odd (.NET dates, journal lines, report rows).

Shapes follow Xero's OpenAPI (xero_accounting.yaml, xero-identity.yaml); facts from research/providers.md §1.
"""
from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from server.connectors.framework.auth import Consent
from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import (
    AuthExpired,
    BadResponse,
    CompanyDisconnected,
    NotEntitled,
    RequestRejected,
)
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, Response, TokenSource
from server.connectors.framework.oauth import OAuthClient, OAuthEndpoints
from server.connectors.framework.paginators import EachOption, OffsetByKey, Options, PageRequest
from server.connectors.framework.parsing import to_decimal
from server.connectors.framework.records import (
    Account,
    CompanyProfile,
    Currency,
    Dimension,
    DimensionMember,
    DimensionValue,
    LedgerLine,
    Role,
    TrialBalanceRow,
)
from server.connectors.framework.streams import Incremental, SourceField, Stream

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
LEGACY_SCOPES = ("openid", "profile", "email", "offline_access", "accounting.settings.read", "accounting.journals.read",
                 "accounting.reports.read")

# Published per tenant: 60 calls/min, 5 concurrent, 5,000/day; per app: 10,000 calls/min. We budget a little under
# the minute and day limits: Xero counts arrivals in fixed windows, we count departures in a sliding one.
XERO_LIMITS = RateLimits(per_window=55, window_seconds=60.0, concurrent=5, per_day=4_950, app_per_window=9_900)


@dataclass(frozen=True)
class XeroEndpoints:
    authorize_url: str
    token_url: str
    revocation_url: str
    connections_url: str
    api_base: str
    # Who answers authorization requests (RFC 9207), and whether the answer says so (`iss`). Xero's OpenID
    # issuer; its authorization responses are not documented to carry `iss`, so it is checked where present.
    issuer: str = "https://identity.xero.com"
    sends_iss: bool = False

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
            issuer=f"{base}/identity",  # as the sandbox's id_token names it; it always sends `iss`
            sends_iss=True,
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


# ------------------------------------------------------------------------------------ Xero's shapes

# Journal lines are the one stream as long as the ledger, so they are decoded from a page straight into the
# framework's LedgerLine, with Xero's field names declared here: no dict per line, no Python loop over the
# fields, no copy. The journal's own fields are filled in by JournalsStream.parse_record.

class _Tracking(DimensionValue, frozen=True, gc=False):
    dimension_id: str | None = msgspec.field(default=None, name="TrackingCategoryID")
    member_id: str | None = msgspec.field(default=None, name="TrackingOptionID")
    dimension_name: str | None = msgspec.field(default=None, name="Name")
    member_name: str | None = msgspec.field(default=None, name="Option")


_NULL = msgspec.Raw(b"null")  # a field the line does not have


class _JournalLine(LedgerLine, gc=False):
    """One line of a Xero journal. NetAmount > 0 is a debit, in the organisation's base currency."""

    source_line_id: str = msgspec.field(name="JournalLineID")
    account_id: str = msgspec.field(name="AccountID")
    amount: Decimal = msgspec.field(name="NetAmount")
    description: str | None = msgspec.field(default="", name="Description")  # "" when blank
    dimension_values: tuple[_Tracking, ...] | None = msgspec.field(default=(), name="TrackingCategories")
    account_code: str | None = msgspec.field(default=None, name="AccountCode")
    account_name: str | None = msgspec.field(default=None, name="AccountName")
    account_type: str | None = msgspec.field(default=None, name="AccountType")
    journal_number: int = 0  # of the journal it belongs to: Xero's order, and the journals cursor
    # Kept beside the line (JournalsStream.fields). Amounts stay as Xero wrote them (msgspec.Raw): exact, and
    # cheaper than a Decimal for a field most connections never cast.
    gross_amount: msgspec.Raw = msgspec.field(default=_NULL, name="GrossAmount")
    tax_amount: msgspec.Raw = msgspec.field(default=_NULL, name="TaxAmount")
    tax_type: str | None = msgspec.field(default=None, name="TaxType")
    reference: str | None = None  # the journal's, as its lines carry it
    source_type: str | None = None


class _Journal(msgspec.Struct):
    journal_id: str = msgspec.field(name="JournalID")
    journal_number: int = msgspec.field(name="JournalNumber")
    journal_date: str = msgspec.field(name="JournalDate")
    created: str | None = msgspec.field(default=None, name="CreatedDateUTC")
    reference: str | None = msgspec.field(default=None, name="Reference")
    source_type: str | None = msgspec.field(default=None, name="SourceType")
    lines: list[_JournalLine] | None = msgspec.field(default=None, name="JournalLines")


class _JournalsPage(msgspec.Struct):
    journals: list[_Journal] | None = msgspec.field(default=None, name="Journals")


def _status(value: str | None) -> str:
    return (value or "ACTIVE").lower()


# -------------------------------------------------------------------------------------------- streams

class OrganisationStream(Stream):
    name = "organisation"
    path = "/Organisation"
    role = Role.company_profile
    records_path = "Organisations"

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[CompanyProfile]:
        yield CompanyProfile(
            source_id=raw["OrganisationID"],
            name=raw["Name"],
            base_currency=raw["BaseCurrency"],
            year_end_month=raw.get("FinancialYearEndMonth"),
            year_end_day=raw.get("FinancialYearEndDay"),
            country=raw.get("CountryCode"),
            timezone=raw.get("Timezone"),
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
    role = Role.accounts
    records_path = "Accounts"
    incremental = _UPDATED_UTC
    fields = (SourceField("TaxType"), SourceField("ReportingCode"), SourceField("ReportingCodeName"))

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Account]:
        yield Account(
            source_id=raw["AccountID"],
            code=raw.get("Code"),
            name=raw["Name"],
            account_type=raw.get("Type"),
            account_class=(raw.get("Class") or "").lower() or None,  # Xero's classes are ours, upper-case
            status=_status(raw.get("Status")),
            currency=raw.get("CurrencyCode"),
            updated_at=parse_instant(raw.get("UpdatedDateUTC")),
            source_fields={field.name: raw.get(field.name) for field in self.fields},
        )


class TrackingCategoriesStream(Stream):
    name = "tracking_categories"
    path = "/TrackingCategories"
    role = Role.dimensions
    records_path = "TrackingCategories"
    params = {"includeArchived": "true"}  # archived options too, so old mappings still resolve

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Dimension]:
        members = tuple(
            DimensionMember(source_id=o["TrackingOptionID"], name=o["Name"], status=_status(o.get("Status")))
            for o in raw.get("Options") or ()
        )
        yield Dimension(source_id=raw["TrackingCategoryID"], name=raw["Name"], status=_status(raw.get("Status")),
                        members=members)


class CurrenciesStream(Stream):
    name = "currencies"
    path = "/Currencies"
    role = Role.currencies
    records_path = "Currencies"

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Currency]:
        yield Currency(code=raw["Code"], name=raw.get("Description"))


class JournalsStream(Stream):
    """Immutable system journals, oldest first, 100 a page. offset = last JournalNumber seen, which is
    also the cursor; edits and voids arrive as new (reversing) journals, so nothing is ever deleted.
    Option `modified_since` (datetime) adds Xero's If-Modified-Since; offset still advances by the last
    number returned (providers.md §1.4)."""

    name = "journals"
    path = "/Journals"
    role = Role.ledger_lines
    records_path = "journals"
    body_type = _JournalsPage
    paginator = OffsetByKey(param="offset", key="journal_number")
    incremental = Incremental(
        key="JournalNumber", value=lambda raw: raw.journal_number, encode=str, decode=int, send_as="paginator"
    )
    fields = (
        SourceField("JournalNumber", "integer", attribute="journal_number"),
        SourceField("Reference", attribute="reference"),
        SourceField("SourceType", attribute="source_type"),
        SourceField("GrossAmount", "decimal", 2, attribute="gross_amount"),
        SourceField("TaxAmount", "decimal", 2, attribute="tax_amount"),
        SourceField("TaxType", attribute="tax_type"),
    )

    def request_headers(self, cursor: str | None, options: Options) -> dict[str, str]:
        since = options.get("modified_since")
        return {"If-Modified-Since": format_modified_since(since)} if since else {}

    def parse_record(self, raw: _Journal, request: PageRequest) -> list[LedgerLine]:
        lines = raw.lines or []
        posted = parse_calendar_date(raw.journal_date)
        created = parse_instant(raw.created)
        reference, source_type = raw.reference, raw.source_type
        for line in lines:
            line.source_journal_id, line.journal_number, line.date = raw.journal_id, raw.journal_number, posted
            line.created_at, line.reference, line.source_type = created, reference, source_type
        return lines


# The trial balance's section titles, as Xero's report names them, and the account class each holds.
_SECTION_CLASSES = {"revenue": "revenue", "income": "revenue", "expenses": "expense", "assets": "asset",
                    "liabilities": "liability", "equity": "equity"}
_NAME_AND_CODE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[^()]*)\)\s*$")


class TrialBalanceStream(Stream):
    """`Reports/TrialBalance?date=` once per period end in option `period_ends` (dates).
    Report rows are nested in sections (Revenue, Expenses, Assets, Liabilities, Equity: the account's
    class); each account row's cells are [Account "Name (Code)", Debit, Credit, YTD Debit, YTD Credit],
    with the AccountID in the cells' `account` attribute. Summary (total) rows are skipped.
    Xero's help: Debit and Credit are the month's figures; YTD is the year to date, and for asset,
    liability and equity accounts includes prior years (what TrialBalanceRow.year_to_date means)."""

    name = "trial_balance"
    path = "/Reports/TrialBalance"
    role = Role.trial_balance
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

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[TrialBalanceRow]:
        cells = raw["Cells"]
        if len(cells) < 5:
            raise BadResponse(f"trial balance row with {len(cells)} cells")
        account_id = next((a["Value"] for a in cells[0].get("Attributes") or () if a.get("Id") == "account"), None)
        if account_id is None:
            return  # a row without an account (e.g. unallocated rounding) cannot be loaded against one
        label = cells[0].get("Value") or ""
        match = _NAME_AND_CODE.match(label)
        debit, credit, ytd_debit, ytd_credit = (to_decimal(c.get("Value")) or Decimal(0) for c in cells[1:5])
        yield TrialBalanceRow(
            period_end=date.fromisoformat(str(request.params["date"])),
            account_id=account_id,
            account_code=match["code"] if match else None,
            account_name=match["name"] if match else label,
            year_to_date=ytd_debit - ytd_credit,
            debit=debit,
            credit=credit,
            month_movement=debit - credit,
            account_class=_SECTION_CLASSES.get((raw.get("Section") or "").lower()),
        )


# ------------------------------------------------------------------------------------------ consent

def _jwt_claims(token: str | None) -> dict[str, Any]:
    """The claims of a JWT, unverified: read for routing (which consent this is), never to decide access."""
    if not token or token.count(".") != 2:
        return {}
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    except (ValueError, msgspec.DecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


class XeroOAuth(OAuthClient):
    """Xero's code flow. Its access token is a JWT whose `authentication_event_id` names this consent: the
    consent's setup carries it, so that the organisations listed after it are only the ones it ticked
    (GET /connections?authEventId=, providers.md §1.2)."""

    def complete(self, **kwargs: Any) -> Consent:
        consent = super().complete(**kwargs)
        event = _jwt_claims(consent.credential.get("access_token")).get("authentication_event_id")
        return replace(consent, setup={**consent.setup, "auth_event_id": str(event)}) if event else consent


# ------------------------------------------------------------------------------------------ connector

def _detail(response: Response | None) -> str:
    """The `Detail` of Xero's problem body (401/403), or ""."""
    if response is None:
        return ""
    try:
        body = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, ValueError):
        return ""
    return str(body.get("Detail") or "") if isinstance(body, dict) else ""


_WHAT = {"Journals": "its journals", "TrialBalance": "its trial balance", "Reports": "its trial balance"}

class XeroConnector(Connector):
    key = "xero"
    display_name = "Xero"
    auth_kind = "oauth2"
    scopes = SCOPES
    uses_pkce = True
    refresh_token_idle_days = 60  # Xero: a refresh token not used within 60 days expires (research/providers.md §1)
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
        setup: Mapping[str, str] | None = None,
        http: HttpClient | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        super().__init__(setup=setup, http=http, rate_limits=rate_limits)
        self.endpoints = endpoints or XeroEndpoints.real()
        self.api_base = self.endpoints.api_base
        self.auth = XeroOAuth(
            client_id=client_id,
            client_secret=client_secret,
            endpoints=OAuthEndpoints(self.endpoints.authorize_url, self.endpoints.token_url,
                                     self.endpoints.revocation_url),
            scopes=scopes or self.scopes,
            pkce=self.uses_pkce,
            account_id_claim="xero_userid",  # Xero's id_token names the user's Xero account here
            issuer=self.endpoints.issuer,
            sends_iss=self.endpoints.sends_iss,
        )

    def request_headers(self, tenant_id: str) -> dict[str, str]:
        return {"Accept": "application/json", "xero-tenant-id": tenant_id}

    def get(self, url: str, **kwargs: Any) -> tuple[Response, RequestRecord]:
        """A data call; Xero's refusals that concern one organisation become errors that say what fixes them:
        403 AuthenticationUnsuccessful (the organisation was disconnected at Xero), another 403 (Xero refuses
        the endpoint for this organisation: Journals needs a plan tier and an app approval, providers.md §1.6,
        §8.3) and 401 AuthorizationUnsuccessful (the consent lacks the endpoint's scope)."""
        try:
            return super().get(url, **kwargs)
        except (RequestRejected, AuthExpired) as error:
            detail = _detail(error.response)
            what = _WHAT.get(url.rstrip("/").rsplit("/", 1)[-1], "this data")
            where = {"endpoint": error.endpoint, "status": error.status, "response": error.response}
            if error.status == 403 and detail == "AuthenticationUnsuccessful":
                raise CompanyDisconnected(
                    "Xero no longer lets Ledgerpane reach this organisation: it was disconnected in Xero.",
                    **where) from error
            if error.status == 403:
                raise NotEntitled(
                    f"Xero refuses {what} for this organisation: its Xero plan or this app's approval does not "
                    f"include them ({detail or 'Forbidden'}). Its other data still refreshes.",
                    action=f"Ask the organisation's Xero subscriber to give it access to {what} through the API "
                           "(Xero's plan tier and its approval of this app decide), or turn that data type off "
                           "for this connection.",
                    **where) from error
            if error.status == 401 and detail == "AuthorizationUnsuccessful":
                raise NotEntitled(
                    f"Xero refuses {what}: the sign-in did not give Ledgerpane the permission (scope) they need.",
                    action="Reconnect the source and approve every permission Xero asks for.", **where) from error
            raise

    def list_companies(
        self, token: TokenSource, log: list[RequestRecord] | None = None, auth_event_id: str | None = None
    ) -> list[Company]:
        """Organisations this grant covers (GET /connections): every organisation the user connected to our app,
        whichever consent did; `auth_event_id` narrows to the ones one consent ticked."""
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

    def companies_of_consent(self, token: TokenSource, consent: Consent,
                             log: list[RequestRecord] | None = None) -> list[Company]:
        """Only the organisations this consent ticked, not every one the user ever connected to our app."""
        return self.list_companies(token, log, consent.setup.get("auth_event_id"))

    def disconnect_company(self, token: TokenSource, connection_id: str,
                           log: list[RequestRecord] | None = None) -> None:
        """Remove one tenant from the grant (DELETE /connections/{id} -> 204); other tenants stay."""
        self.http.request(
            "DELETE", f"{self.endpoints.connections_url}/{connection_id}", rate_key=f"{self.key}:identity",
            limits=self.rate_limits, token=token, log=log,
        )

