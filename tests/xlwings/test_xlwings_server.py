"""The xlwings Server endpoint, driven as xlwings' Office.js client drives it (the request body its `runPython`
posts: client, version, book, names, sheets with values and tables), with the free `noncommercial` key; and
`ledgerpane workbook pull` on a computer without desktop Excel."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from server.cli import main
from tests.support.journey import Journey, provider_app
from tests.support.refresh import run_refresh

OLD_ROWS = [["Old entity", 1], ["Old entity", 2], ["Old entity", 3]]


def office_js_book() -> dict:
    """A workbook with a Budget sheet and, on the second sheet, an Actuals table from an earlier load, as xlwings'
    Office.js client describes it (`runPython`: xlwingsjs/src/xlwings.ts in the xlwings repository, and
    `getBookData` in xlwings-server, which adds `calculation` and the names' scope)."""
    return {
        "client": "Office.js", "version": "0.33.0",
        "book": {"name": "Budget.xlsx", "active_sheet_index": 0, "selection": "B2", "calculation": "automatic"},
        "names": [{"name": "PlanTotal", "sheet_index": 0, "address": "$B$2", "scope_sheet_name": None,
                   "scope_sheet_index": None, "book_scope": True}],
        "sheets": [
            {"name": "Budget", "values": [["Account", "Plan"], ["200", 1000]], "pictures": [], "tables": []},
            {"name": "Actuals", "values": [["Entity", "Amount"], *OLD_ROWS], "pictures": [], "tables": [{
                "name": "Actuals", "range_address": "$A$1:$B$4", "header_row_range_address": "$A$1:$B$1",
                "data_body_range_address": "$A$2:$B$4", "total_row_range_address": None, "show_headers": True,
                "show_totals": False, "table_style": "TableStyleMedium2", "show_autofilter": True}]},
        ],
    }


@pytest.fixture
def licensed_app(db, tmp_path, provider, monkeypatch):
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", "noncommercial")
    with provider_app(db, tmp_path, provider) as app:
        yield app


@pytest.fixture
def refreshed(licensed_app, provider, workspace) -> Journey:
    journey = Journey(licensed_app.test_client(), provider, workspace.admin())
    connection_id = journey.connect()
    journey.select(connection_id, 1)
    assert run_refresh(journey, connection_id)["status"] == "succeeded"
    return journey


def written(actions: list[dict], sheet_position: int) -> dict[int, list]:
    """The cells the setValues actions write on one sheet: row index -> values."""
    rows: dict[int, list] = {}
    for action in actions:
        if action["func"] == "setValues" and action["sheet_position"] == sheet_position:
            for offset, values in enumerate(action["values"]):
                rows[action["start_row"] + offset] = values
    return rows


def test_the_sheets_are_written_into_the_book_and_the_actuals_table_resized_in_place(refreshed, workspace):
    answer = refreshed.client.post("/api/v1/workbook/xlwings?summary=true", json=office_js_book(),
                                   headers=workspace.member())
    assert answer.status_code == 200, answer.get_json()
    actions = answer.get_json()["actions"]
    expected = refreshed.client.get("/api/v1/workbook/actuals?summary=true&limit=100000",
                                    headers=workspace.member()).get_json()

    # Actuals: the existing table (sheet 1, its table 0) resized over header + rows, never a second table.
    resized = [a for a in actions if a["func"] == "resizeTable" and a["sheet_position"] == 1]
    columns = len(expected["columns"])
    last_column = chr(ord("A") + columns - 1)
    assert resized == [{**resized[0], "args": [0, f"$A$1:${last_column}${len(expected['rows']) + 1}"]}]
    rows = written(actions, 1)
    assert rows[0] == [c["name"] for c in expected["columns"]]
    assert [rows[index] for index in range(1, len(expected["rows"]) + 1)] == expected["rows"]
    assert not any(a["func"] == "addTable" and a["args"][-1] == "Actuals" for a in actions)
    period = next(i for i, c in enumerate(expected["columns"]) if c["name"] == "Period")
    assert any(a["func"] == "setNumberFormat" and a["args"] == ["mmm yyyy"] and a["start_column"] == period
               for a in actions), "Period written as serial days under a date format"
    assert written(actions, 0) == {}, "the Budget sheet is left alone"

    # Accounts and Dimensions: new sheets, each made a table of its name over what was written.
    added = [a["args"][1] for a in actions if a["func"] == "addSheet"]
    tables = [a["args"][-1] for a in actions if a["func"] == "addTable"]
    assert added == tables == ["Accounts", "Dimensions"]
    accounts = refreshed.client.get("/api/v1/workbook/accounts?limit=100000", headers=workspace.member()).get_json()
    assert written(actions, 2) == dict(enumerate([[c["name"] for c in accounts["columns"]], *accounts["rows"]]))


def test_a_book_xlwings_cannot_read_is_refused_with_a_json_error(licensed_app, workspace):
    client = licensed_app.test_client()
    book = office_js_book()
    book["sheets"][1]["tables"][0]["range_address"] = "nonsense"
    answer = client.post("/api/v1/workbook/xlwings", json=book, headers=workspace.member())
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "invalid_book", answer.get_json()
    answer = client.post("/api/v1/workbook/xlwings", json={"client": "Office.js"}, headers=workspace.member())
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "missing_field"
    assert client.post("/api/v1/workbook/xlwings", json=office_js_book()).status_code == 401


def test_a_key_xlwings_refuses_is_named_as_the_services_invalid_licence(db, tmp_path, provider, workspace,
                                                                         monkeypatch, caplog):
    # xlwings decides once, on import, whether its remote engine loads: import it as a licensed service has it,
    # so that this test leaves the process as the licensed tests expect it, whichever runs first.
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", "noncommercial")
    import xlwings  # noqa: F401

    bad_key = "lp-test-not-an-xlwings-key-0a1b2"
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", bad_key)
    with provider_app(db, tmp_path, provider) as app:
        answer = app.test_client().post("/api/v1/workbook/xlwings", json=office_js_book(), headers=workspace.member())
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (503, "xlwings_license_invalid"), error
    assert "XLWINGS_LICENSE_KEY" in error["message"] and "Invalid xlwings license key" in error["message"]
    assert bad_key not in answer.get_data(as_text=True) and bad_key not in caplog.text


def test_without_a_licence_key_there_is_no_xlwings_endpoint(client, workspace, monkeypatch):
    monkeypatch.delenv("XLWINGS_LICENSE_KEY", raising=False)
    answer = client.post("/api/v1/workbook/xlwings", json=office_js_book(), headers=workspace.member())
    assert answer.status_code == 405, answer.get_json()  # only GET /workbook/{sheet} matches the path then
    assert "/api/v1/workbook/xlwings" not in client.get("/api/openapi.json").get_json()["paths"]


def test_licensed_endpoint_is_declared_with_its_statuses(licensed_app):
    operation = licensed_app.test_client().get("/api/openapi.json").get_json()["paths"]["/api/v1/workbook/xlwings"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(operation["post"]["responses"])


def test_pull_says_plainly_that_it_needs_desktop_excel(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    result = CliRunner().invoke(main, ["workbook", "pull", "--book", "Budget.xlsx", "--url", "http://127.0.0.1:9",
                                       "--key", "lp_unused"])
    assert result.exit_code != 0
    assert "needs desktop Excel on Windows or macOS" in result.output
