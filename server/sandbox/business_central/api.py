"""Business Central's API v2.0 over the sandbox's ground truth: environments, companies and, per company,
companyInformation, accounts, dimensions (with their values), currencies and generalLedgerEntries with their
dimensionSetLines, in OData JSON with server-driven paging (`@odata.nextLink`) (providers.md 3.2-3.5).

The organisations are companies of the demo user's tenant, spread over two environments when there are
several (a production and a sandbox environment, as an admin center shows them). Every journal line is a G/L
entry, numbered in posting order; Business Central never deletes one (a correction posts new entries).
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, current_app, request

from server.sandbox.business_central.identity import TENANT_ID
from server.sandbox.data import currencies
from server.sandbox.ledger import Account, Organisation
from server.sandbox.state import Sandbox

bc_api = Blueprint("bc_api", __name__, url_prefix="/business_central")

DEFAULT_PAGE = 20_000  # entities per page unless the client prefers fewer (odata.maxpagesize)
CATEGORIES = {"ASSET": "Assets", "LIABILITY": "Liabilities", "EQUITY": "Equity", "REVENUE": "Income",
              "EXPENSE": "Expense"}
_MODIFIED = re.compile(r"^lastModifiedDateTime\s+gt\s+(\S+)$", re.I)
_MAX_PAGE = re.compile(r"odata\.maxpagesize=(\d+)")
_DATES = re.compile(r"^dateFilter\s+ge\s+(\d{4}-\d{2}-\d{2})\s+and\s+dateFilter\s+le\s+(\d{4}-\d{2}-\d{2})$", re.I)


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def instant(ms: int) -> str:
    """`2019-08-18T20:05:51.603Z`."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def environment_of(sandbox: Sandbox, tenant_id: str) -> str:
    ids = list(sandbox.organisations)
    return "sandbox" if len(ids) > 1 and tenant_id == ids[-1] else "production"


def _odata(context: str, items: list[dict], next_link: str | None = None):
    body = {"@odata.context": context, "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    return _sandbox().json_response(body)


@bc_api.get("/environments/v1.2")
def environments():
    sandbox = _sandbox()

    def answer():
        sandbox.oauth.authenticate(request.headers.get("Authorization"))
        names = sorted({environment_of(sandbox, t) for t in sandbox.organisations})
        return sandbox.json_response({"value": [
            {"friendlyName": name.title(), "type": "Sandbox" if name == "sandbox" else "Production", "name": name,
             "countryCode": "US", "applicationFamily": "BusinessCentral", "aadTenantId": TENANT_ID,
             "webServiceUrl": f"{request.url_root.rstrip('/')}/business_central/v2.0/{name}/api/v2.0",
             "ringName": "PROD", "status": "Active"} for name in names]})

    return sandbox.guard_identity("environments", answer)


@bc_api.get("/v2.0/<environment>/api/v2.0/companies")
def companies(environment: str):
    sandbox = _sandbox()

    def answer():
        token = sandbox.oauth.authenticate(request.headers.get("Authorization"))
        found = [{"id": tenant_id, "systemVersion": "26.0.30643.0", "timestamp": 1, "name": org.name,
                  "displayName": org.name, "businessProfileId": "", "systemCreatedAt": instant(org.created_ms),
                  "systemCreatedBy": "00000000-0000-0000-0000-000000000001",
                  "systemModifiedAt": instant(org.created_ms),
                  "systemModifiedBy": "00000000-0000-0000-0000-000000000001"}
                 for tenant_id, org in sandbox.organisations.items()
                 if environment_of(sandbox, tenant_id) == environment
                 and sandbox.oauth.is_connected(token.client_id, tenant_id)]
        return _odata(f"{request.base_url}/$metadata#companies", found)

    return sandbox.guard_identity("companies", answer)


def _guard(environment: str, company_id: str, endpoint: str, respond):
    sandbox = _sandbox()
    if company_id in sandbox.organisations and environment_of(sandbox, company_id) != environment:
        return sandbox.problem(404, "BadRequest_ResourceNotFound", f"Company {company_id} is not in {environment}")
    return sandbox.guard_api(endpoint, company_id, lambda org, app_name: respond(org))


COMPANY = "/v2.0/<environment>/api/v2.0/companies(<company_id>)"


@bc_api.get(f"{COMPANY}/companyInformation")
def company_information(environment: str, company_id: str):
    def respond(org: Organisation):
        profile = org.profile
        start = _fiscal_year_start(org, date.today())
        return _odata(f"{request.base_url}/$metadata#companyInformation", [{
            "id": company_id, "displayName": org.name, "currencyCode": profile.base_currency,
            "country": profile.country, "currentFiscalYearStartDate": start.isoformat(),
            "lastModifiedDateTime": instant(org.created_ms)}])

    return _guard(environment, company_id, "companyInformation", respond)


def _fiscal_year_start(org: Organisation, day: date) -> date:
    year_end = date(day.year, org.profile.year_end_month, org.profile.year_end_day)
    if day <= year_end:
        year_end = date(day.year - 1, org.profile.year_end_month, org.profile.year_end_day)
    return year_end + timedelta(days=1)


def account_json(account: Account) -> dict:
    category = "Cost of Goods Sold" if account.type == "DIRECTCOSTS" else CATEGORIES[account.account_class]
    return {"id": account.account_id, "number": account.code, "displayName": account.name, "category": category,
            "subCategory": "", "blocked": account.status != "ACTIVE", "accountType": "Posting",
            "directPosting": True, "netChange": 0, "consolidationTranslationMethod": "",
            "consolidationDebitAccount": "", "consolidationCreditAccount": "", "excludeFromConsolidation": False,
            "lastModifiedDateTime": instant(account.updated_ms)}


@bc_api.get(f"{COMPANY}/accounts")
def accounts(environment: str, company_id: str):
    def respond(org: Organisation):
        with org.lock:
            items = [account_json(a) for a in org.accounts]
        return _odata(f"{request.base_url}/$metadata#accounts", items)

    return _guard(environment, company_id, "accounts", respond)


@bc_api.get(f"{COMPANY}/dimensions")
def dimensions(environment: str, company_id: str):
    expand = "dimensionvalues" in request.args.get("$expand", "").lower()

    def respond(org: Organisation):
        with org.lock:
            categories = list(org.tracking)
        items = []
        for category in categories:
            item = {"id": category.category_id, "code": category.name.upper(), "displayName": category.name,
                    "lastModifiedDateTime": instant(org.created_ms)}
            if expand:
                item["dimensionValues"] = [
                    {"id": o.option_id, "code": o.name.upper()[:20], "dimensionId": category.category_id,
                     "displayName": o.name, "lastModifiedDateTime": instant(org.created_ms)} for o in category.options]
            items.append(item)
        return _odata(f"{request.base_url}/$metadata#dimensions", items)

    return _guard(environment, company_id, "dimensions", respond)


@bc_api.get(f"{COMPANY}/currencies")
def list_currencies(environment: str, company_id: str):
    def respond(org: Organisation):
        base = org.profile.base_currency
        items = [{"id": f"{i:08d}-0000-0000-0000-000000000000", "code": code, "displayName": name, "symbol": "",
                  "amountDecimalPlaces": "2:2", "amountRoundingPrecision": 0.01,
                  "lastModifiedDateTime": instant(org.created_ms)}
                 for i, (code, name) in enumerate(currencies(org.profile)) if code != base]
        return _odata(f"{request.base_url}/$metadata#currencies", items)

    return _guard(environment, company_id, "currencies", respond)


@bc_api.get(f"{COMPANY}/generalLedgerEntries")
def general_ledger_entries(environment: str, company_id: str):
    """G/L entries in entry-number order; `$filter=lastModifiedDateTime gt <instant>`; `$expand=dimensionSetLines`;
    pages of `Prefer: odata.maxpagesize=N` entries, the next one named by `@odata.nextLink` ($skiptoken)."""
    text = request.args.get("$filter", "").strip()
    since_ms = None
    if text:
        match = _MODIFIED.match(text)
        moment = _parse(match[1]) if match else None
        if moment is None:
            return _sandbox().problem(400, "BadRequest", f"Unsupported $filter: {text[:80]}")
        since_ms = int(moment.timestamp() * 1000)
    skip = request.args.get("$skiptoken", "0")
    if not skip.isdigit():
        return _sandbox().problem(400, "BadRequest", "The $skiptoken is not valid")
    wanted = _MAX_PAGE.search(request.headers.get("Prefer", ""))
    size = min(int(wanted[1]) if wanted else DEFAULT_PAGE, DEFAULT_PAGE)
    expand = "dimensionsetlines" in request.args.get("$expand", "").lower()

    def respond(org: Organisation):
        with org.lock:
            journals = list(org.journals)
        page, number, last = [], 0, None
        for journal in journals:
            for line in journal.lines:
                number += 1
                if number <= int(skip) or (since_ms is not None and journal.created_ms <= since_ms):
                    continue
                if len(page) == size:
                    break
                page.append(_entry(number, journal, line, expand))
                last = number
            if len(page) == size:
                break
        more = len(page) == size and number > (last or 0)
        next_link = None
        if more:
            args = {**request.args.to_dict(), "$skiptoken": str(last)}
            next_link = request.base_url + "?" + "&".join(f"{k}={v}" for k, v in args.items())
        return _odata(f"{request.base_url}/$metadata#generalLedgerEntries", page, next_link)

    return _guard(environment, company_id, "generalLedgerEntries", respond)


@bc_api.get(f"{COMPANY}/trialBalances")
def trial_balances(environment: str, company_id: str):
    """The trial balance between two dates (`$filter=dateFilter ge <from> and dateFilter le <to>`, as
    Microsoft's example asks): per posting account, the net change in the range as totalDebit/totalCredit and
    the balance at the end date (every entry before it) as balanceAtDateDebit/Credit; amounts are strings with
    thousands separators, as the API writes them (providers.md 3.3)."""
    match = _DATES.match(request.args.get("$filter", "").strip())
    try:
        start, end = (date.fromisoformat(match[1]), date.fromisoformat(match[2])) if match else (None, None)
    except ValueError:
        start = end = None
    if start is None or end is None or end < start:
        return _sandbox().problem(400, "BadRequest", "Expected $filter=dateFilter ge <date> and dateFilter le <date>")

    def respond(org: Organisation):
        with org.lock:
            chart = list(org.accounts)
        moved = org.balances(start.toordinal(), end.toordinal())
        held = org.balances(1, end.toordinal())
        for account_id, first_day, cents in list(org.report_adjustments):
            if first_day <= end.toordinal():
                held[account_id] = held.get(account_id, 0) + cents
                if first_day >= start.toordinal():
                    moved[account_id] = moved.get(account_id, 0) + cents
        items = []
        for account in sorted(chart, key=lambda a: a.code):
            change, balance = moved.get(account.account_id, 0), held.get(account.account_id, 0)
            items.append({"accountId": account.account_id, "number": account.code, "accountType": "Posting",
                          "display": account.name, "totalDebit": _amount(max(change, 0)),
                          "totalCredit": _amount(max(-change, 0)), "balanceAtDateDebit": _amount(max(balance, 0)),
                          "balanceAtDateCredit": _amount(max(-balance, 0)), "dateFilter": end.isoformat()})
        return _odata(f"{request.base_url}/$metadata#trialBalances", items)

    return _guard(environment, company_id, "trialBalances", respond)


def _amount(cents: int) -> str:
    return f"{cents / 100:,.2f}"


def _entry(number: int, journal, line, expand: bool) -> dict:
    item = {"id": line.line_id, "entryNumber": number, "postingDate": date.fromordinal(journal.day).isoformat(),
            "documentNumber": journal.reference[:20], "documentType": "", "accountId": line.account.account_id,
            "accountNumber": line.account.code, "description": line.description[:100],
            "debitAmount": round(max(line.net, 0) / 100, 2), "creditAmount": round(max(-line.net, 0) / 100, 2),
            "additionalCurrencyDebitAmount": 0, "additionalCurrencyCreditAmount": 0,
            "lastModifiedDateTime": instant(journal.created_ms)}
    if expand:
        item["dimensionSetLines"] = [
            {"id": tag["TrackingCategoryID"], "code": tag["Name"].upper(), "parentId": line.line_id,
             "parentType": "General_x0020_Ledger_x0020_Entry", "displayName": tag["Name"],
             "valueId": tag["TrackingOptionID"], "valueCode": tag["Option"].upper()[:20],
             "valueDisplayName": tag["Option"]} for tag in line.tracking]
    return item


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
