"""Workspace isolation, generated from the OpenAPI document: every operation that takes an id, called with
another workspace's key, answers exactly as it does for an id that does not exist (issue 17)."""
import re

import pytest
from sqlalchemy import select

from server.db.engine import transaction
from server.db.models import Connection, Entity, RefreshRun
from server.mapping.dimensions import add_dimension, add_member
from server.web.common import MAX_ID

MISSING = MAX_ID  # in range, and never reached by a test's sequence


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def minimal(document: dict, schema: dict):
    """The smallest instance the schema accepts, so that a request reaches its view: the view, not the
    validation, must be what refuses another workspace's id."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        return minimal(document, next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: minimal(document, schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(document, schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "boolean":
        return False
    raise AssertionError(f"no minimal instance for {schema}")


def operations_with_ids(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if re.search(r"\{\w+_id\}", path):
                yield method.upper(), path, operation


@pytest.fixture
def theirs(db, other_workspace) -> dict[str, int]:
    """Another workspace's connection (signed in, a company selected), one of its runs, and one of its
    dimensions with a member."""
    with transaction(db.sessions) as session:
        connection = Connection(workspace_id=other_workspace.id, provider="xero-sandbox", name="Their books",
                                status="authenticated", credential_status="active")
        session.add(connection)
        session.flush()
        session.add(Entity(workspace_id=other_workspace.id, connection_id=connection.id, provider_entity_id="t1",
                           name="Their company", selected=True))
        run = RefreshRun(workspace_id=other_workspace.id, connection_id=connection.id, trigger="manual")
        session.add(run)
        dimension = add_dimension(session, other_workspace.id, "Region")
        member = add_member(session, dimension, "North")
        session.flush()
        return {"connection_id": connection.id, "run_id": run.id, "dimension_id": dimension.id,
                "member_id": member.id, "stream": "journals"}  # a stream is named within its connection


def test_every_id_of_another_workspace_answers_like_a_missing_one(client, workspace, theirs, db):
    document = client.get("/api/openapi.json").get_json()
    checked = []
    for method, path, operation in operations_with_ids(document):
        names = re.findall(r"\{(\w+)\}", path)
        assert set(names) <= theirs.keys(), f"{method} {path}: seed an object for {names}"
        body = None
        if "requestBody" in operation:
            body = minimal(document, operation["requestBody"]["content"]["application/json"]["schema"])
        answers = []
        for ids in (theirs, dict.fromkeys(theirs, MISSING)):
            url = re.sub(r"\{(\w+)\}", lambda match, ids=ids: str(ids[match.group(1)]), path)
            answers.append(client.open(url, method=method, json=body, headers=workspace.admin()))
        foreign, missing = answers
        assert (foreign.status_code, missing.status_code) == (404, 404), (method, path, foreign.get_json())
        assert foreign.get_json() == missing.get_json(), (method, path)
        checked.append(f"{method} {path}")
    assert len(checked) >= 8, checked  # the connection's actions and the run's
    with db.sessions() as session:  # and nothing of theirs moved
        connection = session.get(Connection, theirs["connection_id"])
        assert (connection.status, connection.deleted_at) == ("authenticated", None)
        assert session.scalar(select(RefreshRun.status).where(RefreshRun.id == theirs["run_id"])) == "queued"
        assert session.scalar(select(Entity.selected).where(Entity.connection_id == connection.id)) is True


def test_filtering_by_another_workspaces_connection_shows_nothing_of_it(client, workspace, theirs):
    runs = client.get(f"/api/v1/runs?connection_id={theirs['connection_id']}", headers=workspace.admin())
    missing = client.get(f"/api/v1/runs?connection_id={MISSING}", headers=workspace.admin())
    assert (runs.status_code, runs.get_json()) == (404, missing.get_json())
    log = client.get(f"/api/v1/log?connection_id={theirs['connection_id']}", headers=workspace.admin())
    assert log.status_code == 200 and log.get_json()["total"] == 0
