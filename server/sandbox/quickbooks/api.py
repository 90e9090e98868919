"""The QuickBooks Online Accounting API (v3) over the sandbox's ground truth: the query language, CompanyInfo,
Preferences, change data capture and the TrialBalance report, in Intuit's JSON shapes (providers.md 2.2-2.6).

Every organisation is one company (realm). Each of its journals is served as the transaction a QuickBooks
company would have posted it with (posting_entity: an invoice for a sale on credit, a bill for a purchase on
credit, a deposit, a transfer... a JournalEntry for the rest), through the query language and CDC; the
GeneralLedger report shows every one of them line by line, so movements per account and month are the ground
truth's whatever entity posted them. Its first tracking category is served as Departments (what the company
calls Locations), its second as Classes.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, current_app, request

from server.sandbox.data import CUSTOMERS, currencies
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
# Entities that post to the ledger, with the name the GeneralLedger report gives each in its Transaction Type
# column (what a QuickBooks company's GL report shows).
POSTING_ENTITIES = {"JournalEntry": "Journal Entry", "Invoice": "Invoice", "Bill": "Bill", "Payment": "Payment",
                    "BillPayment": "Bill Payment (Check)", "Purchase": "Expense", "Deposit": "Deposit",
                    "Transfer": "Transfer", "SalesReceipt": "Sales Receipt", "CreditMemo": "Credit Memo",
                    "VendorCredit": "Vendor Credit", "RefundReceipt": "Refund"}
# Columns the GeneralLedger report offers (`columns=`), with their titles; the default set without `columns`.
GL_COLUMNS = {"tx_date": ("Date", "Date"), "txn_type": ("Transaction Type", "String"), "doc_num": ("No.", "String"),
              "name": ("Name", "String"), "memo": ("Memo/Description", "String"), "klass_name": ("Class", "String"),
              "dept_name": ("Location", "String"), "debt_amt": ("Debit", "Money"), "credit_amt": ("Credit", "Money"),
              "subt_nat_amount": ("Amount", "Money")}
GL_DEFAULT_COLUMNS = ("tx_date", "txn_type", "doc_num", "memo", "subt_nat_amount")
# The customer or vendor a transaction names (QuickBooks' Name column; CustomerRef, VendorRef or EntityRef on the
# entity); journal entries, deposits and transfers name none here. Vendors from Intuit's sample company.
VENDORS = ["Brosnahan Insurance Agency", "Cal Telephone", "Computers by Jenni", "Ellis Equipment Rental",
           "Hall Properties", "Lee Advertising", "Norton Lumber and Building Materials", "PG&E",
           "Robertson & Associates", "Tim Philip Masonry"]
CUSTOMER_ENTITIES = ("Invoice", "SalesReceipt", "CreditMemo", "Payment", "RefundReceipt")
VENDOR_ENTITIES = ("Bill", "VendorCredit", "Purchase", "BillPayment")
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

    def refs(self, line) -> dict:
        """A line's AccountRef and its ClassRef/DepartmentRef."""
        detail = {"AccountRef": {"value": self.account_ids[line.account.account_id], "name": line.account.name}}
        for tag in line.tracking:
            ref = "DepartmentRef" if tag["TrackingCategoryID"] == self._category_id("Department") else "ClassRef"
            detail[ref] = {"value": self.option_ids[tag["TrackingOptionID"]], "name": tag["Option"]}
        return detail

    def transaction(self, journal: Journal) -> dict:
        """The journal as the entity that posted it (posting_entity), in that entity's shape."""
        entity = posting_entity(journal)
        if journal.deleted_ms is not None:
            return {"domain": "QBO", "status": "Deleted", "Id": str(journal.number),
                    "MetaData": {"LastUpdatedTime": timestamp(journal.deleted_ms)}}
        debits = sum(max(line.net, 0) for line in journal.lines)
        header = {"domain": "QBO", "sparse": False, "Id": str(journal.number), "SyncToken": "0",
                  "MetaData": meta(journal.created_ms), "TxnDate": date.fromordinal(journal.day).isoformat(),
                  "CurrencyRef": {"value": self.org.profile.base_currency}, "TotalAmt": amount(debits)}
        if entity != "Transfer":
            header["DocNumber"] = journal.reference[:21]
        party = self.party(journal)
        if party is not None:
            if entity == "Purchase":
                header["EntityRef"] = {**party, "type": "Vendor"}
            else:
                header["CustomerRef" if entity in CUSTOMER_ENTITIES else "VendorRef"] = party
        if entity == "JournalEntry":
            lines = []
            for number, line in enumerate(journal.lines):
                detail = {"PostingType": "Debit" if line.net >= 0 else "Credit", **self.refs(line)}
                item = {"Id": str(number), "LineNum": number + 1, "Amount": amount(abs(line.net)),
                        "DetailType": "JournalEntryLineDetail", "JournalEntryLineDetail": detail}
                if line.description:
                    item["Description"] = line.description
                lines.append(item)
            return {**header, "Adjustment": False, "Line": lines}
        # Other entities: one side sits on the header (the bank, receivable or payable account), the other on
        # the lines, each in the detail that entity uses.
        counter, items = _split(journal, entity)
        detail_kind = {"Invoice": "SalesItemLineDetail", "SalesReceipt": "SalesItemLineDetail",
                       "CreditMemo": "SalesItemLineDetail", "Deposit": "DepositLineDetail"}.get(
            entity, "AccountBasedExpenseLineDetail")
        lines = []
        for number, line in enumerate(items):
            refs = self.refs(line)
            if detail_kind == "SalesItemLineDetail":
                refs["ItemAccountRef"] = refs.pop("AccountRef")
            lines.append({"Id": str(number + 1), "LineNum": number + 1, "Amount": amount(abs(line.net)),
                          "Description": line.description, "DetailType": detail_kind, detail_kind: refs})
        account = self.refs(counter[0])["AccountRef"] if counter else None
        header_ref = {"Invoice": "ARAccountRef", "CreditMemo": "ARAccountRef", "Payment": "DepositToAccountRef",
                      "SalesReceipt": "DepositToAccountRef", "Deposit": "DepositToAccountRef",
                      "Bill": "APAccountRef", "VendorCredit": "APAccountRef", "Purchase": "AccountRef",
                      "BillPayment": "APAccountRef", "Transfer": "FromAccountRef"}[entity]
        if entity == "Transfer":
            to = self.refs(items[0])["AccountRef"] if items else None
            return {**header, "FromAccountRef": account, "ToAccountRef": to, "Amount": amount(debits)}
        body = {**header, header_ref: account, "Line": lines}
        if entity == "Purchase":
            body["PaymentType"] = "Check"
        return body

    def party(self, journal: Journal) -> dict | None:
        """The customer or vendor the transaction names, as a reference (`value` its id, `name`), or None. An
        invoice's is the customer its receivable line names; the others' are drawn by the transaction's number."""
        entity = posting_entity(journal)
        if entity in CUSTOMER_ENTITIES:
            named = next((line.description for line in journal.lines if line.description in CUSTOMERS), None)
            name = named or CUSTOMERS[journal.number % len(CUSTOMERS)]
            return {"value": str(CUSTOMERS.index(name) + 1), "name": name}
        if entity in VENDOR_ENTITIES:
            position = journal.number % len(VENDORS)
            return {"value": str(len(CUSTOMERS) + position + 1), "name": VENDORS[position]}
        return None

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
        if name in POSTING_ENTITIES:
            return [(self.transaction(j), self.changed_ms(j)) for j in self.journals if posting_entity(j) == name]
        if name == "CompanyCurrency":
            return [(item, self.org.created_ms) for item in self.currencies()]
        return None


# The ground truth's source document -> the QuickBooks entity that posts such a transaction.
ENTITY_OF_SOURCE = {"ACCREC": "Invoice", "ACCPAY": "Bill", "ACCRECCREDIT": "CreditMemo", "ACCPAYCREDIT": "VendorCredit",
                    "ACCRECPAYMENT": "Payment", "ACCPAYPAYMENT": "BillPayment", "CASHREC": "SalesReceipt",
                    "CASHPAID": "Purchase", "TRANSFER": "Transfer", "EXPCLAIM": "Purchase"}


def posting_entity(journal: Journal) -> str:
    """The QuickBooks entity that posted this journal, from the ground truth's source document (an invoice,
    a bill, a bank transfer...); manual journals and payslips are JournalEntry objects. Money received with
    no revenue in it (a loan, capital) is a Deposit rather than a SalesReceipt."""
    entity = ENTITY_OF_SOURCE.get(journal.source_type, "JournalEntry")
    if entity == "SalesReceipt" and not any(line.account.account_class == "REVENUE" for line in journal.lines):
        return "Deposit"
    if entity == "Transfer" and sum(1 for line in journal.lines if line.account.type == "BANK") != 2:
        return "JournalEntry"
    return entity


def _split(journal: Journal, entity: str) -> tuple[list, list]:
    """(the header's side, the lines' side) of a journal shown as `entity`: the bank for money that moves, the
    receivable or payable for credit sales and purchases (the balance-sheet lines the entity does not itemise)."""
    if entity in ("SalesReceipt", "Purchase", "Payment", "BillPayment", "Deposit", "Transfer"):
        header = [line for line in journal.lines if line.account.type == "BANK"][:1]
    else:
        header = [line for line in journal.lines if line.account.account_class in ("ASSET", "LIABILITY")][:1]
    return header, [line for line in journal.lines if line not in header]


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
        entity = next((e for e in ("Account", "Class", "Department", "CompanyCurrency", *POSTING_ENTITIES)
                       if e.lower() == match["entity"].lower()), None)
        found = books.entities(entity) if entity else None
        if found is None:
            return _validation("Invalid query", f"QueryValidationError: Invalid entity {match['entity']}")
        chosen = _where(found, match["where"], lists=entity not in POSTING_ENTITIES)
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
            "CompanyStartDate": _start_date(org).isoformat(),
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


@quickbooks_api.get("/reports/GeneralLedger")
def general_ledger(realm: str):
    """Every posting dated start_date..end_date, grouped in one section per account (its id on the section's
    header), in the columns asked for (`columns=`, keys as GL_COLUMNS). The Transaction Type cell carries the
    transaction's id, as QuickBooks' reports do for drill-down; Class and Location cells carry names only."""
    try:
        start = date.fromisoformat(request.args["start_date"])
        end = date.fromisoformat(request.args["end_date"])
    except (KeyError, ValueError):
        return _validation("Invalid date", "start_date and end_date must be YYYY-MM-DD")
    columns = [c.strip() for c in request.args.get("columns", ",".join(GL_DEFAULT_COLUMNS)).split(",") if c.strip()]
    unknown = [c for c in columns if c not in GL_COLUMNS]
    if unknown or end < start:
        return _validation("Invalid report option", f"unsupported columns {unknown}" if unknown
                           else "end_date is before start_date")

    def respond(org: Organisation):
        return _reply(general_ledger_report(org, start, end, columns))

    return _guard("GeneralLedger", realm, respond)


def general_ledger_report(org: Organisation, start: date, end: date, columns: list[str]) -> dict:
    books = Books(org)
    names = {c.category_id: n for n, c in books.lists.items() if c is not None}
    by_account: dict[str, list[list[dict]]] = {}
    for journal in books.journals:
        if journal.deleted_ms is not None or not start.toordinal() <= journal.day <= end.toordinal():
            continue
        entity = posting_entity(journal)
        party = books.party(journal)
        named = {"value": party["name"], "id": party["value"]} if party else {"value": ""}
        for line in journal.lines:
            if not line.net:
                continue
            tags = {names.get(t["TrackingCategoryID"]): t["Option"] for t in line.tracking}
            cells = {"tx_date": {"value": date.fromordinal(journal.day).isoformat()},
                     "txn_type": {"value": POSTING_ENTITIES[entity], "id": str(journal.number)},
                     "doc_num": {"value": "" if entity == "Transfer" else journal.reference[:21]},
                     "name": named,
                     "memo": {"value": line.description}, "klass_name": {"value": tags.get("Class", "")},
                     "dept_name": {"value": tags.get("Department", "")},
                     "debt_amt": {"value": f"{line.net / 100:.2f}" if line.net > 0 else ""},
                     "credit_amt": {"value": f"{-line.net / 100:.2f}" if line.net < 0 else ""},
                     "subt_nat_amount": {"value": f"{line.net / 100:.2f}"}}
            by_account.setdefault(line.account.account_id, []).append([cells[c] for c in columns])
    sections = []
    for account in books.accounts:
        rows = by_account.get(account.account_id)
        if not rows:
            continue
        header = [{"value": account.name, "id": books.account_ids[account.account_id]}] + [{"value": ""}] * (
            len(columns) - 1)
        sections.append({"Header": {"ColData": header}, "Rows": {"Row": [{"ColData": r, "type": "Data"} for r in rows]},
                         "Summary": {"ColData": [{"value": f"Total for {account.name}"}]
                                     + [{"value": ""}] * (len(columns) - 1)}, "type": "Section"})
    return {"Header": {"Time": timestamp(_sandbox().now_ms()), "ReportName": "GeneralLedger",
                       "StartPeriod": start.isoformat(), "EndPeriod": end.isoformat(),
                       "Currency": org.profile.base_currency, "Option": [
                           {"Name": "NoReportData", "Value": "false" if sections else "true"}]},
            "Columns": {"Column": [{"ColTitle": GL_COLUMNS[c][0], "ColType": GL_COLUMNS[c][1],
                                    "MetaData": [{"Name": "ColKey", "Value": c}]} for c in columns]},
            "Rows": {"Row": sections}}


def _start_date(org: Organisation) -> date:
    """CompanyStartDate: the day the company's books start (its first posting)."""
    with org.lock:
        first = min((j.day for j in org.journals), default=None)
    return date.fromordinal(first) if first else date.fromordinal(ms_day(org.created_ms))


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
