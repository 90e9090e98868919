"""The provider changes (a new tracking option, a renamed account) and the workspace does not silently follow:
new members land per their dimension's rule, the connection says "review mapping" and why, the log says it too,
and saving the mapping takes the change in."""
import pytest

from tests.support.refresh import run_refresh


def add_option_and_use_it(provider, tenant_id: str, name: str) -> None:
    provider.admin("POST", f"/admin/tenants/{tenant_id}/tracking-categories/Region/options", {"name": name},
                   expect=201)
    provider.admin("POST", f"/admin/tenants/{tenant_id}/journals", {
        "date": "2025-02-28", "lines": [
            {"accountCode": "429", "netAmount": "80.00", "tracking": [{"category": "Region", "option": name}]},
            {"accountCode": "800", "netAmount": "-80.00"}]}, expect=201)


@pytest.mark.parametrize("rule", ["unmapped", "create", "member"])
def test_a_new_option_lands_per_the_rule(rule, mapping, placed, journey, books, provider):
    region = mapping.dimension("Region")
    chosen = mapping.member(region["id"], "Elsewhere")
    provider_region = mapping.provider_dimension("Region")
    mapping.save([{"provider_dimension_id": provider_region["id"], "dimension_id": region["id"],
                   "new_members": rule, "new_members_member_id": chosen if rule == "member" else None,
                   "members": [{"provider_member_id": m["id"], "create": True} for m in provider_region["members"]]}])
    before = set(placed())
    add_option_and_use_it(provider, books.tenant_id, "Hobart")
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    members = {m["name"]: m["id"] for m in mapping.get()["workspace_dimensions"][0]["members"]}
    lines = placed()
    hobart = [row for line_id, row in lines.items()
              if line_id not in before and f"{provider_region['source_id']}=" in row[0]]
    assert len(hobart) == 1
    expected = {"unmapped": members["Unmapped"], "create": members.get("Hobart"), "member": chosen}[rule]
    assert hobart[0][1] == expected
    assert ("Hobart" in members) == (rule == "create")
    seen = mapping.get()
    assert seen["unmapped"]["members"] == (1 if rule == "unmapped" else 0)


def test_source_changed_is_flagged_logged_and_cleared_by_saving(mapping, journey, books, provider, client,
                                                                 workspace):
    region = mapping.dimension("Region")
    provider_region = mapping.provider_dimension("Region")
    plan = [{"provider_dimension_id": provider_region["id"], "dimension_id": region["id"]}]
    mapping.save(plan)
    assert mapping.get()["review"] == ""
    add_option_and_use_it(provider, books.tenant_id, "Hobart")
    account = provider.admin("GET", f"/admin/tenants/{books.tenant_id}/trial-balance", expect=200)["movements"][0]
    provider.admin("PATCH", f"/admin/tenants/{books.tenant_id}/accounts/{account['accountId']}",
                   {"name": "Renamed at the provider"}, expect=200)
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    review = mapping.get()["review"]
    assert "new member of Region Hobart" in review
    assert f"renamed {account['accountCode']} Renamed at the provider" in review
    log = client.get(f"/api/v1/log?connection_id={books.connection_id}", headers=workspace.admin()).get_json()
    details = [e["detail"] for e in log["items"]]
    assert any(d.startswith("Source changed: review mapping.") and "Hobart" in d for d in details)
    assert "1 new member is unmapped (landing on Unmapped): Hobart." in details
    assert "Hobart" in mapping.get()["unmapped"]["names"]
    mapping.save(plan)
    assert mapping.get()["review"] == ""


def test_a_refresh_with_nothing_changed_flags_nothing(mapping, journey, books):
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    assert mapping.get()["review"] == ""


def test_mapping_changes_are_in_the_audit_trail(mapping, journey, books, provider, client, workspace):
    region = mapping.dimension("Region")
    provider_region = mapping.provider_dimension("Region")
    mapping.save([{"provider_dimension_id": provider_region["id"], "dimension_id": region["id"],
                   "new_members": "create"}])
    add_option_and_use_it(provider, books.tenant_id, "Hobart")
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    trail = client.get(f"/api/v1/mapping/changes?connection_id={books.connection_id}",
                       headers=workspace.member()).get_json()["items"]
    assert [(c["action"], c["user"]) for c in trail] == [("members.created_by_rule", "refresh"),
                                                         ("mapping.saved", "controller@acme.test")]
    assert trail[0]["detail"]["members"] == ["Hobart"]
    assert trail[1]["detail"]["mapping"][0]["new_members"] == "create"
    assert sorted(trail[1]["detail"]["members_created"]) == sorted(m["name"] for m in provider_region["members"])


def test_the_connection_shows_source_changed_and_unmapped_counts(mapping, journey, books, provider):
    region = mapping.dimension("Region")
    provider_region = mapping.provider_dimension("Region")
    mapping.save([{"provider_dimension_id": provider_region["id"], "dimension_id": region["id"]}])
    shown = journey.connection(books.connection_id)
    assert shown["mapping_review"] == ""
    assert shown["unmapped"] == {"members": len(provider_region["members"]),
                                 "names": sorted(m["name"] for m in provider_region["members"]),
                                 "dimensions_not_mapped": 1, "accounts": 0, "account_names": []}
    add_option_and_use_it(provider, books.tenant_id, "Hobart")
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    shown = journey.connection(books.connection_id)
    assert "new member of Region Hobart" in shown["mapping_review"]
    assert shown["unmapped"]["members"] == len(provider_region["members"]) + 1
