"""Xero's official Python SDK (xero-python), which nobody here wrote, against the Xero dialect: if Xero's
own client reads our emulator, the emulator speaks Xero."""
from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest

xero_python = pytest.importorskip("xero_python")

from xero_python.accounting import AccountingApi  # noqa: E402
from xero_python.api_client import ApiClient, Configuration  # noqa: E402
from xero_python.api_client.oauth2 import OAuth2Token  # noqa: E402
from xero_python.identity import IdentityApi  # noqa: E402


def text(value) -> str:
    """An SDK enum's value (some fields decode to the model's enum, some stay strings)."""
    return getattr(value, "value", value)


@pytest.fixture
def sdk(sandbox, token):
    """An SDK client holding our token set, pointed at the sandbox instead of api.xero.com."""
    stored = {**token, "expires_at": time.time() + token["expires_in"]}
    client = ApiClient(Configuration(oauth2_token=OAuth2Token(client_id=sandbox.client.client_id,
                                                              client_secret=sandbox.client.client_secret)),
                       pool_threads=1, oauth2_token_getter=lambda: stored, oauth2_token_saver=stored.update)
    root = f"{sandbox.url}/xero"
    yield IdentityApi(client, base_url=root), AccountingApi(client, base_url=f"{root}/api.xro/2.0")
    client.rest_client.pool_manager.clear()


def test_the_sdk_lists_the_connections(sdk, tenant_ids):
    identity, _ = sdk
    connections = identity.get_connections()  # GET /Connections: Xero's paths are case-insensitive
    assert {c.tenant_id for c in connections} == set(tenant_ids)
    assert all(c.tenant_type == "ORGANISATION" and c.tenant_name for c in connections)


def test_the_sdk_reads_organisation_accounts_and_tracking(sdk, sandbox, tenant_ids):
    _, accounting = sdk
    tenant = next(t for t in sandbox.tenants() if t["tenantId"] == tenant_ids[0])
    organisation = accounting.get_organisations(tenant_ids[0]).organisations[0]
    assert str(organisation.organisation_id) == tenant_ids[0]
    assert text(organisation.base_currency) == tenant["baseCurrency"]
    accounts = accounting.get_accounts(tenant_ids[0]).accounts
    assert {a.code for a in accounts} >= {"090", "200", "960"}
    assert {text(a._class) for a in accounts} == {"ASSET", "LIABILITY", "EQUITY", "REVENUE", "EXPENSE"}
    categories = accounting.get_tracking_categories(tenant_ids[0], include_archived=True).tracking_categories
    assert [c.name for c in categories if text(c.status) == "ACTIVE"] == ["Region", "Department"]
    assert any(text(o.status) == "ARCHIVED" for c in categories for o in c.options)


def test_the_sdk_pages_the_journals_to_the_end(sdk, sandbox, tenant_ids):
    _, accounting = sdk
    tenant = next(t for t in sandbox.tenants() if t["tenantId"] == tenant_ids[0])
    offset, lines, pages = 0, 0, 0
    while True:
        journals = accounting.get_journals(tenant_ids[0], offset=offset).journals
        if not journals:
            break
        pages += 1
        assert len(journals) <= 100
        assert [j.journal_number for j in journals] == list(range(offset + 1, offset + 1 + len(journals)))
        lines += sum(len(j.journal_lines) for j in journals)
        assert all(sum(line.net_amount for line in j.journal_lines) == 0 for j in journals)
        offset = journals[-1].journal_number
    assert offset == tenant["journalCount"] and lines == tenant["lineCount"]
    assert pages == -(-tenant["journalCount"] // 100)


def test_the_sdk_reads_a_trial_balance_that_balances(sdk, tenant_ids):
    _, accounting = sdk
    month_end = date.today().replace(day=1) - timedelta(days=1)
    report = accounting.get_report_trial_balance(tenant_ids[0], date=month_end).reports[0]
    assert report.report_type == "TrialBalance"
    total = report.rows[-1].rows[0]
    assert text(total.row_type) == "SummaryRow"
    debit, credit, ytd_debit, ytd_credit = (Decimal(cell.value) for cell in total.cells[1:5])
    assert debit == credit > 0 and ytd_debit == ytd_credit > 0
