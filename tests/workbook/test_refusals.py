"""What the workbook API refuses: bad filters (422 with the field), ids of another workspace or of nothing (404
alike), unknown sheets, and callers without a key."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(("params", "field", "code"), [
    ({"entity": "abc"}, "entity.0", "invalid_value"),
    ({"entity": "0"}, "entity.0", "invalid_value"),
    ({"entity": str(2**31)}, "entity.0", "invalid_value"),
    ({"member": "-1"}, "member.0", "invalid_value"),
    ({"from": "2024-13"}, "from", "invalid_value"),
    ({"from": "2024-1"}, "from", "invalid_value"),
    ({"to": "2024-01-31"}, "to", "invalid_value"),
    ({"from": "2024-06", "to": "2024-05"}, "to", "invalid_value"),
    ({"account": ""}, "account.0", "invalid_value"),
    ({"account": "40\x0000"}, "account.0", "invalid_value"),
    ({"summary": "maybe"}, "summary", "invalid_value"),
    ({"offset": "-1"}, "offset", "invalid_value"),
    ({"limit": "0"}, "limit", "invalid_value"),
    ({"limit": "100001"}, "limit", "invalid_value"),
    ({"summary": ["true", "false"]}, "summary", "repeated_parameter"),
])
def test_bad_filters_are_refused_with_the_field(books, params, field, code):
    error = books.sheets.get("/actuals", expect=422, **params)["error"]
    assert (error["field"], error["code"]) == (field, code), error
    assert error["message"]


@pytest.mark.parametrize("path", ["", ".xlsx", "/accounts"])
def test_the_other_routes_check_filters_too(books, path):
    assert books.sheets.get(path, expect=422, **{"from": "2024-02", "to": "2024-01"})["error"]["field"] == "to"


def test_an_unknown_sheet_is_refused(books):
    assert books.sheets.get("/journals", expect=422)["error"]["field"] == "sheet"


def test_another_workspaces_ids_answer_like_missing_ones(books, hand_made):
    theirs = {"entity": hand_made.entity_id, "member": hand_made.member_id}
    for field, their_id in theirs.items():
        for path in ("", "/actuals", ".xlsx"):
            foreign = books.sheets.client.get(f"/api/v1/workbook{path}", query_string={field: their_id},
                                              headers=books.sheets.headers)
            missing = books.sheets.client.get(f"/api/v1/workbook{path}", query_string={field: 2**31 - 1},
                                              headers=books.sheets.headers)
            assert foreign.status_code == missing.status_code == 404
            assert foreign.get_json() == missing.get_json() == {"error": {
                "code": "not_found", "message": f"No such {field}.", "field": field}}
    mine = sorted(books.entity_ids.values())[0]  # with one of the workspace's own ids beside, still refused
    assert books.sheets.get("/actuals", expect=404, entity=[mine, hand_made.entity_id])["error"]["field"] == "entity"
    assert hand_made.sheets.get("/actuals", expect=404, entity=mine)["error"]["field"] == "entity"


@pytest.mark.parametrize("path", ["", "/actuals", ".xlsx"])
def test_a_key_is_needed(books, path):
    response = books.sheets.client.get(f"/api/v1/workbook{path}")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthenticated"
