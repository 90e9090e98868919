"""No input gives a 500, and what the service refuses it refuses the way the document says (issue 17)."""
import re
from datetime import UTC, datetime

import pytest

from server.config import LONGEST_REQUEST_LINE
from server.db.models import Connection, LogEvent
from server.web.common import NAME_PATTERN

BIG = str(2**63)  # past any integer either database can hold


def error_of(response) -> dict:
    assert response.is_json, response.data[:200]
    return response.get_json()["error"]


@pytest.mark.parametrize("method, path", [
    ("GET", f"/api/v1/connections/{BIG}"),
    ("GET", f"/api/v1/connections/{2**31}"),  # past PostgreSQL's INTEGER, which would refuse it
    ("POST", f"/api/v1/runs/{2**31}/cancel"),
    ("DELETE", f"/api/v1/connections/{BIG}"),
    ("POST", f"/api/v1/connections/{BIG}/refresh"),
    ("GET", f"/api/v1/runs/{BIG}"),
    ("GET", "/api/v1/connections/99999999999999999999999999"),
    ("GET", "/api/v1/connections/0"),
    ("GET", "/api/v1/connections/-1"),
    ("POST", "/api/v1/connections/-1/refresh"),
    ("PUT", "/api/v1/connections/-1/entities"),
    ("DELETE", "/api/v1/connections/-1"),
])
def test_an_id_out_of_range_is_no_such_thing(client, workspace, method, path):
    response = client.open(path, method=method, headers=workspace.admin(), json={})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_an_id_out_of_range_on_the_sign_in_page_is_404(client):
    assert client.get(f"/oauth/start/{BIG}?handoff=x").status_code == 404


@pytest.mark.parametrize("query, field", [
    (f"connection_id={BIG}", "connection_id"),
    (f"entity_id={BIG}", "entity_id"),
    (f"connection_id={2**31}", "connection_id"),
    ("connection_id=0", "connection_id"),
    (f"page={2**63 - 1}", "page"),
])
def test_a_filter_or_page_out_of_range_is_422(client, workspace, query, field):
    response = client.get(f"/api/v1/log?{query}", headers=workspace.member())
    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_a_page_out_of_range_on_the_list_is_422(client, workspace):
    response = client.get(f"/api/v1/connections?page={2**63 - 1}", headers=workspace.member())
    assert response.status_code == 422 and error_of(response)["field"] == "page"


@pytest.fixture
def log_events(db, workspace):
    """Two events either side of midnight in London (the workspace's zone), summer time: 23:30 UTC on
    31 May is 00:30 on 1 June there."""
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Demo")
        session.add(connection)
        session.flush()
        for minute in ((22, 30), (23, 30)):
            session.add(LogEvent(workspace_id=workspace.id, connection_id=connection.id, data_type="journals",
                                 status="succeeded", created_at=datetime(2024, 5, 31, *minute, tzinfo=UTC)))


@pytest.mark.parametrize("query, count", [
    ("since=2024-06-01", 1),  # a date is the start of that day in the workspace's zone (23:00 UTC)
    ("until=2024-06-01", 1),
    ("since=2024-06-01T00:00:00", 1),  # no zone: the workspace's
    ("since=2024-05-31T23:00:00%2B00:00", 1),  # a zone given is the zone meant
    ("since=2024-05-31T23:00:00Z", 1),
    ("until=2030-01-01T00:00:00", 2),
    ("since=0001-01-01T00:00:00%2B14:00", 2),  # the ends of the calendar are bounds, not overflows
    ("until=9999-12-31T23:59:59-14:00", 2),
    ("since=9999-12-31", 0),
])
def test_since_and_until_are_read_in_the_workspace_zone(client, workspace, log_events, query, count):
    response = client.get(f"/api/v1/log?{query}", headers=workspace.member())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"] == count


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday", "2024-13-01", "2024-01-01T25:00:00", ""])
def test_since_and_until_take_iso_dates_only(client, workspace, value):
    response = client.get(f"/api/v1/log?until={value}", headers=workspace.member())
    assert response.status_code == 422
    assert error_of(response)["field"] == "until"


def test_a_body_that_is_one_nul_byte_is_400_as_documented(client, workspace):
    response = client.patch("/api/v1/workspace", data=b"\x00", content_type="application/json",
                            headers=workspace.admin())
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    document = client.get("/api/openapi.json").get_json()
    assert "400" in document["paths"]["/api/v1/workspace"]["patch"]["responses"]


def test_an_empty_timezone_is_refused_by_the_schema_too(client, workspace):
    response = client.patch("/api/v1/workspace", json={"timezone": ""}, headers=workspace.admin())
    assert response.status_code == 422 and error_of(response)["field"] == "timezone"
    document = client.get("/api/openapi.json").get_json()
    schema = document["components"]["schemas"]["WorkspaceChange"]["properties"]["timezone"]
    assert {"type": "string", "minLength": 1} in [{k: v for k, v in s.items() if k != "maxLength"}
                                                    for s in schema["anyOf"]]


@pytest.mark.parametrize("path, allowed", [
    ("/api/v1/workspace", {"GET", "HEAD", "OPTIONS", "PATCH"}),
    ("/taskpane.html", {"GET", "HEAD", "OPTIONS"}),
])
def test_a_method_not_allowed_says_which_are(client, workspace, path, allowed):
    response = client.open(path, method="TRACE", headers=workspace.admin())
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == allowed


CONTROL = "Control characters"
BLANK = "more than spaces"  # a blank row in the list names nothing: spaces of any kind


@pytest.mark.parametrize("name, why", [
    ("Demo\x00books", CONTROL), ("Demo\nbooks", CONTROL), ("\x1b[31mred", CONTROL), ("tab\there", CONTROL),
    ("\x85next", CONTROL), (" ", BLANK), ("   ", BLANK), ("\u00a0", BLANK), ("\u2028\u3000", BLANK), ("\ufeff", BLANK)])
def test_names_with_control_characters_or_only_spaces_are_refused(client, workspace, name, why):
    for method, path, body in [("PATCH", "/api/v1/workspace", {"name": name}),
                               ("POST", "/api/v1/connections", {"provider": "xero-sandbox", "name": name})]:
        response = client.open(path, method=method, json=body, headers=workspace.admin())
        assert response.status_code == 422, (path, response.get_json())
        error = error_of(response)
        assert (error["code"], error["field"]) == ("invalid_value", "name")
        assert why in error["message"]
    assert not re.match(NAME_PATTERN, name), "the document refuses it too"


def test_names_keep_every_other_character(client, workspace):
    for name in ["Société Générale – 東京 (GBP) 🙂", " Acme\u00a0UK "]:
        response = client.patch("/api/v1/workspace", json={"name": name}, headers=workspace.admin())
        assert response.status_code == 200 and response.get_json()["name"] == name
        assert re.match(NAME_PATTERN, name)


def test_a_search_with_a_nul_byte_is_refused_not_sent_to_the_database(client, workspace):
    response = client.get("/api/v1/connections?q=a%00b", headers=workspace.member())
    assert response.status_code == 422 and error_of(response)["field"] == "q"


def test_every_name_field_in_the_document_refuses_control_characters_and_blanks(client):
    document = client.get("/api/openapi.json").get_json()
    names = [(schema_name, properties["name"]) for schema_name, schema in document["components"]["schemas"].items()
             if not schema_name.endswith("Out") and (properties := schema.get("properties", {})).get("name")
             and schema.get("additionalProperties") is False]
    assert names, "the document has request bodies with a name"
    for schema_name, name in names:
        variants = name.get("anyOf", [name])
        assert any(v.get("pattern") == NAME_PATTERN for v in variants), schema_name


@pytest.mark.parametrize("offered", ["<script>alert(1)</script>", "a b", "x" * 65, "id;Set-Cookie=a", "ü", ""])
def test_an_unsafe_request_id_is_replaced_by_our_own(client, offered):
    response = client.get("/healthz", headers={"X-Request-Id": offered})
    assert response.headers["X-Request-Id"] != offered
    assert len(response.headers["X-Request-Id"]) == 32


def test_the_log_never_takes_a_callers_markup(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("logged with the request id")

    response = app.test_client().get("/boom", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert response.status_code == 500
    assert response.headers["X-Request-Id"] in caplog.text and "<script>" not in caplog.text


@pytest.mark.parametrize("offered", ["abc-123", "req.2024_01", "A" * 64])
def test_a_safe_request_id_is_kept(client, offered):
    assert client.get("/healthz", headers={"X-Request-Id": offered}).headers["X-Request-Id"] == offered


def test_the_id_range_is_the_columns_range():
    from sqlalchemy import BigInteger, Integer

    from server.db.models import Connection, Entity, RefreshRun
    from server.web.common import MAX_ID

    for model in (Connection, Entity, RefreshRun):
        column_type = model.__table__.c.id.type
        assert isinstance(column_type, Integer) and not isinstance(column_type, BigInteger), model
    assert MAX_ID == 2**31 - 1  # a BigInteger id would raise it to 2**63 - 1


def test_setup_values_refuse_control_characters_before_any_database_sees_them(client, workspace):
    response = client.post("/api/v1/connections", json={"provider": "xero-sandbox", "setup": {"tenant": "a\x00"}},
                           headers=workspace.admin())
    assert response.status_code == 422 and error_of(response)["field"] == "setup.tenant"


def test_an_address_longer_than_a_request_line_may_be_is_refused_in_json(client, workspace):
    # gunicorn (`ledgerpane web`) refuses a longer line itself; the app answers the same to any server.
    def asked(accounts: int):
        path = "/api/v1/workbook/actuals?" + "&".join(f"account={100000 + n}" for n in range(accounts))
        return len(f"GET {path} HTTP/1.1"), client.get(path, headers=workspace.member())

    length, response = asked(543)
    assert length <= LONGEST_REQUEST_LINE and response.status_code == 200, (length, response.get_json())
    length, response = asked(544)
    assert length > LONGEST_REQUEST_LINE and response.status_code == 414
    assert error_of(response)["code"] == "uri_too_long" and response.headers["Cache-Control"] == "no-store"
    document = client.get("/api/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/v1/"):
                assert "414" in operation["responses"], (method, path)
