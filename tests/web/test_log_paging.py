"""The integration log's pages: a cursor that reaches any depth without walking what came before, and a count that
stops at a limit instead of reading a workspace's whole log on every request."""
import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from server.db.models import Connection, LogEvent
from server.web import log
from tests.support.openapi import validator_for

START = datetime(2026, 3, 1, tzinfo=UTC)


def add_events(db, workspace, count: int, connection_name: str = "Acme UK") -> int:
    """`count` events; every third pair shares a moment, so the order has to fall back on the id."""
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, name=connection_name, provider="xero")
        session.add(connection)
        session.flush()
        connection_id = connection.id
    with db.engine.begin() as database:
        database.execute(insert(LogEvent), [
            {"workspace_id": workspace.id, "connection_id": connection_id, "data_type": "journals",
             "status": "failed" if n % 10 == 0 else "succeeded", "created_at": START + timedelta(minutes=n // 2)}
            for n in range(count)])
    return connection_id


def get(client, workspace, query: str) -> dict:
    response = client.get(f"/api/v1/log?{query}", headers=workspace.member())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def walk(client, workspace, query: str) -> list[dict]:
    """Every page, by each page's cursor."""
    body = get(client, workspace, query)
    items = body["items"]
    while body["next_cursor"] is not None:
        body = get(client, workspace, f"{query}&cursor={body['next_cursor']}")
        items += body["items"]
    return items


def test_the_cursor_walks_the_whole_log_newest_first_without_gaps_or_repeats(client, db, workspace):
    add_events(db, workspace, 23)
    items = walk(client, workspace, "per_page=4")
    assert [i["id"] for i in items] == [i["id"] for i in get(client, workspace, "per_page=200")["items"]]
    assert len({i["id"] for i in items}) == 23
    moments = [(i["created_at"], i["id"]) for i in items]
    assert moments == sorted(moments, reverse=True)


def test_the_cursor_keeps_the_filters(client, db, workspace):
    add_events(db, workspace, 30)
    failures = walk(client, workspace, "per_page=2&status=failed")
    assert len(failures) == 3 and {i["status"] for i in failures} == {"failed"}


def test_pages_by_number_and_by_cursor_agree(client, db, workspace):
    add_events(db, workspace, 12)
    first = get(client, workspace, "per_page=5")
    assert get(client, workspace, f"per_page=5&cursor={first['next_cursor']}")["items"] == \
        get(client, workspace, "per_page=5&page=2")["items"]


def test_the_count_is_exact_up_to_the_limit_and_says_so_past_it(client, db, workspace, monkeypatch):
    monkeypatch.setattr(log, "COUNT_LIMIT", 10)
    add_events(db, workspace, 10)
    body = get(client, workspace, "per_page=3")
    assert (body["total"], body["total_exact"]) == (10, True)
    assert get(client, workspace, "per_page=3&status=failed") | {"items": []} == {
        "items": [], "total": 1, "total_exact": True, "page": 1, "per_page": 3, "next_cursor": None}
    add_events(db, workspace, 1, "Acme US")
    body = get(client, workspace, "per_page=3")
    assert (body["total"], body["total_exact"]) == (10, False)


def test_the_last_page_has_no_cursor_and_a_later_page_keeps_the_count(client, db, workspace):
    add_events(db, workspace, 6)
    first = get(client, workspace, "per_page=6")
    assert (first["total"], first["next_cursor"]) == (6, None)
    second = get(client, workspace, "per_page=4&page=2")
    assert (len(second["items"]), second["total"], second["next_cursor"]) == (2, 6, None)


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "abc", encoded("2026-03-01T00:00:00|1"), encoded("2026-03-01T00:00:00+00:00|0"),
    encoded("2026-03-01T00:00:00+00:00|9223372036854775808"), encoded("2026-03-01|x"), "%FF", "x" * 101,
    encoded("0001-01-01T00:00:00+14:00|5"), encoded("9999-12-31T23:59:59-14:00|2147483647")])
def test_a_cursor_not_from_the_log_is_refused_by_name(client, workspace, cursor):
    # In order: not base64 of ours; no zone; id 0; an id past 2^63; no id; not text; too long; two moments with
    # no UTC time (before year 1, after 9999), which were once a 500.
    response = client.get(f"/api/v1/log?cursor={cursor}", headers=workspace.member())
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == "cursor"


def test_a_page_number_and_a_cursor_together_are_refused(client, db, workspace):
    add_events(db, workspace, 3)
    cursor = get(client, workspace, "per_page=1")["next_cursor"]
    response = client.get(f"/api/v1/log?per_page=1&page=2&cursor={cursor}", headers=workspace.member())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "cursor"


def test_another_workspace_sees_none_of_the_log_even_with_its_cursor(client, db, workspace, other_workspace):
    add_events(db, workspace, 5)
    cursor = get(client, workspace, "per_page=1")["next_cursor"]
    response = client.get(f"/api/v1/log?cursor={cursor}", headers=other_workspace.member())
    assert response.get_json() | {} == {"items": [], "total": 0, "total_exact": True, "page": 1, "per_page": 25,
                                        "next_cursor": None}


def test_pages_match_the_openapi_document(client, db, workspace):
    add_events(db, workspace, 5)
    validator = validator_for(client.get("/api/openapi.json").get_json(), "/api/v1/log", "get", 200)
    first = get(client, workspace, "per_page=2")
    validator.validate(first)
    validator.validate(get(client, workspace, f"per_page=2&cursor={first['next_cursor']}"))
