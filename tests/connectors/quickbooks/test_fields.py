"""A QuickBooks connection's field types: the GeneralLedger report's columns a line keeps beside its memo and
amounts (Transaction Type, Num, Name) and its accounts' other fields, listed with samples after a refresh, cast
when an admin says so, refused when the last refresh's values do not fit; an incremental refresh (change data
capture, a transaction at a time) refreshes the samples, its last transaction's values included."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from server.db.models import Account, LedgerLine
from tests.support.field_types import field_of, put_fields, streams
from tests.support.journey import provider_app
from tests.support.quickbooks import connect, offer_the_demo_app
from tests.support.refresh import wait_for_run_of
from tests.support.sandbox import SandboxServer, quickbooks_test_config, running_sandbox

LEDGER_FIELDS = ["Transaction Type", "Num", "Name"]
ACCOUNT_FIELDS = ["AccountSubType", "SubAccount", "Description"]


@pytest.fixture(scope="module")
def quickbooks() -> Iterator[SandboxServer]:
    with running_sandbox(quickbooks_test_config(lines=600)) as server:
        yield server


@pytest.fixture
def provider(quickbooks) -> SandboxServer:
    return offer_the_demo_app(quickbooks)


@pytest.fixture
def app(db, tmp_path, provider):
    # No look-back overlap: a refresh reads what changed since the last one alone, so the samples it keeps are
    # those transactions' values.
    with provider_app(db, tmp_path, provider, refresh_overlap_minutes=0) as app:
        yield app


@pytest.fixture
def company(client, workspace, provider) -> tuple[int, str]:
    """A QuickBooks connection to one company, refreshed once: (connection id, the company's sandbox tenant)."""
    headers = workspace.admin()
    tenant = provider.tenants()[0]["tenantId"]
    connection_id = connect(client, headers, provider, tenant)
    entities = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"]
    assert client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [entities[0]["id"]]},
                      headers=headers).status_code == 200
    assert refresh(client, headers, connection_id)["status"] == "succeeded"
    return connection_id, tenant


def refresh(client, headers, connection_id: int) -> dict:
    started = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    assert started.status_code == 202, started.get_json()
    return wait_for_run_of(client, headers, started.get_json()["run_id"])


def post_entry(provider, tenant: str, number: str) -> None:
    """A journal entry numbered `number` at QuickBooks (its Num), on an expense and accounts payable."""
    provider.admin("POST", f"/admin/tenants/{tenant}/journals", {
        "reference": number, "lines": [{"accountCode": "429", "netAmount": "40.25"},
                                       {"accountCode": "800", "netAmount": "-40.25"}]}, expect=201)


def kept(db, connection_id: int, model, names: list[str]) -> list[dict]:
    with db.sessions() as session:
        return [dict(zip(names, json.loads(text), strict=True)) for text in session.scalars(
            select(model.source_fields).where(model.connection_id == connection_id))]


def test_a_quickbooks_connection_lists_its_report_columns_and_account_fields_and_casts_them(
        client, workspace, company, db):
    connection_id, _ = company
    admin = workspace.admin()
    found = streams(client, admin, connection_id)
    assert [f["name"] for f in found["general_ledger"]["fields"]] == LEDGER_FIELDS
    assert [f["name"] for f in found["accounts"]["fields"]] == ACCOUNT_FIELDS
    assert {"Invoice", "Bill"} <= set(field_of(found, "general_ledger", "Transaction Type")["samples"])
    assert any(number.startswith("INV-") for number in field_of(found, "general_ledger", "Num")["samples"])
    assert field_of(found, "general_ledger", "Name")["samples"]  # customers and vendors
    assert field_of(found, "accounts", "AccountSubType")["samples"]
    sub_account = field_of(found, "accounts", "SubAccount")
    assert (sub_account["default_type"], sub_account["samples"]) == ("boolean", [False])
    lines = kept(db, connection_id, LedgerLine, LEDGER_FIELDS)
    invoices = [line for line in lines if line["Transaction Type"] == "Invoice"]
    assert invoices and all(line["Num"].startswith("INV-") and line["Name"] for line in invoices)

    refused = put_fields(client, admin, connection_id, "general_ledger", [{"name": "Num", "type": "integer"}],
                         expect=422)["error"]
    assert (refused["code"], refused["field"]) == ("type_does_not_fit", "fields.0.type")
    assert refused["samples"] and all(not str(number).isdigit() for number in refused["samples"])
    assert "sample values the last refresh kept" in refused["message"]

    saved = put_fields(client, admin, connection_id, "accounts", [{"name": "SubAccount", "type": "string"}])
    assert saved["changed"] == ["SubAccount: Yes or no -> Text"]
    [checked] = saved["checked"]
    assert checked.startswith("SubAccount: the sample value the last refresh kept (") and "fit Text" in checked
    assert refresh(client, admin, connection_id)["status"] == "succeeded"
    assert {account["SubAccount"] for account in kept(db, connection_id, Account, ACCOUNT_FIELDS)} == {"false"}


def refresh_later(client, headers, connection_id: int, provider) -> dict:
    """A refresh a little after what was just posted: CDC's changedSince, the refresh's cursor, is to the second,
    and must fall after what this refresh read, so that the next one reads only what is posted after it."""
    provider.clock.advance(2)
    return refresh(client, headers, connection_id)


def test_an_incremental_refresh_keeps_its_own_samples_its_last_transactions_included(
        client, workspace, company, provider, db):
    connection_id, tenant = company
    admin = workspace.admin()
    # Change data capture brings these one transaction at a time: the last is the 56th the load maps.
    for _ in range(55):
        post_entry(provider, tenant, "1001")
    post_entry(provider, tenant, "X-56")
    assert refresh_later(client, admin, connection_id, provider)["status"] == "succeeded"
    numbers = field_of(streams(client, admin, connection_id), "general_ledger", "Num")
    assert sorted(numbers["samples"]) == ["1001", "X-56"]  # this refresh's, none of the first load's
    refused = put_fields(client, admin, connection_id, "general_ledger", [{"name": "Num", "type": "integer"}],
                         expect=422)["error"]
    assert refused["samples"] == ["X-56"]
    assert "checked against the 2 sample values the last refresh kept" in refused["message"]

    post_entry(provider, tenant, "1002")
    assert refresh_later(client, admin, connection_id, provider)["status"] == "succeeded"
    assert field_of(streams(client, admin, connection_id), "general_ledger", "Num")["samples"] == ["1002"]
    saved = put_fields(client, admin, connection_id, "general_ledger", [{"name": "Num", "type": "integer"}])
    assert saved["checked"][0].startswith("Num: the sample value the last refresh kept (")
    post_entry(provider, tenant, "1003")
    post_entry(provider, tenant, "Y-1")
    before = {line["Num"] for line in kept(db, connection_id, LedgerLine, LEDGER_FIELDS)}
    run = refresh_later(client, admin, connection_id, provider)
    assert run["status"] == "succeeded"
    after = [line["Num"] for line in kept(db, connection_id, LedgerLine, LEDGER_FIELDS)]
    assert after.count(1003) == 2 and "Y-1" not in after and 1003 not in before  # cast; the misfit left empty
    events = client.get(f"/api/v1/log?connection_id={connection_id}&status=needs_attention&data_type=journals",
                        headers=admin).get_json()["items"]
    [event] = [e for e in events if e["run_id"] == run["id"]]
    assert "2 values did not fit" in event["detail"] and 'Num "Y-1" (wanted Whole number)' in event["detail"]
