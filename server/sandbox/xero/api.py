"""The Accounting API (api.xro/2.0): Organisation, Accounts, TrackingCategories, Currencies,
Journals and the Trial Balance report, in Xero's JSON shapes."""
from __future__ import annotations

from datetime import date, timedelta

import orjson
from flask import Blueprint, current_app, request

from server.sandbox.data import currencies
from server.sandbox.ledger import Account, Journal, Organisation
from server.sandbox.state import Sandbox
from server.sandbox.units import day_ms, money, ms_day
from server.sandbox.xero.format import cents_text, collection, net_date, parse_if_modified_since

xero_api = Blueprint("xero_api", __name__, url_prefix="/xero/api.xro/2.0")

REPORT_SECTIONS = [("Revenue", "REVENUE"), ("Expenses", "EXPENSE"), ("Assets", "ASSET"),
                   ("Liabilities", "LIABILITY"), ("Equity", "EQUITY")]
REPORTING_CODES = {"ASSET": ("ASS", "Assets"), "LIABILITY": ("LIA", "Liabilities"),
                   "EQUITY": ("EQU", "Equity"), "REVENUE": ("REV", "Revenue"), "EXPENSE": ("EXP", "Expense")}


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def _validation_error(message: str):
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": message}
    return _sandbox().json_response(body, 400)


# The scopes that open each endpoint, from the `security` blocks of Xero's OpenAPI (xero_accounting.yaml), plus
# the granular report scope that replaces accounting.reports.read for apps created on/after 2 March 2026.
SETTINGS = frozenset({"accounting.settings", "accounting.settings.read"})
SCOPES_OF = {
    "Organisation": SETTINGS, "Accounts": SETTINGS, "TrackingCategories": SETTINGS, "Currencies": SETTINGS,
    "Journals": frozenset({"accounting.journals.read"}),
    "TrialBalance": frozenset({"accounting.reports.read", "accounting.reports.trialbalance.read"}),
}
# What the sandbox answers for an endpoint an organisation's plan (or the app's approval) does not include.
# Xero does not document this body; it is shaped like its other 403s.
NOT_ENTITLED = "This organisation's subscription or this app's approval does not include {endpoint}"


def _guard(endpoint: str, respond):
    """Every Accounting API call carries a token with one of the endpoint's scopes (else 401
    AuthorizationUnsuccessful, as Xero answers) and names its organisation in the xero-tenant-id header."""
    sandbox = _sandbox()
    token = sandbox.oauth.authenticate(request.headers.get("Authorization"))
    if not set(token.scope.split()) & SCOPES_OF[endpoint]:
        return sandbox.problem(401, "Unauthorized", "AuthorizationUnsuccessful")
    tenant_id = (request.headers.get("xero-tenant-id") or "").strip()

    def answer(org: Organisation, app_name: str):
        if endpoint in org.refused_endpoints:
            return sandbox.problem(403, "Forbidden", NOT_ENTITLED.format(endpoint=endpoint))
        return respond(org, app_name)

    return sandbox.guard_api(endpoint, tenant_id, answer)


def _collection(app_name: str, key: str, items: list) -> bytes:
    return collection(app_name, _sandbox().now_ms(), key, [orjson.dumps(item) for item in items])


@xero_api.get("/Organisation")
def organisation():
    def respond(org: Organisation, app_name: str):
        return _sandbox().json_response(_collection(app_name, "Organisations", [organisation_json(org)]))

    return _guard("Organisation", respond)


@xero_api.get("/Accounts")
def accounts():
    since = parse_if_modified_since(request.headers.get("If-Modified-Since"))

    def respond(org: Organisation, app_name: str):
        with org.lock:
            chosen = [account_json(a) for a in org.accounts if since is None or a.updated_ms > since]
        return _sandbox().json_response(_collection(app_name, "Accounts", chosen))

    return _guard("Accounts", respond)


@xero_api.get("/TrackingCategories")
def tracking_categories():
    include_archived = request.args.get("includeArchived", "").lower() == "true"

    def respond(org: Organisation, app_name: str):
        with org.lock:
            chosen = [tracking_json(c, include_archived) for c in org.tracking
                      if include_archived or c.status == "ACTIVE"]
        return _sandbox().json_response(_collection(app_name, "TrackingCategories", chosen))

    return _guard("TrackingCategories", respond)


@xero_api.get("/Currencies")
def list_currencies():
    def respond(org: Organisation, app_name: str):
        items = [{"Code": code, "Description": name} for code, name in currencies(org.profile)]
        return _sandbox().json_response(_collection(app_name, "Currencies", items))

    return _guard("Currencies", respond)


@xero_api.get("/Journals")
def journals():
    offset_text = request.args.get("offset", "0")
    if not offset_text.lstrip("-").isdigit():
        return _validation_error("offset must be an integer")
    offset = int(offset_text)
    since = parse_if_modified_since(request.headers.get("If-Modified-Since"))

    def respond(org: Organisation, app_name: str):
        page = org.journal_page(offset, since)
        return _sandbox().json_response(collection(app_name, _sandbox().now_ms(), "Journals", page))

    return _guard("Journals", respond)


@xero_api.get("/Reports/TrialBalance")
def trial_balance():
    try:
        as_at = date.fromisoformat(request.args["date"]) if request.args.get("date") else None
    except ValueError:
        return _validation_error("date must be YYYY-MM-DD")

    def respond(org: Organisation, app_name: str):
        day = as_at or date.fromordinal(ms_day(_sandbox().now_ms()))
        report = trial_balance_report(org, day, _sandbox().now_ms())
        return _sandbox().json_response(_collection(app_name, "Reports", [report]))

    return _guard("TrialBalance", respond)


def render_journal(journal: Journal) -> bytes:
    lines = []
    for line in journal.lines:
        item = {"JournalLineID": line.line_id, **line.account.line_fields}
        if line.description:
            item["Description"] = line.description
        item["NetAmount"] = money(line.net)
        item["GrossAmount"] = money(line.net + line.tax)
        item["TaxAmount"] = money(line.tax)
        if line.tax_rate is not None:
            item["TaxType"] = line.tax_rate.tax_type
            item["TaxName"] = line.tax_rate.name
        item["TrackingCategories"] = line.tracking
        lines.append(item)
    return orjson.dumps({
        "JournalID": journal.journal_id, "JournalDate": net_date(day_ms(journal.day)),
        "JournalNumber": journal.number, "CreatedDateUTC": net_date(journal.created_ms),
        "Reference": journal.reference, "SourceID": journal.source_id, "SourceType": journal.source_type,
        "JournalLines": lines,
    })


def organisation_json(org: Organisation) -> dict:
    profile = org.profile
    return {
        "APIKey": "", "Name": org.name, "LegalName": f"{org.name} Limited", "PaysTax": True,
        "Version": profile.version, "OrganisationType": "COMPANY", "BaseCurrency": profile.base_currency,
        "CountryCode": profile.country, "IsDemoCompany": True, "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": profile.year_end_day, "FinancialYearEndMonth": profile.year_end_month,
        "SalesTaxBasis": "ACCRUALS", "SalesTaxPeriod": "QUARTERLY1", "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive", "CreatedDateUTC": net_date(org.created_ms),
        "OrganisationEntityType": "COMPANY", "Timezone": profile.timezone,
        "ShortCode": "!" + org.tenant_id[:5], "OrganisationID": org.tenant_id, "Edition": "BUSINESS",
        "Class": "DEMO", "LineOfBusiness": "Professional services", "Addresses": [], "Phones": [],
        "ExternalLinks": [], "PaymentTerms": {},
    }


def account_json(account: Account) -> dict:
    code, code_name = REPORTING_CODES[account.account_class]
    item = {
        "AccountID": account.account_id, "Code": account.code, "Name": account.name,
        "Status": account.status, "Type": account.type, "TaxType": account.tax_type,
        "Class": account.account_class, "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": account.account_class == "EXPENSE", "ReportingCode": code,
        "ReportingCodeName": code_name, "HasAttachments": False,
        "UpdatedDateUTC": net_date(account.updated_ms), "AddToWatchlist": False,
    }
    if account.system_account:
        item["SystemAccount"] = account.system_account
    if account.type == "BANK":
        item.update(BankAccountNumber="0622-0621-1234", BankAccountType="BANK")
    return item


def tracking_json(category, include_archived: bool) -> dict:
    options = [{"TrackingOptionID": o.option_id, "Name": o.name, "Status": o.status,
                "TrackingCategoryID": category.category_id}
               for o in category.options if include_archived or o.status == "ACTIVE"]
    return {"Name": category.name, "Status": category.status, "TrackingCategoryID": category.category_id,
            "Options": options}


def financial_year_start(org: Organisation, day: date) -> date:
    """First day of the financial year containing `day`, from the organisation's year-end."""
    month, last_day = org.profile.year_end_month, org.profile.year_end_day
    year_end = date(day.year, month, last_day)
    if day <= year_end:
        year_end = date(day.year - 1, month, last_day)
    return year_end + timedelta(days=1)


def trial_balance_report(org: Organisation, as_at: date, now_ms: int) -> dict:
    """Xero's Trial Balance as its help describes the columns: Debit and Credit are the figures of the month
    `as_at` falls in (from its first day to `as_at`); YTD Debit and YTD Credit are the year to date for
    revenue and expense accounts and, for asset, liability and equity accounts, the balance including every
    prior year, with prior years' profit folded into Retained Earnings. Both pairs of columns balance."""
    year_start = financial_year_start(org, as_at)
    month_start = as_at.replace(day=1)
    to_date = org.balances(1, as_at.toordinal())
    year_to_date = org.balances(year_start.toordinal(), as_at.toordinal())
    month = org.balances(month_start.toordinal(), as_at.toordinal())
    for account_id, first_day, cents in list(org.report_adjustments):
        if first_day <= as_at.toordinal():
            to_date[account_id] = to_date.get(account_id, 0) + cents
            if first_day >= year_start.toordinal():
                year_to_date[account_id] = year_to_date.get(account_id, 0) + cents
            if first_day >= month_start.toordinal():
                month[account_id] = month.get(account_id, 0) + cents
    profit_and_loss = {"REVENUE", "EXPENSE"}
    with org.lock:
        accounts = list(org.accounts)
    prior_profit = sum(to_date.get(a.account_id, 0) - year_to_date.get(a.account_id, 0)
                       for a in accounts if a.account_class in profit_and_loss)
    rows: list[dict] = [{"RowType": "Header", "Cells": [{"Value": v} for v in
                                                         ("Account", "Debit", "Credit", "YTD Debit", "YTD Credit")]}]
    totals = [0, 0, 0, 0]
    for title, account_class in REPORT_SECTIONS:
        section_rows = []
        for account in (a for a in accounts if a.account_class == account_class):
            moved = month.get(account.account_id, 0)
            ytd = year_to_date.get(account.account_id, 0) if account_class in profit_and_loss \
                else to_date.get(account.account_id, 0)
            if account.system_account == "RETAINEDEARNINGS":
                ytd += prior_profit
            if not moved and not ytd:
                continue
            amounts = [max(moved, 0), max(-moved, 0), max(ytd, 0), max(-ytd, 0)]
            totals = [t + a for t, a in zip(totals, amounts, strict=True)]
            attributes = [{"Value": account.account_id, "Id": "account"}]
            section_rows.append({"RowType": "Row", "Cells": [
                {"Value": f"{account.name} ({account.code})", "Attributes": attributes},
                *({"Value": cents_text(a) if a else "", "Attributes": attributes} for a in amounts)]})
        rows.append({"RowType": "Section", "Title": title, "Rows": section_rows})
    rows.append({"RowType": "Section", "Title": "", "Rows": [{"RowType": "SummaryRow", "Cells": [
        {"Value": "Total"}, *({"Value": cents_text(t)} for t in totals)]}]})
    report_date = f"{as_at.day} {as_at:%B %Y}"
    return {"ReportID": "TrialBalance", "ReportName": "Trial Balance", "ReportType": "TrialBalance",
            "ReportTitles": ["Trial Balance", org.name, f"As at {report_date}"], "ReportDate": report_date,
            "UpdatedDateUTC": net_date(now_ms), "Fields": [], "Rows": rows}

