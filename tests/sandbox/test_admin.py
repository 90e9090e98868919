"""The admin API: bookkeeping changes show up in the Accounting API the way Xero shows them, and the
ground truth always equals what the journals add up to."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import requests

from tests.support.xero_api import all_journals, envelope, if_modified_since


def test_admin_needs_the_key(sandbox):
    answer = requests.get(sandbox.url + "/admin/tenants", headers={"X-Sandbox-Admin": "wrong"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["code"] == "admin_key_required"


def test_a_posted_journal_is_served_with_the_next_number(sandbox, api, tenant_ids):
    tenant = tenant_ids[0]
    before = sandbox.tenants()[0]["journalCount"]
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant}/journals", {
        "date": "2025-01-31", "reference": "Accrual", "lines": [
            {"accountCode": "429", "netAmount": "1234.56", "description": "Accrued costs",
             "tracking": [{"category": "Region", "option": "Sydney"}, {"category": "Department", "option": "Sales"}]},
            {"accountCode": "800", "netAmount": -1234.56}]}, expect=201)
    assert posted["journals"][0]["journalNumber"] == before + 1
    page = envelope(api(f"Journals?offset={before}", tenant), "Journals")
    assert len(page) == 1
    journal = page[0]
    assert journal["Reference"] == "Accrual" and journal["SourceType"] == "MANJOURNAL"
    assert journal["JournalDate"] == "/Date(1738281600000+0000)/"
    lines = journal["JournalLines"]
    assert [(line["AccountCode"], line["NetAmount"]) for line in lines] == [
        ("429", Decimal("1234.56")), ("800", Decimal("-1234.56"))]
    assert [t["Option"] for t in lines[0]["TrackingCategories"]] == ["Sydney", "Sales"]


def test_unbalanced_or_invalid_journals_are_refused(sandbox, tenant_ids):
    url = f"/admin/tenants/{tenant_ids[0]}/journals"
    unbalanced = sandbox.admin("POST", url, {"lines": [{"accountCode": "429", "netAmount": "10.00"},
                                                       {"accountCode": "800", "netAmount": "-9.99"}]}, expect=400)
    assert unbalanced["code"] == "unbalanced"
    assert sandbox.admin("POST", url, {"lines": [{"accountCode": "429", "netAmount": "0.001"},
                                                 {"accountCode": "800", "netAmount": "0"}]},
                         expect=400)["field"] == "lines[0].netAmount"
    assert sandbox.admin("POST", url, {"lines": [{"accountCode": "999", "netAmount": "1"},
                                                 {"accountCode": "800", "netAmount": "-1"}]}, expect=400)
    assert sandbox.admin("POST", "/admin/tenants/nope/journals", {"generate": 1}, expect=404)


def test_generated_journals_and_reset(sandbox, tenant_ids):
    before = sandbox.tenants()[1]
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant_ids[1]}/journals", {"generate": 5}, expect=201)
    assert [j["journalNumber"] for j in posted["journals"]] == list(
        range(before["journalCount"] + 1, before["journalCount"] + 6))
    sandbox.reset()
    assert sandbox.tenants()[1] == before


def test_voiding_posts_a_reversal_with_a_new_number(sandbox, api, tenant_ids):
    tenant = tenant_ids[0]
    original = envelope(api("Journals?offset=9", tenant), "Journals")[0]
    assert original["JournalNumber"] == 10
    reversal = sandbox.admin("POST", f"/admin/tenants/{tenant}/journals/10/void", expect=201)
    assert reversal["reverses"] == 10
    served = envelope(api(f"Journals?offset={reversal['journalNumber'] - 1}", tenant), "Journals")[0]
    assert served["JournalNumber"] == reversal["journalNumber"]
    assert served["SourceID"] == original["SourceID"]
    assert served["JournalDate"] == original["JournalDate"]
    assert [line["NetAmount"] for line in served["JournalLines"]] == [
        -line["NetAmount"] for line in original["JournalLines"]]
    assert sandbox.admin("POST", f"/admin/tenants/{tenant}/journals/{original['JournalID']}/void",
                         expect=400)["code"] == "rejected"


def test_a_new_tracking_option_appears(sandbox, api, tenant_ids):
    category = envelope(api("TrackingCategories"), "TrackingCategories")[0]
    option = sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/tracking-categories/"
                                   f"{category['TrackingCategoryID']}/options", {"name": "Hobart"}, expect=201)
    refreshed = envelope(api("TrackingCategories"), "TrackingCategories")[0]
    assert {"TrackingOptionID": option["TrackingOptionID"], "Name": "Hobart", "Status": "ACTIVE",
            "TrackingCategoryID": category["TrackingCategoryID"]} in refreshed["Options"]


def test_renamed_and_archived_accounts_show_up_in_if_modified_since(sandbox, api, tenant_ids):
    sandbox.clock.advance(60)  # later than anything generated
    since = if_modified_since(int(sandbox.clock() * 1000) - 1)
    assert envelope(api("Accounts", headers=since), "Accounts") == []
    renamed = sandbox.admin("PATCH", f"/admin/tenants/{tenant_ids[0]}/accounts/400",
                            {"name": "Marketing & Advertising"}, expect=200)
    sandbox.admin("PATCH", f"/admin/tenants/{tenant_ids[0]}/accounts/408", {"status": "ARCHIVED"}, expect=200)
    changed = envelope(api("Accounts", headers=since), "Accounts")
    assert {(a["Code"], a["Name"], a["Status"]) for a in changed} == {
        ("400", "Marketing & Advertising", "ACTIVE"), ("408", "Cleaning", "ARCHIVED")}
    assert renamed["UpdatedDateUTC"] == next(a for a in changed if a["Code"] == "400")["UpdatedDateUTC"]


def test_ground_truth_equals_the_sum_of_served_journals(sandbox, api, tenant_ids):
    tenant = tenant_ids[2]
    sandbox.admin("POST", f"/admin/tenants/{tenant}/journals", {"generate": 20}, expect=201)
    sandbox.admin("POST", f"/admin/tenants/{tenant}/journals/5/void", expect=201)
    served = defaultdict(Decimal)
    for journal in all_journals(api, tenant):
        day = datetime.fromtimestamp(int(journal["JournalDate"][6:-7]) / 1000, UTC)
        for line in journal["JournalLines"]:
            served[(line["AccountID"], day.strftime("%Y-%m"))] += line["NetAmount"]
    answer = sandbox.http.get(f"{sandbox.url}/admin/tenants/{tenant}/trial-balance", timeout=10,
                              headers={"X-Sandbox-Admin": sandbox.config.admin_key})
    truth = json.loads(answer.text, parse_float=Decimal)
    expected = {(row["accountId"], row["period"]): row["netAmount"] for row in truth["movements"]}
    assert expected == dict(served)
    assert truth["total"] == 0
    month = truth["movements"][0]["period"]
    one_month = sandbox.admin("GET", f"/admin/tenants/{tenant}/trial-balance?period={month}", expect=200)
    assert {row["period"] for row in one_month["movements"]} == {month}
    assert sandbox.admin("GET", f"/admin/tenants/{tenant}/trial-balance?period=2024-13", expect=400)


def test_grants_can_be_listed_and_revoked(sandbox, tenant_ids):
    client = sandbox.new_client()  # revoking removes the grant's connections: keep the shared ones
    fresh = sandbox.authorize(client=client)
    grants = sandbox.admin("GET", "/admin/grants", expect=200)
    latest = grants[-1]
    assert latest["tenantIds"] == tenant_ids and not latest["revoked"]
    revoked = sandbox.admin("POST", "/admin/grants/revoke", {"authEventId": latest["authEventId"]}, expect=200)
    assert revoked == {"revoked": [latest["authEventId"]]}
    assert sandbox.api("Accounts", fresh, tenant_ids[0]).status_code == 401
    again = requests.post(sandbox.url + "/xero/identity/connect/token", timeout=10,
                          auth=(client.client_id, client.client_secret),
                          data={"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]})
    assert again.json() == {"error": "invalid_grant"}


def test_a_report_adjustment_makes_the_trial_balance_disagree_from_that_month_on(sandbox, api, tenant_ids):
    def bank(as_at: str) -> tuple[Decimal, Decimal]:
        """The bank account's month figure and its balance (YTD: prior years included)."""
        report = envelope(api(f"Reports/TrialBalance?date={as_at}", tenant_ids[0]), "Reports")[0]
        row = next(r for s in report["Rows"] if s["RowType"] == "Section" for r in s["Rows"]
                   if r["Cells"][0]["Value"] == "Business Bank Account (090)")
        debit, credit, ytd_debit, ytd_credit = (Decimal(c["Value"] or "0") for c in row["Cells"][1:5])
        return debit - credit, ytd_debit - ytd_credit

    january, february, march = bank("2099-01-31"), bank("2099-02-28"), bank("2099-03-31")
    sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/report-adjustments",
                  {"accountCode": "090", "period": "2099-02", "amount": "50.00"}, expect=201)
    assert bank("2099-01-31") == january
    assert bank("2099-02-28") == (february[0] + Decimal("50.00"), february[1] + Decimal("50.00"))
    assert bank("2099-03-31") == (march[0], march[1] + Decimal("50.00"))
    refused = sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/report-adjustments",
                            {"accountCode": "090", "period": "February", "amount": "1"})
    assert refused["field"] == "period"
