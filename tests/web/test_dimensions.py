"""Workspace dimensions and their members through the API: admins change them, members read them, another
workspace's ids answer 404, and what holds ledger lines is only deleted when the caller says what happens."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from server.db.models import Connection, Entity, LedgerLine


def create(client, headers, name, expect=201):
    response = client.post("/api/v1/dimensions", json={"name": name}, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def add_member(client, headers, dimension_id, name, code="", expect=201):
    response = client.post(f"/api/v1/dimensions/{dimension_id}/members", json={"name": name, "code": code},
                           headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


@pytest.fixture
def lines(db, workspace):
    """Three loaded lines of a connection of the workspace (no dimension yet)."""
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, name="Books", provider="xero", status="live")
        session.add(connection)
        session.flush()
        entity = Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id="t1", name="Co")
        session.add(entity)
        session.flush()
        session.add_all([LedgerLine(workspace_id=workspace.id, connection_id=connection.id, entity_id=entity.id,
                                    source_line_id=f"L{n}", date=date(2025, 1, 5), period=date(2025, 1, 1),
                                    amount=Decimal("10"), currency="GBP", amount_base=Decimal("10"))
                         for n in range(3)])
    return db


def dims_of_lines(db):
    with db.sessions() as session:
        return session.execute(select(LedgerLine.dim1_member_id, LedgerLine.dim2_member_id)).all()


def test_an_admin_adds_dimensions_and_loaded_lines_land_on_unmapped(client, workspace, lines):
    region = create(client, workspace.admin(), "Region")
    assert region["position"] == 1 and region["order"] == 1
    assert [(m["name"], m["unmapped"]) for m in region["members"]] == [("Unmapped", True)]
    assert dims_of_lines(lines) == [(region["members"][0]["id"], None)] * 3
    listed = client.get("/api/v1/dimensions", headers=workspace.member()).get_json()["items"]
    assert [d["name"] for d in listed] == ["Region"]


def test_a_member_reads_but_may_not_change(client, workspace):
    region = create(client, workspace.admin(), "Region")
    assert client.get(f"/api/v1/dimensions/{region['id']}", headers=workspace.member()).status_code == 200
    refused = [
        client.post("/api/v1/dimensions", json={"name": "Dept"}, headers=workspace.member()),
        client.patch(f"/api/v1/dimensions/{region['id']}", json={"name": "Area"}, headers=workspace.member()),
        client.delete(f"/api/v1/dimensions/{region['id']}", headers=workspace.member()),
        client.post(f"/api/v1/dimensions/{region['id']}/members", json={"name": "North"},
                    headers=workspace.member()),
    ]
    assert [(r.status_code, r.get_json()["error"]["code"]) for r in refused] == [(403, "admin_only")] * 4


def test_at_most_four_and_names_are_unique(client, workspace):
    for name in ("Region", "Department", "Product", "Project"):
        create(client, workspace.admin(), name)
    assert create(client, workspace.admin(), "Channel", expect=409)["error"]["code"] == "too_many_dimensions"
    dimension = client.get("/api/v1/dimensions", headers=workspace.admin()).get_json()["items"][0]
    response = client.patch(f"/api/v1/dimensions/{dimension['id']}", json={"name": "department"},
                            headers=workspace.admin())
    assert response.status_code == 409 and response.get_json()["error"] == {
        "code": "name_taken", "message": "The workspace already has a dimension called department.", "field": "name"}


def test_renaming_and_ordering(client, workspace):
    ids = [create(client, workspace.admin(), name)["id"] for name in ("Region", "Department", "Product")]
    moved = client.patch(f"/api/v1/dimensions/{ids[2]}", json={"order": 1, "name": "Line of business"},
                         headers=workspace.admin()).get_json()
    assert (moved["name"], moved["order"], moved["position"]) == ("Line of business", 1, 3)
    listed = client.get("/api/v1/dimensions", headers=workspace.admin()).get_json()["items"]
    assert [(d["name"], d["position"]) for d in listed] == [("Line of business", 3), ("Region", 1),
                                                             ("Department", 2)]


def test_bad_input_is_a_json_error(client, workspace):
    assert create(client, workspace.admin(), "", expect=422)["error"]["field"] == "name"
    assert create(client, workspace.admin(), "A\x00B", expect=422)["error"]["field"] == "name"
    region = create(client, workspace.admin(), "Region")
    response = client.patch(f"/api/v1/dimensions/{region['id']}", json={"order": 9}, headers=workspace.admin())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "order"
    response = client.delete(f"/api/v1/dimensions/{region['id']}?lines=everything", headers=workspace.admin())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "lines"


def test_another_workspaces_dimension_answers_404(client, workspace, other_workspace):
    theirs = create(client, other_workspace.admin(), "Region")
    unmapped = theirs["members"][0]["id"]
    for response in (client.get(f"/api/v1/dimensions/{theirs['id']}", headers=workspace.admin()),
                     client.patch(f"/api/v1/dimensions/{theirs['id']}", json={"name": "X"}, headers=workspace.admin()),
                     client.delete(f"/api/v1/dimensions/{theirs['id']}", headers=workspace.admin()),
                     client.get(f"/api/v1/dimensions/{theirs['id']}/members", headers=workspace.admin()),
                     client.patch(f"/api/v1/dimensions/{theirs['id']}/members/{unmapped}", json={"code": "X"},
                                  headers=workspace.admin())):
        assert response.status_code == 404, response.get_json()
    mine = create(client, workspace.admin(), "Region")
    response = client.delete(f"/api/v1/dimensions/{mine['id']}/members/{unmapped}", headers=workspace.admin())
    assert response.status_code == 404


def test_members_are_added_renamed_and_unmapped_stays(client, workspace):
    region = create(client, workspace.admin(), "Region")
    north = add_member(client, workspace.admin(), region["id"], "North", "N")
    assert add_member(client, workspace.admin(), region["id"], "north", expect=409)["error"]["code"] == "name_taken"
    changed = client.patch(f"/api/v1/dimensions/{region['id']}/members/{north['id']}",
                           json={"name": "Northern", "code": "NO"}, headers=workspace.admin()).get_json()
    assert (changed["name"], changed["code"]) == ("Northern", "NO")
    unmapped = region["members"][0]["id"]
    renamed = client.patch(f"/api/v1/dimensions/{region['id']}/members/{unmapped}", json={"name": "Other"},
                           headers=workspace.admin())
    assert renamed.status_code == 409 and renamed.get_json()["error"]["code"] == "unmapped_is_fixed"
    deleted = client.delete(f"/api/v1/dimensions/{region['id']}/members/{unmapped}", headers=workspace.admin())
    assert deleted.status_code == 409 and deleted.get_json()["error"]["code"] == "unmapped_is_fixed"
    members = client.get(f"/api/v1/dimensions/{region['id']}/members", headers=workspace.member()).get_json()
    assert [m["name"] for m in members["items"]] == ["Unmapped", "Northern"]


def place_lines_on(db, member_id):
    with db.sessions.begin() as session:
        session.execute(LedgerLine.__table__.update().values(dim1_member_id=member_id))


def test_a_dimension_holding_data_is_deleted_only_when_told_what_happens(client, workspace, lines):
    region = create(client, workspace.admin(), "Region")
    north = add_member(client, workspace.admin(), region["id"], "North")
    place_lines_on(lines, north["id"])
    refused = client.delete(f"/api/v1/dimensions/{region['id']}", headers=workspace.admin())
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "dimension_holds_data"
    assert "3 ledger lines" in refused.get_json()["error"]["message"]
    assert dims_of_lines(lines) == [(north["id"], None)] * 3
    deleted = client.delete(f"/api/v1/dimensions/{region['id']}?lines=clear", headers=workspace.admin())
    assert deleted.status_code == 200 and deleted.get_json()["lines"] == 3
    assert dims_of_lines(lines) == [(None, None)] * 3
    assert client.get("/api/v1/dimensions", headers=workspace.admin()).get_json()["items"] == []


def test_a_dimension_whose_lines_are_all_unmapped_is_deleted_plainly(client, workspace, lines):
    region = create(client, workspace.admin(), "Region")
    assert client.delete(f"/api/v1/dimensions/{region['id']}", headers=workspace.admin()).status_code == 200
    assert dims_of_lines(lines) == [(None, None)] * 3


def test_a_member_holding_lines_moves_them_to_unmapped_only_when_told(client, workspace, lines):
    region = create(client, workspace.admin(), "Region")
    north = add_member(client, workspace.admin(), region["id"], "North")
    place_lines_on(lines, north["id"])
    url = f"/api/v1/dimensions/{region['id']}/members/{north['id']}"
    refused = client.delete(url, headers=workspace.admin())
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "member_holds_data"
    deleted = client.delete(f"{url}?lines=unmapped", headers=workspace.admin())
    assert deleted.get_json() == {"id": north["id"], "deleted": True, "lines": 3}
    assert dims_of_lines(lines) == [(region["members"][0]["id"], None)] * 3


def test_every_change_is_in_the_audit_trail(client, workspace):
    region = create(client, workspace.admin(), "Region")
    north = add_member(client, workspace.admin(), region["id"], "North")
    client.patch(f"/api/v1/dimensions/{region['id']}", json={"name": "Area"}, headers=workspace.admin())
    client.delete(f"/api/v1/dimensions/{region['id']}/members/{north['id']}", headers=workspace.admin())
    trail = client.get("/api/v1/mapping/changes", headers=workspace.member()).get_json()
    assert [(c["action"], c["user"]) for c in trail["items"]] == [
        ("member.deleted", "controller@acme.test"), ("dimension.renamed", "controller@acme.test"),
        ("member.created", "controller@acme.test"), ("dimension.created", "controller@acme.test")]
    assert trail["items"][1]["detail"] == {"dimension_id": region["id"], "from": "Region", "to": "Area"}
    assert trail["total"] == 4
