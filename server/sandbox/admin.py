"""Test controls under /admin (guarded by the X-Sandbox-Admin header): change an organisation's data
the way a bookkeeper would, inject faults, tune rate limits, revoke grants, read the ground truth."""
from __future__ import annotations

import secrets
from dataclasses import fields
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app, request, url_for

from server.sandbox.config import RateLimits, SandboxClient
from server.sandbox.data import draft_journals
from server.sandbox.faults import Fault, camel_case
from server.sandbox.ledger import LedgerError, Line, Organisation
from server.sandbox.state import IDENTITY, Sandbox
from server.sandbox.units import money, ms_day

admin = Blueprint("admin", __name__, url_prefix="/admin")

SOURCE_TYPES = {"ACCREC", "ACCPAY", "ACCRECCREDIT", "ACCPAYCREDIT", "ACCRECPAYMENT", "ACCPAYPAYMENT",
                "CASHREC", "CASHPAID", "TRANSFER", "MANJOURNAL", "PAYSLIP", "EXPCLAIM"}


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def _reply(payload, status: int = 200):
    return _sandbox().json_response(payload, status)


@admin.before_request
def require_admin_key():
    given = request.headers.get("X-Sandbox-Admin", "")
    if not secrets.compare_digest(given, _sandbox().config.admin_key):
        raise AdminError(401, "admin_key_required", "Send the sandbox admin key in X-Sandbox-Admin")


@admin.errorhandler(AdminError)
def admin_error(error: AdminError):
    return _reply({"code": error.code, "message": error.message, "field": error.field}, error.status)


@admin.errorhandler(LedgerError)
def ledger_error(error: LedgerError):
    return _reply({"code": "rejected", "message": str(error), "field": None}, 400)


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise AdminError(400, "invalid_json", "The body must be a JSON object")
    if body is not None and not isinstance(body, dict):
        raise AdminError(400, "invalid_json", "The body must be a JSON object")
    return body or {}


def _organisation(tenant_id: str) -> Organisation:
    organisation = _sandbox().organisation(tenant_id)
    if organisation is None:
        raise AdminError(404, "unknown_tenant", f"No organisation {tenant_id}", "tenantId")
    return organisation


def _cents(value, field: str) -> int:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AdminError(400, "invalid_amount", f"{field} must be a decimal amount", field) from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise AdminError(400, "invalid_amount", f"{field} must have at most two decimals", field)
    return int(amount * 100)


@admin.get("/tenants")
def list_tenants():
    sandbox = _sandbox()
    return _reply([{"tenantId": o.tenant_id, "name": o.name, "baseCurrency": o.profile.base_currency,
                    "journalCount": len(o.journals), "lineCount": o.line_count,
                    "links": {"stats": url_for("admin.stats", tenant_id=o.tenant_id),
                              "trialBalance": url_for("admin.ground_truth", tenant_id=o.tenant_id)}}
                   for o in sandbox.organisations.values()])


@admin.get("/tenants/<tenant_id>/trial-balance")
def ground_truth(tenant_id: str):
    """Expected net movement per account and month, from every journal ever posted."""
    organisation = _organisation(tenant_id)
    period = request.args.get("period")
    if period is not None:
        try:
            date.fromisoformat(f"{period}-01")
        except ValueError:
            raise AdminError(400, "invalid_period", "period must be YYYY-MM", "period") from None
    with organisation.lock:
        codes = {a.account_id: (a.code, a.name) for a in organisation.accounts}
        journal_count, line_count = len(organisation.journals), organisation.line_count
    movements = organisation.net_movements(period)
    rows = [{"period": month, "accountId": account_id, "accountCode": codes[account_id][0],
             "accountName": codes[account_id][1], "netAmount": money(cents)}
            for (account_id, month), cents in sorted(movements.items(), key=lambda kv: (kv[0][1], codes[kv[0][0]]))]
    return _reply({"tenantId": tenant_id, "period": period, "journalCount": journal_count,
                   "lineCount": line_count, "total": money(sum(movements.values())), "movements": rows})


@admin.post("/tenants/<tenant_id>/journals")
def post_journals(tenant_id: str):
    sandbox = _sandbox()
    organisation = _organisation(tenant_id)
    body = _body()
    now_ms = sandbox.now_ms()
    day = _day(body.get("date"), now_ms)
    if "generate" in body:
        count = body["generate"]
        if not isinstance(count, int) or not 1 <= count <= 10_000:
            raise AdminError(400, "invalid_count", "generate must be between 1 and 10000", "generate")
        drafts = draft_journals(organisation, count, sandbox.config.seed)
    else:
        drafts = [_draft_from_body(organisation, body)]
    posted = [organisation.append(day, now_ms, reference, organisation.ids.next(), source_type, lines)
              for source_type, reference, lines in drafts]
    sandbox.touched(tenant_id)
    return _reply({"journals": [{"journalId": j.journal_id, "journalNumber": j.number,
                                 "lineCount": len(j.lines)} for j in posted]}, 201)


def _day(value, now_ms: int) -> int:
    if value is None:
        return ms_day(now_ms)
    try:
        return date.fromisoformat(value).toordinal()
    except (TypeError, ValueError):
        raise AdminError(400, "invalid_date", "date must be YYYY-MM-DD", "date") from None


def _draft_from_body(organisation: Organisation, body: dict) -> tuple[str, str, list[Line]]:
    source_type = body.get("sourceType", "MANJOURNAL")
    if source_type not in SOURCE_TYPES:
        raise AdminError(400, "invalid_source_type", f"sourceType must be one of {sorted(SOURCE_TYPES)}",
                         "sourceType")
    raw_lines = body.get("lines")
    if not isinstance(raw_lines, list) or len(raw_lines) < 2:
        raise AdminError(400, "invalid_lines", "lines must list at least two journal lines", "lines")
    lines = []
    for position, raw in enumerate(raw_lines):
        where = f"lines[{position}]"
        if not isinstance(raw, dict):
            raise AdminError(400, "invalid_lines", f"{where} must be an object", where)
        key = raw.get("accountId") or raw.get("accountCode")
        if not key:
            raise AdminError(400, "invalid_lines", f"{where} needs accountCode or accountId", where)
        account = organisation.account(str(key))
        tags = tuple(_tracking_tag(organisation, tag, where) for tag in raw.get("tracking", []))
        if len(tags) > 2:
            raise AdminError(400, "invalid_lines", f"{where} has more than two tracking categories", where)
        lines.append(Line(organisation.ids.next(), account, str(raw.get("description", "")),
                          _cents(raw.get("netAmount"), f"{where}.netAmount"),
                          _cents(raw.get("taxAmount", 0), f"{where}.taxAmount"), None, tags))
    if sum(line.net for line in lines) != 0:
        raise AdminError(400, "unbalanced", "netAmount of the lines must sum to zero", "lines")
    return source_type, str(body.get("reference", "")), lines


def _tracking_tag(organisation: Organisation, tag, where: str) -> dict:
    if not isinstance(tag, dict):
        raise AdminError(400, "invalid_lines", f"{where}.tracking items are objects", where)
    category = organisation.category(str(tag.get("category", "")))
    for option in category.options:
        if str(tag.get("option", "")).lower() in (option.name.lower(), option.option_id):
            return category.line_tag(option)
    raise AdminError(400, "invalid_lines", f"{where}: no option {tag.get('option')!r} in {category.name}", where)


@admin.post("/tenants/<tenant_id>/journals/<journal_key>/void")
def void_journal(tenant_id: str, journal_key: str):
    sandbox = _sandbox()
    organisation = _organisation(tenant_id)
    reversal = organisation.reverse(journal_key, sandbox.now_ms())
    sandbox.touched(tenant_id)
    return _reply({"journalId": reversal.journal_id, "journalNumber": reversal.number,
                   "reverses": organisation.journal(journal_key).number}, 201)


@admin.delete("/tenants/<tenant_id>/journals/<journal_key>")
def delete_journal(tenant_id: str, journal_key: str):
    """Delete a transaction outright, where the sandbox's dialect is a provider that allows it."""
    sandbox = _sandbox()
    if not sandbox.dialect.deletes_journals:
        raise AdminError(409, "not_deletable", f"{sandbox.dialect.title} never deletes a journal: void it instead")
    organisation = _organisation(tenant_id)
    journal = organisation.delete(journal_key, sandbox.now_ms())
    sandbox.touched(tenant_id)
    return _reply({"journalId": journal.journal_id, "journalNumber": journal.number, "deleted": True})


@admin.post("/tenants/<tenant_id>/tracking-categories/<category_key>/options")
def add_tracking_option(tenant_id: str, category_key: str):
    organisation = _organisation(tenant_id)
    name = str(_body().get("name", "")).strip()
    if not name or len(name) > 100:
        raise AdminError(400, "invalid_name", "name must be 1 to 100 characters", "name")
    option = organisation.add_tracking_option(category_key, name)
    _sandbox().touched(tenant_id)
    return _reply({"TrackingOptionID": option.option_id, "Name": option.name, "Status": option.status}, 201)


@admin.patch("/tenants/<tenant_id>/accounts/<account_key>")
def update_account(tenant_id: str, account_key: str):
    organisation = _organisation(tenant_id)
    body = _body()
    account = organisation.update_account(account_key, _sandbox().now_ms(), name=body.get("name"),
                                          status=body.get("status"))
    _sandbox().touched(tenant_id)
    return _reply(_sandbox().dialect.account_json(account))  # as the API will serve it from now on


@admin.post("/tenants/<tenant_id>/refusals")
def refuse_endpoint(tenant_id: str):
    """The provider refuses one endpoint for this organisation from now on (`endpoint`, as the dialect's guard
    names it, e.g. "Journals"), as a plan tier or a missing app approval makes it do."""
    organisation = _organisation(tenant_id)
    endpoint = str(_body().get("endpoint", "")).strip()
    if not endpoint:
        raise AdminError(400, "invalid_endpoint", "endpoint is required", "endpoint")
    with organisation.lock:
        organisation.refused_endpoints.add(endpoint)
    _sandbox().touched(tenant_id)  # a data reset regenerates the organisation, refusals and all
    return _reply({"tenantId": tenant_id, "refused": sorted(organisation.refused_endpoints)}, 201)


@admin.post("/tenants/<tenant_id>/report-adjustments")
def adjust_report(tenant_id: str):
    """Make the trial balance report disagree with the journals: `amount` more on an account from a month on."""
    organisation = _organisation(tenant_id)
    body = _body()
    account = organisation.account(str(body.get("accountCode", "")))
    try:
        month = date.fromisoformat(f"{body.get('period')}-01")
    except ValueError:
        raise AdminError(400, "invalid_period", "period must be YYYY-MM", "period") from None
    cents = _cents(body.get("amount"), "amount")
    with organisation.lock:
        organisation.report_adjustments.append((account.account_id, month.toordinal(), cents))
    _sandbox().touched(tenant_id)  # a data reset regenerates the organisation, adjustment and all
    return _reply({"accountId": account.account_id, "period": month.isoformat()[:7], "amount": money(cents)}, 201)


def _fault_target(tenant_id: str | None) -> str:
    if tenant_id is None:
        return IDENTITY
    return _organisation(tenant_id).tenant_id


@admin.route("/tenants/<tenant_id>/faults", methods=["GET", "POST", "DELETE"])
@admin.route("/identity/faults", methods=["GET", "POST", "DELETE"])
def faults(tenant_id: str | None = None):
    book = _sandbox().faults
    target = _fault_target(tenant_id)
    if request.method == "POST":
        body = _body()
        try:
            fault = Fault(kind=str(body.get("kind")), count=int(body.get("count", 1)),
                          delay=float(body.get("delay", 0)), retry_after=int(body.get("retryAfter", 1)),
                          endpoint=body.get("endpoint"))
        except (TypeError, ValueError) as error:
            raise AdminError(400, "invalid_fault", str(error), "kind") from None
        book.add(target, fault)
    elif request.method == "DELETE":
        book.clear(target)
    return _reply({"target": target, "faults": [f.as_json() for f in book.pending(target)]},
                  201 if request.method == "POST" else 200)


@admin.get("/tenants/<tenant_id>/stats")
def stats(tenant_id: str):
    sandbox = _sandbox()
    _organisation(tenant_id)
    return _reply({**sandbox.stats.as_json(tenant_id), "inFlight": sandbox.limiter.in_flight(tenant_id)})


@admin.route("/rate-limits", methods=["GET", "PUT"])
def rate_limits():
    limiter = _sandbox().limiter
    if request.method == "PUT":
        body = _body()
        camel = {camel_case(f.name): f.name for f in fields(RateLimits)}
        unknown = set(body) - set(camel)
        if unknown:
            raise AdminError(400, "unknown_field", f"unknown fields {sorted(unknown)}", sorted(unknown)[0])
        try:
            limiter.configure(RateLimits(**{camel[key]: value for key, value in body.items()}))
        except TypeError as error:
            raise AdminError(400, "invalid_limits", str(error)) from None
    return _reply(limiter.describe())


@admin.get("/grants")
def list_grants():
    oauth = _sandbox().oauth
    with oauth.lock:
        grants = list(oauth.grants.values())
    return _reply([{"authEventId": g.auth_event_id, "clientId": g.client_id, "tenantIds": g.tenant_ids,
                    "revoked": g.revoked} for g in grants])


@admin.post("/grants/revoke")
def revoke_grants():
    """Simulate the user disconnecting the app at the provider: every token of the matching grants dies."""
    body = _body()
    oauth = _sandbox().oauth
    revoked = []
    with oauth.lock:
        for grant in oauth.grants.values():
            if grant.revoked:
                continue
            if body.get("authEventId") not in (None, grant.auth_event_id):
                continue
            if body.get("tenantId") not in (None, *grant.tenant_ids):
                continue
            if body.get("clientId") not in (None, grant.client_id):
                continue
            oauth.revoke(grant)
            revoked.append(grant.auth_event_id)
    return _reply({"revoked": revoked})


@admin.post("/clients")
def register_client():
    body = _body()
    try:
        client = SandboxClient(client_id=str(body["clientId"]), client_secret=str(body["clientSecret"]),
                               redirect_uris=[str(uri) for uri in body["redirectUris"]],
                               name=str(body.get("name", "Ledgerpane")),
                               refused_scopes=[str(scope) for scope in body.get("refusedScopes") or ()])
    except (KeyError, TypeError):
        raise AdminError(400, "invalid_client", "clientId, clientSecret and redirectUris are required") from None
    _sandbox().oauth.register(client)
    return _reply({"clientId": client.client_id, "redirectUris": client.redirect_uris, "name": client.name,
                   "refusedScopes": client.refused_scopes}, 201)


@admin.post("/reset")
def reset():
    body = _body()
    options = {key: bool(body.get(key, default)) for key, default in
               (("data", True), ("faults", True), ("stats", True), ("limits", True), ("grants", False))}
    _sandbox().reset(**options)
    return _reply({"reset": [key for key, chosen in options.items() if chosen]})

