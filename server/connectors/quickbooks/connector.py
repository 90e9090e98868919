"""QuickBooks Online: declarations plus the hooks where Intuit's API is odd (one company per consent, the query
language, change data capture, Fault bodies). Facts from research/providers.md §2 and wave2.md §6.

The ledger comes from JournalEntry objects, read whole through the query language on a first load (or when the
cursor is older than CDC's 30 days) and through change data capture afterwards; not from month-sliced
GeneralLedger reports. Why: CDC is the only way QuickBooks tells a reader about deletions (`status: Deleted`,
§2.5) and it works on entities, not reports; entities carry stable ids for every line, so a re-read upserts
instead of duplicating, where a report's rows carry only the transaction's id (§2.4) and Intuit asks for
report ranges of about six months. What a report is good at, the trial balance, is read as a report.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    Role,
    TrialBalanceRow,
)
from server.connectors.framework.streams import Incremental, Page, Stream

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

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Account]:
        yield Account(source_id=raw["Id"], code=raw.get("AcctNum") or None,
                      name=raw.get("FullyQualifiedName") or raw["Name"], account_type=raw.get("AccountType"),
                      account_class=CLASSES.get(raw.get("Classification") or ""),
                      status="active" if raw.get("Active", True) else "archived",
                      currency=(raw.get("CurrencyRef") or {}).get("value"),
                      updated_at=parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime")))


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


def _updated(raw: dict[str, Any]) -> datetime | None:
    return parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime"))


_CHANGED = Incremental(key="LastUpdatedTime", value=_updated, encode=format_instant,
                       decode=lambda cursor: parse_instant(cursor), send_as="param", name="changedSince")


def journal_entry_lines(raw: dict[str, Any]) -> list[LedgerLine]:
    """A JournalEntry's lines: Amount is unsigned, PostingType gives the side (§2.4); a foreign-currency entry
    is brought home with ExchangeRate, home units per foreign unit (§2.3)."""
    rate = Decimal(str(raw.get("ExchangeRate") or 1))
    created = parse_instant((raw.get("MetaData") or {}).get("CreateTime"))
    posted = datetime.fromisoformat(raw["TxnDate"]).date()
    lines = []
    for line in raw.get("Line") or ():
        detail = line.get("JournalEntryLineDetail")
        if detail is None:  # description-only lines carry no amount
            continue
        sign = 1 if detail["PostingType"] == "Debit" else -1
        values = tuple(DimensionValue(dimension_id=kind, member_id=ref["value"], dimension_name=kind,
                                      member_name=ref.get("name"))
                       for kind, ref in (("Class", detail.get("ClassRef")), ("Department", detail.get("DepartmentRef")))
                       if ref)
        account = detail["AccountRef"]
        lines.append(LedgerLine(
            source_line_id=f"{raw['Id']}-{line['Id']}", account_id=account["value"],
            amount=(Decimal(str(line["Amount"])) * rate * sign).quantize(Decimal("0.0001")), date=posted,
            source_journal_id=raw["Id"], description=line.get("Description") or "", dimension_values=values,
            created_at=created, account_name=account.get("name")))
    return lines


class JournalEntryChangesStream(QuickBooksStream):
    """Changed and deleted JournalEntries since the cursor, by change data capture (§2.5). A changed entry is
    its Deletion and then its lines (an edit may have dropped lines); a deleted one is its Deletion."""

    name = "journal_entries"
    path = "/{tenant}/cdc"
    role = Role.ledger_lines
    records_path = "CDCResponse"
    params = {"minorversion": MINOR_VERSION, "entities": "JournalEntry"}
    incremental = _CHANGED
    reports_deletions = True

    def extract_records(self, body: Any) -> list[Any]:
        answers = super().extract_records(body)
        return [entry for answer in answers for found in answer.get("QueryResponse") or ()
                for entry in found.get("JournalEntry") or ()]

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> list[Any]:
        if raw.get("status") == "Deleted":
            return [Deletion(source_journal_id=raw["Id"])]
        return [Deletion(source_journal_id=raw["Id"]), *journal_entry_lines(raw)]


class JournalEntriesStream(QuickBooksStream):
    """Every JournalEntry through the query language: the first load, and the re-pull once the cursor has left
    CDC's window. Same name and cursor as the changes stream, which it stands in for."""

    name = JournalEntryChangesStream.name
    path = "/{tenant}/query"
    role = Role.ledger_lines
    records_path = "QueryResponse.JournalEntry"
    paginator = _query("JournalEntry")
    incremental = Incremental(key="LastUpdatedTime", value=_updated, encode=format_instant,
                              decode=lambda cursor: parse_instant(cursor), send_as="paginator")

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> list[LedgerLine]:
        return journal_entry_lines(raw)


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


CHANGES = JournalEntryChangesStream()
EVERYTHING = JournalEntriesStream()


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
               CHANGES, TrialBalanceStream())
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
        """The ledger by CDC while the cursor is inside its window; otherwise (a first load, a long gap) every
        JournalEntry again. A CDC answer that is full (every entry in it is one Deletion, so a page with
        CDC_MAX_OBJECTS of them) is not a safe checkpoint: what it holds is applied without moving the cursor,
        and everything is read again."""
        stream = self.stream(stream) if isinstance(stream, str) else stream
        if stream is not CHANGES:
            yield from super().pull(stream, token=token, tenant_id=tenant_id, cursor=cursor, options=options, log=log)
            return
        since = parse_instant(cursor) if cursor else None
        if since is None or since < self.clock() - CDC_WINDOW + CDC_MARGIN:
            yield from super().pull(EVERYTHING, token=token, tenant_id=tenant_id, cursor=cursor, options=options,
                                    log=log)
            return
        for page in super().pull(CHANGES, token=token, tenant_id=tenant_id, cursor=cursor, options=options,
                                 log=log):
            if page.deletions < CDC_MAX_OBJECTS:
                yield page
                continue
            page.cursor = cursor
            yield page
            yield from super().pull(EVERYTHING, token=token, tenant_id=tenant_id, cursor=cursor, options=options,
                                    log=log)
