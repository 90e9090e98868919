"""Business Central (API v2.0): declarations plus the hooks where it is odd (a company sits in the URL path
behind its environment; OData paging; debit and credit columns). Facts from research/providers.md §3.

A company is `<environment>/<company id>`: the environment comes first in every URL (§3.2), and one Entra
tenant can hold several environments, each with several companies.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import requests

from server.connectors.business_central.auth import MsalFlow
from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import BadResponse
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, TokenSource
from server.connectors.framework.paginators import EachOption, NextLink, Options, PageRequest
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

# Delegated; there is no read-only Business Central scope (§3.1, wave2.md 5): the consent page says so.
SCOPE = "https://api.businesscentral.dynamics.com/Financials.ReadWrite.All"
# 6,000 requests per 5-minute sliding window and 5 at once, per user (§3.5): a little under.
BUSINESS_CENTRAL_LIMITS = RateLimits(per_window=5_900, window_seconds=300.0, concurrent=5)
PAGE_SIZE = 5_000  # entities a page asks for (Prefer: odata.maxpagesize; at most 20,000 online)
CLASSES = {"Assets": "asset", "Liabilities": "liability", "Equity": "equity", "Income": "revenue",
           "Cost of Goods Sold": "expense", "Expense": "expense"}
_ODATA_PAGES = NextLink(("@odata.nextLink",))


@dataclass(frozen=True)
class BusinessCentralEndpoints:
    authority: str  # the identity platform's multi-tenant authority
    api_root: str  # environments/v1.2 and v2.0/<environment>/api/v2.0 sit under it

    @classmethod
    def real(cls) -> BusinessCentralEndpoints:
        return cls(authority="https://login.microsoftonline.com/organizations",
                   api_root="https://api.businesscentral.dynamics.com")

    @classmethod
    def sandbox(cls, root: str) -> BusinessCentralEndpoints:
        base = root.rstrip("/") + "/business_central"
        return cls(authority=f"{base}/organizations", api_root=base)


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CompanyStream(Stream):
    """A company's entity: OData collections (`value`), paged by `@odata.nextLink`."""

    records_path = "value"
    paginator = _ODATA_PAGES

    def request_headers(self, cursor: str | None, options: Options) -> dict[str, str]:
        return {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}


class CompanyInformationStream(CompanyStream):
    name = "company_information"
    path = "/{environment}/api/v2.0/companies({company})/companyInformation"
    role = Role.company_profile

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[CompanyProfile]:
        start = date.fromisoformat(raw["currentFiscalYearStartDate"]) if raw.get("currentFiscalYearStartDate") \
            else date(2000, 1, 1)
        end_month = 12 if start.month == 1 else start.month - 1
        yield CompanyProfile(source_id=raw["id"], name=raw.get("displayName") or "", base_currency=raw["currencyCode"],
                             year_end_month=end_month, year_end_day=calendar.monthrange(2001, end_month)[1],
                             country=raw.get("country"))


class AccountsStream(CompanyStream):
    name = "accounts"
    path = "/{environment}/api/v2.0/companies({company})/accounts"
    role = Role.accounts

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Account]:
        yield Account(source_id=raw["id"], code=raw.get("number") or None, name=raw["displayName"],
                      account_type=raw.get("accountType"), account_class=CLASSES.get(raw.get("category") or ""),
                      status="archived" if raw.get("blocked") else "active",
                      updated_at=parse_instant(raw.get("lastModifiedDateTime")))


class DimensionsStream(CompanyStream):
    name = "dimensions"
    path = "/{environment}/api/v2.0/companies({company})/dimensions"
    role = Role.dimensions
    params = {"$expand": "dimensionValues"}

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Dimension]:
        members = tuple(DimensionMember(source_id=v["id"], name=v.get("displayName") or v["code"])
                        for v in raw.get("dimensionValues") or ())
        yield Dimension(source_id=raw["id"], name=raw.get("displayName") or raw["code"], members=members)


class CurrenciesStream(CompanyStream):
    name = "currencies"
    path = "/{environment}/api/v2.0/companies({company})/currencies"
    role = Role.currencies

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Currency]:
        yield Currency(code=raw["code"], name=raw.get("displayName"))


class _Entry(LedgerLine, gc=False):
    """A G/L entry, with the fields it keeps beside the line (GeneralLedgerEntriesStream.fields)."""

    entry_number: int | None = None
    document_type: str | None = None


class GeneralLedgerEntriesStream(CompanyStream):
    """G/L entries with their dimension set lines, changed after the cursor (`$filter=lastModifiedDateTime gt`,
    §3.4). Posted entries are corrected by new entries, never edited or deleted, so there are no deletions."""

    name = "general_ledger_entries"
    path = "/{environment}/api/v2.0/companies({company})/generalLedgerEntries"
    role = Role.ledger_lines
    params = {"$expand": "dimensionSetLines"}
    incremental = Incremental(key="lastModifiedDateTime",
                              value=lambda raw: parse_instant(raw.get("lastModifiedDateTime")),
                              encode=format_instant, decode=parse_instant, send_as="param", name="$filter")
    fields = (SourceField("entryNumber", "integer", attribute="entry_number"),
              SourceField("documentNumber", attribute="source_journal_id"),
              SourceField("documentType", attribute="document_type"))

    def request_params(self, cursor: str | None, request: PageRequest, options: Options) -> dict[str, Any]:
        params = {**self.params, **request.params}
        since = options.get("modified_since")
        moment = max(filter(None, (parse_instant(cursor), since.astimezone(UTC) if since else None)), default=None)
        if moment is not None:
            params["$filter"] = f"lastModifiedDateTime gt {format_instant(moment)}"
        return params

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[LedgerLine]:
        values = tuple(DimensionValue(dimension_id=d.get("id"), member_id=d.get("valueId"),
                                      dimension_name=d.get("displayName") or d.get("code"),
                                      member_name=d.get("valueDisplayName") or d.get("valueCode"))
                       for d in raw.get("dimensionSetLines") or ())
        yield _Entry(
            source_line_id=raw["id"], account_id=raw["accountId"],
            amount=Decimal(str(raw.get("debitAmount") or 0)) - Decimal(str(raw.get("creditAmount") or 0)),
            date=date.fromisoformat(raw["postingDate"]), source_journal_id=str(raw.get("documentNumber") or ""),
            description=raw.get("description") or "", dimension_values=values,
            created_at=parse_instant(raw.get("lastModifiedDateTime")), account_code=raw.get("accountNumber"),
            entry_number=raw.get("entryNumber"), document_type=raw.get("documentType") or None)


class TrialBalancesStream(CompanyStream):
    """`trialBalances` for each month that ends at a period end (option `period_ends`):
    `$filter=dateFilter ge <first of the month> and dateFilter le <period end>` (Microsoft's own example, §3.3).
    totalDebit/totalCredit are the net change between the dates: the month's movement, which reconciliation
    compares as it is; balanceAtDate* the balance at the end date. Amounts are strings, with thousands
    separators. Heading and total lines are not accounts."""

    name = "trial_balance"
    path = "/{environment}/api/v2.0/companies({company})/trialBalances"
    role = Role.trial_balance
    paginator = EachOption(param="period_end", option="period_ends")

    def request_params(self, cursor: str | None, request: PageRequest, options: Options) -> dict[str, Any]:
        end = date.fromisoformat(str(request.params["period_end"]))
        return {"$filter": f"dateFilter ge {end.replace(day=1).isoformat()} and dateFilter le {end.isoformat()}"}

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[TrialBalanceRow]:
        if (raw.get("accountType") or "Posting") != "Posting" or not raw.get("accountId"):
            return
        debit, credit = _amount(raw.get("totalDebit")), _amount(raw.get("totalCredit"))
        balance = _amount(raw.get("balanceAtDateDebit")) - _amount(raw.get("balanceAtDateCredit"))
        # year_to_date: the balance at the date, for every class (a P&L account's runs from its last closing
        # at Business Central); month_movement is what reconciliation reads.
        yield TrialBalanceRow(period_end=date.fromisoformat(str(request.params["period_end"])),
                              account_id=raw["accountId"], account_code=raw.get("number") or None,
                              account_name=raw.get("display") or "", year_to_date=balance, debit=debit,
                              credit=credit, month_movement=debit - credit)


def _amount(text: Any) -> Decimal:
    return Decimal(str(text or "0").replace(",", ""))


class BusinessCentralConnector(Connector):
    key = "business_central"
    display_name = "Business Central"
    auth_kind = "oauth2"
    scopes = (SCOPE,)
    uses_pkce = True  # MSAL adds it
    dimension_kinds = ("dimensions",)
    streams = (CompanyInformationStream(), CurrenciesStream(), AccountsStream(), DimensionsStream(),
               GeneralLedgerEntriesStream(), TrialBalancesStream())
    rate_limits = BUSINESS_CENTRAL_LIMITS
    refresh_token_idle_days = 90  # Entra refresh tokens: 90 days (providers.md §0.2, §3.1)

    def __init__(self, *, client_id: str, client_secret: str, endpoints: BusinessCentralEndpoints | None = None,
                 setup: Mapping[str, str] | None = None, http: HttpClient | None = None,
                 rate_limits: RateLimits | None = None, msal_http: requests.Session | None = None) -> None:
        super().__init__(setup=setup, http=http, rate_limits=rate_limits)
        self.endpoints = endpoints or BusinessCentralEndpoints.real()
        self.api_base = f"{self.endpoints.api_root}/v2.0"
        real = self.endpoints.authority.startswith("https://login.microsoftonline.com/")
        self.auth = MsalFlow(client_id=client_id, client_secret=client_secret, authority=self.endpoints.authority,
                             scopes=self.scopes, http_client=msal_http, validate_authority=real)

    def url_for(self, stream: Stream, tenant_id: str) -> str:
        environment, company = tenant_id.split("/", 1)
        return self.api_base + stream.path.format(environment=environment, company=company)

    def request_headers(self, tenant_id: str) -> dict[str, str]:
        return {"Accept": "application/json", "Data-Access-Intent": "ReadOnly"}  # a read replica will do (§3.5)

    def group_of(self, provider_entity_id: str) -> str | None:
        """The environment a company is in (the wizard offers it first where there are several, §3.2)."""
        return provider_entity_id.split("/", 1)[0] if "/" in provider_entity_id else None

    def rate_key(self, tenant_id: str) -> str:
        """Business Central counts requests per user (6,000 per 5 minutes, 5 at once, §3.5), whatever the
        environment or company: one budget for everything one sign-in reads."""
        return f"{self.key}:user:{self.setup.get('aad_tenant', '')}/{self.setup.get('user', '')}"

    def list_companies(self, token: TokenSource, log: list[RequestRecord] | None = None) -> list[Company]:
        """Every company of every environment the user reaches (§3.2); named with its environment where
        there are several."""
        environments = self._collection(f"{self.endpoints.api_root}/environments/v1.2", token, log)
        names = [e["name"] for e in environments]
        companies = []
        for environment in names:
            for company in self._collection(f"{self.api_base}/{environment}/api/v2.0/companies", token, log):
                label = company.get("displayName") or company.get("name") or company["id"]
                companies.append(Company(provider_entity_id=f"{environment}/{company['id']}",
                                         name=f"{label} ({environment})" if len(names) > 1 else label,
                                         kind="company"))
        return companies

    def _collection(self, url: str, token: TokenSource, log: list[RequestRecord] | None) -> list[dict[str, Any]]:
        response, record = self.http.request("GET", url, rate_key=self.rate_key(""), limits=self.rate_limits,
                                             token=token, headers={"Accept": "application/json"}, log=log)
        body = self.decode(response, record.endpoint)
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise BadResponse("not an OData collection", endpoint=record.endpoint, status=response.status_code)
        record.rows = len(body["value"])
        return body["value"]
