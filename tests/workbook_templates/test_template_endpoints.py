"""The templates over the API: listed for any member, each file served as built, an unknown name a JSON 404."""
from __future__ import annotations

import io
from pathlib import Path

import openpyxl

import workbook_templates

BUILT = Path(workbook_templates.__file__).parent
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_member_lists_the_templates_and_downloads_each_as_built(client, workspace):
    listed = client.get("/api/v1/workbook/templates", headers=workspace.member())
    assert listed.status_code == 200
    templates = listed.get_json()["templates"]
    assert [t["name"] for t in templates] == ["profit-and-loss-by-month", "balance-sheet", "trial-balance"]
    for template in templates:
        assert template["title"] and template["description"]
        answer = client.get(template["href"], headers=workspace.member())
        assert answer.status_code == 200 and answer.mimetype == XLSX
        assert answer.data == (BUILT / f"{template['name']}.xlsx").read_bytes()
        book = openpyxl.load_workbook(io.BytesIO(answer.data))
        assert book.sheetnames[0] == template["sheet"] and "Actuals" in book["Actuals"].tables


def test_an_unknown_template_or_no_key_is_refused_with_a_json_error(client, workspace):
    missing = client.get("/api/v1/workbook/templates/cash-flow.xlsx", headers=workspace.member())
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    for path in ("/api/v1/workbook/templates", "/api/v1/workbook/templates/balance-sheet.xlsx"):
        assert client.get(path).status_code == 401


def test_both_operations_are_declared_with_their_statuses(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"200", "401", "404", "422"} <= set(paths["/api/v1/workbook/templates"]["get"]["responses"])
    download = paths["/api/v1/workbook/templates/{name}.xlsx"]["get"]["responses"]
    assert {"200", "401", "404", "422"} <= set(download)
    assert XLSX in download["200"]["content"]
