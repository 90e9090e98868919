"""The QuickBooks Online Accounting API (v3) over the sandbox's ground truth: the query language, CompanyInfo,
Preferences, change data capture and the TrialBalance report, in Intuit's JSON shapes (providers.md 2.2-2.6).

Every organisation is one company (realm). Its journals are served as JournalEntry objects (a balanced,
multi-line posting is what a JournalEntry is); its first tracking category as Departments (what the company
calls Locations), its second as Classes.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, current_app, request

from server.sandbox.data import currencies
from server.sandbox.ledger import Account, Journal, Organisation
from server.sandbox.quickbooks.format import amount, meta, parse_timestamp, realm_of, timestamp
from server.sandbox.state import Sandbox
from server.sandbox.units import ms_day

quickbooks_api = Blueprint("quickbooks_api", __name__, url_prefix="/quickbooks/v3/company/<realm>")

MAX_RESULTS = 1000  # a query answers at most this many (providers.md 2.2)
CDC_MAX_OBJECTS = 1000  # a CDC answer holds at most this many objects, all entities together (providers.md 2.5)
CDC_LOOKBACK_DAYS = 30
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
TYPES = {  # the ground truth's account types -> (Classification, AccountType, AccountSubType)
    "BANK": ("Asset", "Bank", "Checking"), "CURRENT": ("Asset", "Accounts Receivable", "AccountsReceivable"),
    "PREPAYMENT": ("Asset", "Other Current Asset", "PrepaidExpenses"),
    "INVENTORY": ("Asset", "Other Current Asset", "Inventory"),
    "FIXED": ("Asset", "Fixed Asset", "MachineryAndEquipment"),
    "NONCURRENT": ("Asset", "Other Asset", "OtherLongTermAssets"),
    "CURRLIAB": ("Liability", "Other Current Liability", "OtherCurrentLiabilities"),
    "LIABILITY": ("Liability", "Other Current Liability", "OtherCurrentLiabilities"),
    "PAYG": ("Liability", "Other Current Liability", "PayrollTaxPayable"),
    "TERMLIAB": ("Liability", "Long Term Liability", "NotesPayable"),
    "EQUITY": ("Equity", "Equity", "OwnersEquity"), "REVENUE": ("Revenue", "Income", "SalesOfProductIncome"),
    "SALES": ("Revenue", "Income", "ServiceFeeIncome"),
    "OTHERINCOME": ("Revenue", "Other Income", "OtherMiscellaneousIncome"),
    "DIRECTCOSTS": ("Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    "EXPENSE": ("Expense", "Expense", "OfficeGeneralAdministrativeExpenses"),
    "OVERHEADS": ("Expense", "Expense", "OfficeGeneralAdministrativeExpenses"),
    "DEPRECIATN": ("Expense", "Other Expense", "Depreciation"),
}
_QUERY = re.compile(r"^\s*select\s+\*\s+from\s+(?P<entity>\w+)(?:\s+where\s+(?P<where>.*?))?"
                    r"(?:\s+orderby\s+[\w.]+(?:\s+(?:asc|desc))?)?"
                    r"(?:\s+startposition\s+(?P<start>\d+))?(?:\s+maxresults\s+(?P<max>\d+))?\s*$", re.I | re.S)
_ACTIVE = re.compile(r"^active\s*(?:=\s*(?P<one>true|false)|in\s*\((?P<many>[^)]*)\))$", re.I)
_UPDATED = re.compile(r"^metadata\.lastupdatedtime\s*(?P<op>>=|>)\s*'(?P<when>[^']+)'$", re.I)


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def _reply(body: dict, status: int = 200):
    return _sandbox().json_response({**body, "time": timestamp(_sandbox().now_ms())}, status)


def _validation(message: str, detail: str):
    return _sandbox().problem(400, message, detail)


def _guard(endpoint: str, realm: str, respond):
    """The realm in the path names the company; the framework checks the token, the grant, faults, limits."""
    sandbox = _sandbox()
    tenant_id = next((t for t in sandbox.organisations if realm_of(t) == realm), realm)
    return sandbox.guard_api(endpoint, tenant_id, lambda org, app_name: respond(org))


# ------------------------------------------------------------------------------------------ objects

class Books:
    """One company's lists and journals in QuickBooks' words: numeric ids per entity, Intuit's shapes."""

    def __init__(self, org: Organisation) -> None:
        self.org = org
        with org.lock:
            self.accounts = list(org.accounts)
            self.journals = list(org.journals)
            categories = list(org.tracking)
        self.account_ids = {a.account_id: str(i + 1) for i, a in enumerate(self.accounts)}
        self.lists = {"Department": categories[0] if categories else None,
                      "Class": categories[1] if len(categories) > 1 else None}
        self.option_ids = {o.option_id: str(i + 1) for c in categories for i, o in enumerate(c.options)}

    def account(self, account: Account) -> dict:
        classification, account_type, sub_type = TYPES[account.type]
        return {"Name": account.name, "SubAccount": False, "FullyQualifiedName": account.name,
                "Active": account.status == "ACTIVE", "Classification": classification, "AccountType": account_type,
                "AccountSubType": "RetainedEarnings" if account.system_account == "RETAINEDEARNINGS" else sub_type,
                "AcctNum": account.code, "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0,
                "CurrencyRef": {"value": self.org.profile.base_currency}, "domain": "QBO", "sparse": False,
                "Id": self.account_ids[account.account_id], "SyncToken": "0",
                "MetaData": meta(self.org.created_ms, account.updated_ms)}

    def list_items(self, entity: str) -> list[dict]:
        category = self.lists[entity]
        if category is None:
            return []
        sub = "SubClass" if entity == "Class" else "SubDepartment"
        return [{"Name": o.name, sub: False, "FullyQualifiedName": o.name, "Active": o.status == "ACTIVE",
                 "domain": "QBO", "sparse": False, "Id": self.option_ids[o.option_id], "SyncToken": "0",
                 "MetaData": meta(self.org.created_ms)} for o in category.options]

    def journal_entry(self, journal: Journal) -> dict:
        if journal.deleted_ms is not None:
            return {"domain": "QBO", "status": "Deleted", "Id": str(journal.number),
                    "MetaData": {"LastUpdatedTime": timestamp(journal.deleted_ms)}}
        lines, debits = [], 0
        for number, line in enumerate(journal.lines):
            detail = {"PostingType": "Debit" if line.net >= 0 else "Credit",
                      "AccountRef": {"value": self.account_ids[line.account.account_id], "name": line.account.name}}
            for tag in line.tracking:
                ref = "DepartmentRef" if tag["TrackingCategoryID"] == self._category_id("Department") else "ClassRef"
                detail[ref] = {"value": self.option_ids[tag["TrackingOptionID"]], "name": tag["Option"]}
            item = {"Id": str(number), "LineNum": number + 1, "Amount": amount(abs(line.net)),
                    "DetailType": "JournalEntryLineDetail", "JournalEntryLineDetail": detail}
            if line.description:
                item["Description"] = line.description
            debits += max(line.net, 0)
            lines.append(item)
        return {"Adjustment": False, "TotalAmt": amount(debits), "domain": "QBO", "sparse": False,
                "Id": str(journal.number), "SyncToken": "0", "MetaData": meta(journal.created_ms),
                "DocNumber": journal.reference[:21], "TxnDate": date.fromordinal(journal.day).isoformat(),
                "CurrencyRef": {"value": self.org.profile.base_currency}, "Line": lines}

    def _category_id(self, entity: str) -> str | None:
        category = self.lists[entity]
        return category.category_id if category else None

    def changed_ms(self, journal: Journal) -> int:
        return journal.deleted_ms or journal.created_ms

    def currencies(self) -> list[dict]:
        base = self.org.profile.base_currency
        return [{"Code": code, "Name": name, "Active": True, "domain": "QBO", "sparse": False, "Id": str(i + 1),
                 "SyncToken": "0", "MetaData": meta(self.org.created_ms)}
                for i, (code, name) in enumerate((c, n) for c, n in currencies(self.org.profile) if c != base)]

    def entities(self, name: str) -> list[tuple[dict, int]] | None:
        """Every object of an entity, each with when it last changed (epoch ms); None: not an entity we serve."""
        if name == "Account":
            return [(self.account(a), a.updated_ms) for a in self.accounts]
        if name in ("Class", "Department"):
            return [(item, self.org.created_ms) for item in self.list_items(name)]
        if name == "JournalEntry":
            return [(self.journal_entry(j), self.changed_ms(j)) for j in self.journals]
        if name == "CompanyCurrency":
            return [(item, self.org.created_ms) for item in self.currencies()]
        return None


# ------------------------------------------------------------------------------------------ endpoints

@quickbooks_api.route("/query", methods=["GET", "POST"])
def query(realm: str):
    """`?query=` on a GET, or the query as the body of a POST (Content-Type application/text), as Intuit takes
    both."""
    text = request.get_data(as_text=True) if request.method == "POST" else request.args.get("query", "")
    match = _QUERY.match(text)
    if not match:
        return _validation("Invalid query", f"QueryParserError: Encountered an error parsing the query: {text[:80]}")

    def respond(org: Organisation):
        books = Books(org)
        entity = next((e for e in ("Account", "Class", "Department", "JournalEntry", "CompanyCurrency")
                       if e.lower() == match["entity"].lower()), None)
        found = books.entities(entity) if entity else None
        if found is None:
            return _validation("Invalid query", f"QueryValidationError: Invalid entity {match['entity']}")
        chosen = _where(found, match["where"], lists=entity != "JournalEntry")
        if chosen is None:
            return _validation("Invalid query", f"QueryParserError: unsupported filter {match['where']}")
        start = max(int(match["start"] or 1), 1)
        size = min(int(match["max"] or 100), MAX_RESULTS)
        page = chosen[start - 1:start - 1 + size]
        answer = {entity: page, "startPosition": start, "maxResults": len(page)} if page else {}
        return _reply({"QueryResponse": answer})

    return _guard(match["entity"], realm, respond)


def _where(found: list[tuple[dict, int]], where: str | None, lists: bool) -> list[dict] | None:
    """The objects a WHERE clause keeps. Lists answer active objects unless the clause names Active (as
    QuickBooks does); deleted journal entries are never queried."""
    active: set[bool] | None = {True} if lists else None
    since: tuple[str, int] | None = None
    for condition in re.split(r"\s+and\s+", where or "", flags=re.I) if where else []:
        if (wanted := _ACTIVE.match(condition.strip())) is not None:
            values = [wanted["one"]] if wanted["one"] else wanted["many"].split(",")
            active = {v.strip().lower() == "true" for v in values}
        elif (updated := _UPDATED.match(condition.strip())) is not None:
            moment = parse_timestamp(updated["when"])
            if moment is None:
                return None
            since = (updated["op"], moment)
        else:
            return None
    kept = []
    for item, changed in found:
        if item.get("status") == "Deleted":
            continue
        if active is not None and item.get("Active", True) not in active:
            continue
        if since is not None and not (changed > since[1] if since[0] == ">" else changed >= since[1]):
            continue
        kept.append(item)
    return kept


@quickbooks_api.get("/companyinfo/<company_id>")
def company_info(realm: str, company_id: str):
    def respond(org: Organisation):
        profile = org.profile
        return _reply({"CompanyInfo": {
            "CompanyName": org.name, "LegalName": f"{org.name} Limited", "Country": profile.country,
            "CompanyAddr": {"Id": "1", "Country": profile.country}, "FiscalYearStartMonth": _year_start(org),
            "SupportedLanguages": "en", "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0",
            "MetaData": meta(org.created_ms), "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
        }})

    return _guard("CompanyInfo", realm, respond)


@quickbooks_api.get("/preferences")
def preferences(realm: str):
    def respond(org: Organisation):
        return _reply({"Preferences": {
            "AccountingInfoPrefs": {"TrackDepartments": True, "DepartmentTerminology": "Location",
                                    "ClassTrackingPerTxn": False, "ClassTrackingPerTxnLine": True,
                                    "FiscalYearStartMonth": _year_start(org), "CustomerTerminology": "Customers"},
            "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": org.profile.base_currency}},
            "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0", "MetaData": meta(org.created_ms)}})

    return _guard("Preferences", realm, respond)


@quickbooks_api.get("/cdc")
def change_data_capture(realm: str):
    names = [n.strip() for n in request.args.get("entities", "").split(",") if n.strip()]
    since = parse_timestamp(request.args.get("changedSince", ""))
    if not names or since is None:
        return _validation("Invalid request", "entities and changedSince are required")
    if since < _sandbox().now_ms() - CDC_LOOKBACK_DAYS * 86_400_000:
        return _validation("Invalid request", f"changedSince must be within the last {CDC_LOOKBACK_DAYS} days")

    def respond(org: Organisation):
        books = Books(org)
        answers, room = [], CDC_MAX_OBJECTS
        for name in names:
            found = books.entities(name)
            if found is None:
                return _validation("Invalid request", f"CDC is not available for {name}")
            changed = [item for item, when in found if when > since][:room]
            room -= len(changed)
            answers.append({name: changed, "startPosition": 1, "maxResults": len(changed),
                            "totalCount": len(changed)} if changed else {})
        return _reply({"CDCResponse": [{"QueryResponse": answers}]})

    return _guard("CDC", realm, respond)


@quickbooks_api.get("/reports/TrialBalance")
def trial_balance(realm: str):
    try:
        end = date.fromisoformat(request.args["end_date"]) if request.args.get("end_date") \
            else date.fromordinal(ms_day(_sandbox().now_ms()))
    except ValueError:
        return _validation("Invalid date", "end_date must be YYYY-MM-DD")

    def respond(org: Organisation):
        return _reply(trial_balance_report(org, end))

    return _guard("TrialBalance", realm, respond)


def _year_start(org: Organisation) -> str:
    return MONTHS[org.profile.year_end_month % 12]


def _financial_year_start(org: Organisation, day: date) -> date:
    month, last_day = org.profile.year_end_month, org.profile.year_end_day
    year_end = date(day.year, month, last_day)
    if day <= year_end:
        year_end = date(day.year - 1, month, last_day)
    return year_end + timedelta(days=1)


def trial_balance_report(org: Organisation, end: date) -> dict:
    """Balances at `end` in one Debit or Credit column: asset, liability and equity accounts with every prior
    year; income and expense accounts from the start of the fiscal year; prior years' profit in Retained
    Earnings. No month columns."""
    books = Books(org)
    year_start = _financial_year_start(org, end)
    to_date = org.balances(1, end.toordinal())
    this_year = org.balances(year_start.toordinal(), end.toordinal())
    for account_id, first_day, cents in list(org.report_adjustments):
        if first_day <= end.toordinal():
            to_date[account_id] = to_date.get(account_id, 0) + cents
            if first_day >= year_start.toordinal():
                this_year[account_id] = this_year.get(account_id, 0) + cents
    profit_and_loss = {"REVENUE", "EXPENSE"}
    prior_profit = sum(to_date.get(a.account_id, 0) - this_year.get(a.account_id, 0)
                       for a in books.accounts if a.account_class in profit_and_loss)
    rows, debits, credits = [], 0, 0
    for account in books.accounts:
        balance = this_year.get(account.account_id, 0) if account.account_class in profit_and_loss \
            else to_date.get(account.account_id, 0)
        if account.system_account == "RETAINEDEARNINGS":
            balance += prior_profit
        if not balance:
            continue
        debits, credits = debits + max(balance, 0), credits + max(-balance, 0)
        rows.append({"ColData": [{"value": account.name, "id": books.account_ids[account.account_id]},
                                 {"value": f"{balance / 100:.2f}" if balance > 0 else ""},
                                 {"value": f"{-balance / 100:.2f}" if balance < 0 else ""}]})
    rows.append({"Summary": {"ColData": [{"value": "TOTAL"}, {"value": f"{debits / 100:.2f}"},
                                         {"value": f"{credits / 100:.2f}"}]}, "type": "Section", "group": "GrandTotal"})
    return {"Header": {"Time": timestamp(_sandbox().now_ms()), "ReportName": "TrialBalance",
                       "StartPeriod": year_start.isoformat(), "EndPeriod": end.isoformat(),
                       "Currency": org.profile.base_currency,
                       "Option": [{"Name": "NoReportData", "Value": "false" if rows[:-1] else "true"}]},
            "Columns": {"Column": [{"ColTitle": "", "ColType": "Account"}, {"ColTitle": "Debit", "ColType": "Money"},
                                   {"ColTitle": "Credit", "ColType": "Money"}]},
            "Rows": {"Row": rows}}


def account_json(account: Account) -> dict:
    """An account as the admin API answers it in this dialect (ids are per company, so the code stands in)."""
    classification, account_type, sub_type = TYPES[account.type]
    return {"Id": account.code, "AcctNum": account.code, "Name": account.name, "Classification": classification,
            "AccountType": account_type, "AccountSubType": sub_type, "Active": account.status == "ACTIVE"}
