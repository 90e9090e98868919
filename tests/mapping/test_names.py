"""Names of dimensions and members are compared as a person reads them, with any letters: SQLite's lower() folds
ASCII letters only, so "ÉTÉ" once passed the check for a taken name and then broke the unique name (a 500), and
a provider's member "ÖSTERREICH" stopped the create rule (a KeyError)."""
from __future__ import annotations

from sqlalchemy import func, select

from server.db.engine import transaction
from server.db.models import (
    DimensionMapping,
    DimensionMember,
    MemberMapping,
    SourceDimension,
    SourceDimensionOption,
)
from server.mapping.rules import create_members_by_rule
from tests.support.database import add_company


def add_member(client, headers, dimension_id: int, name: str):
    return client.post(f"/api/v1/dimensions/{dimension_id}/members", json={"name": name}, headers=headers)


def test_a_name_taken_in_other_letters_is_refused_not_a_500(client, workspace):
    admin = workspace.admin()
    assert client.post("/api/v1/dimensions", json={"name": "ÉTÉ"}, headers=admin).status_code == 201
    for again in ("ÉTÉ", "été", " Été ", "ÉTÉ\u00a0"):
        response = client.post("/api/v1/dimensions", json={"name": again}, headers=admin)
        assert (response.status_code, response.get_json()["error"]["code"]) == (409, "name_taken"), again
    region = client.post("/api/v1/dimensions", json={"name": "Région"}, headers=admin).get_json()
    assert add_member(client, admin, region["id"], "ÖSTERREICH").status_code == 201
    for again in ("ÖSTERREICH", "Österreich", "Österreich "):
        response = add_member(client, admin, region["id"], again)
        assert (response.status_code, response.get_json()["error"]["code"]) == (409, "name_taken"), again


def test_the_create_rule_gives_a_member_named_in_capitals_its_workspace_member(client, db, workspace):
    region = client.post("/api/v1/dimensions", json={"name": "Region"}, headers=workspace.admin()).get_json()
    with transaction(db.sessions) as session:
        entity = add_company(session, workspace.id, "Acme AT", "EUR")
        connection_id = entity.connection_id
        source = SourceDimension(workspace_id=workspace.id, connection_id=connection_id,
                                 entity_id=entity.id, source_dimension_id="region", name="Region")
        session.add(source)
        session.flush()
        session.add_all([SourceDimensionOption(source_dimension_id=source.id, source_option_id=f"o{n}", name=name)
                         for n, name in enumerate(["ÖSTERREICH", "Österreich", "ÉIRE"])])
        session.add(DimensionMapping(workspace_id=workspace.id, connection_id=connection_id,
                                     source_dimension_id=source.id, dimension_id=region["id"], new_members="create"))
        session.flush()
        created = create_members_by_rule(session, connection_id)
        names = set(session.scalars(select(DimensionMember.name).where(DimensionMember.dimension_id == region["id"])))
        placed = session.scalar(select(func.count()).select_from(MemberMapping)
                                .where(MemberMapping.connection_id == connection_id))
    # One member for the two spellings of one name, one for the other; every provider member is placed.
    (made,) = created.values()
    assert len(made) == 2 and "ÉIRE" in made and len({"ÖSTERREICH", "Österreich"} & set(made)) == 1
    assert names == {"Unmapped", *made} and placed == 3
