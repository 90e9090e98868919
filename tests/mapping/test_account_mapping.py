"""Mapping a connection's provider accounts onto the workspace chart, against the sandbox provider over HTTP: the
mirror by default, explicit one-to-one and many-to-one rows, code ranges and prefixes, the rule for the others,
the preview, re-placing the loaded lines, and accounts that arrive unmapped after a refresh."""
from collections import Counter, defaultdict
from decimal import Decimal

from sqlalchemy import insert, select

from server.db.models import Account, Connection, LogEvent, MappingChange
from server.mapping import review
from tests.support.refresh import run_refresh


def numeric(accounts: list[dict]) -> list[dict]:
    return [a for a in accounts if a["code"].isdigit()]


def test_the_workspace_chart_mirrors_the_provider_accounts_by_default(mapping, accounted, placed):
    seen = mapping.get()
    chart = {a["id"]: a for a in seen["workspace_accounts"]}
    assert seen["account_mapping"] == {"new_accounts": "mirror", "new_accounts_account_id": None, "rows": [],
                                       "rules": []}
    for account in seen["accounts"]:
        assert account["placed_by"] == "mirror"
        target = chart[account["workspace_account_id"]]
        assert (target["code"], target["name"], target["unmapped"]) == (account["code"], account["name"], False)
    assert seen["unmapped"]["accounts"] == 0
    lines = accounted()
    assert len(lines) == len(placed()) > 0  # every loaded line's account lands on a workspace account


def test_rows_ranges_and_prefixes_place_every_account_and_its_lines(mapping, accounted, db, books):
    accounts = numeric(mapping.get()["accounts"])
    codes = sorted({int(a["code"]) for a in accounts})
    low, high = codes[len(codes) // 4], codes[len(codes) // 2]
    own, shared = accounts[0], accounts[1]  # rows win over the rules
    prefix = str(codes[-1])[0]
    before = accounted()
    saved = mapping.put({"dimensions": [], "accounts": {
        "new_accounts": "unmapped",
        "rows": [{"provider_account_id": own["id"], "new_account": {"code": "9001", "name": "Own"}},
                 {"provider_account_id": shared["id"], "new_account": {"code": "9002", "name": "Shared"}}],
        "rules": [{"kind": "range", "code_from": str(low), "code_to": str(high),
                   "new_account": {"code": "9002", "name": "Shared"}},  # many-to-one with the row above
                  {"kind": "prefix", "prefix": prefix, "new_account": {"code": "9003", "name": "By prefix"}}]}})
    assert sorted(saved["accounts_created"]) == ["9001 Own", "9002 Shared", "9003 By prefix"]

    def expected(account: dict) -> str:
        if account["id"] == own["id"]:
            return "9001 Own"
        if account["id"] == shared["id"]:
            return "9002 Shared"
        if account["code"].isdigit() and low <= int(account["code"]) <= high:
            return "9002 Shared"
        if account["code"].startswith(prefix):
            return "9003 By prefix"
        return "Unmapped"

    seen = mapping.get()
    chart = {a["id"]: f"{a['code']} {a['name']}".strip() for a in seen["workspace_accounts"]}
    want = {a["id"]: expected(a) for a in seen["accounts"]}
    assert {a["id"]: chart[a["workspace_account_id"]] for a in seen["accounts"]} == want
    assert {"range", "prefix", "row", "unmapped"} <= {a["placed_by"] for a in seen["accounts"]}
    assert seen["unmapped"]["accounts"] == Counter(want.values())["Unmapped"] > 0

    after = accounted()
    assert {line_id: row[0] for line_id, row in after.items()} == {line_id: row[0] for line_id, row in
                                                                   before.items()}  # the raw account stays
    assert {line_id: row[1] for line_id, row in after.items()} == {line_id: want[row[0]] for line_id, row in
                                                                   after.items()}
    assert saved["accounts_moved"]["lines"] == len(after) and saved["accounts_moved"]["accounts"] == len(want)
    assert sum(m["lines"] for m in saved["accounts_moved"]["moves"]) == len(after)
    assert mapping.get()["account_mapping"]["rules"][0] == {
        "kind": "range", "code_from": str(low), "code_to": str(high),
        "workspace_account_id": next(i for i, name in chart.items() if name == "9002 Shared")}

    with db.sessions() as session:
        logged = session.scalars(select(LogEvent.detail).where(LogEvent.connection_id == books.connection_id,
                                                               LogEvent.data_type == "accounts")).all()
        trail = session.scalars(select(MappingChange).where(MappingChange.connection_id == books.connection_id)).one()
    assert any(f"{len(after):,} loaded lines" in detail for detail in logged)
    assert trail.detail["accounts"]["new_accounts"] == "unmapped" and trail.detail["account_lines_moved"] == len(after)

    # Saving the mirror again puts every line back where it was: the mapping is redone from the raw account.
    back = mapping.put({"dimensions": [], "accounts": {"new_accounts": "mirror"}})
    assert back["accounts_moved"]["lines"] == len(after)
    assert accounted() == before
    assert mapping.put({"dimensions": [], "accounts": {"new_accounts": "mirror"}})["accounts_moved"]["lines"] == 0


def test_a_numeric_range_compares_numbers_not_text(mapping):
    # 4 <= 200 <= 1000 as numbers; as text "200" sorts after "1000" and would be left out.
    mapping.put({"dimensions": [], "accounts": {"new_accounts": "unmapped", "rules": [
        {"kind": "range", "code_from": "4", "code_to": "1000", "new_account": {"name": "All numbered"}}]}})
    seen = mapping.get()
    chart = {a["id"]: a["name"] for a in seen["workspace_accounts"]}
    assert any(a["code"] == "200" for a in seen["accounts"])
    assert {chart[a["workspace_account_id"]] for a in seen["accounts"] if a["code"].isdigit()} == {"All numbered"}


def preview_cells(preview: dict, key: str = "") -> dict[tuple[str, str], tuple[int, Decimal]]:
    return {(r["period"], r["account"]): (r[f"lines{key}"], Decimal(r[f"amount{key}"]))
            for r in preview["accounts"]["rows"] if r[f"lines{key}"]}


def loaded_cells(lines: dict) -> dict[tuple[str, str], tuple[int, Decimal]]:
    cells: dict = defaultdict(lambda: [0, Decimal(0)])
    for _, name, amount, period in lines.values():
        cell = cells[(period.isoformat()[:7], name)]
        cell[0] += 1
        cell[1] += amount
    return {key: (count, amount) for key, (count, amount) in cells.items()}


def test_the_account_preview_changes_nothing_and_its_figures_are_those_after_saving(mapping, accounted):
    accounts = numeric(mapping.get()["accounts"])
    plan = {"dimensions": [], "accounts": {"new_accounts": "mirror", "rules": [
        {"kind": "prefix", "prefix": accounts[0]["code"][0], "new_account": {"code": "P", "name": "Grouped"}}]}}
    before = accounted()
    preview = mapping.preview_body(plan)
    assert accounted() == before and "P Grouped" not in {a["name"] for a in mapping.get()["workspace_accounts"]}
    assert preview_cells(preview, "_now") == loaded_cells(before)
    assert {r["account"] for r in preview["accounts"]["rows"] if r["new"]} == {"P Grouped"}
    mapping.put(plan)
    after = accounted()
    assert preview_cells(preview) == loaded_cells(after)
    assert preview["accounts"]["lines_moving"] == sum(1 for k in after if after[k][1] != before[k][1]) > 0
    assert mapping.preview_body(plan)["accounts"]["lines_moving"] == 0


def test_a_bad_account_mapping_is_refused_naming_the_field(mapping, client, workspace, other_workspace):
    accounts = numeric(mapping.get()["accounts"])
    cases = [
        ({"rules": [{"kind": "range", "code_from": "7000", "code_to": "6000", "new_account": {"name": "X"}}]},
         "range_reversed", "accounts.rules.0.code_to"),
        ({"rules": [{"kind": "prefix", "prefix": "", "new_account": {"name": "X"}}]},
         "prefix_needed", "accounts.rules.0.prefix"),
        ({"rows": [{"provider_account_id": 2**31 - 1, "new_account": {"name": "X"}}]},
         "unknown_provider_account", "accounts.rows.0.provider_account_id"),
        ({"rows": [{"provider_account_id": accounts[0]["id"], "workspace_account_id": 2**31 - 1}]},
         "unknown_account", "accounts.rows.0.workspace_account_id"),
        ({"rows": [{"provider_account_id": accounts[0]["id"]}]}, "account_or_new", "accounts.rows.0"),
        ({"new_accounts": "account"}, "unknown_account", "accounts.new_accounts_account_id"),
        ({"new_accounts": "account", "new_accounts_account_id": 2**31 - 1}, "unknown_account",
         "accounts.new_accounts_account_id"),  # the field the request has (this once named one it has not)
    ]
    for accounts_body, code, field in cases:
        error = mapping.put({"dimensions": [], "accounts": accounts_body}, expect=422)
        assert (error["error"]["code"], error["error"]["field"]) == (code, field), accounts_body
    assert mapping.get()["account_mapping"]["rules"] == []
    other = client.put(mapping.url(), json={"dimensions": [], "accounts": {}}, headers=other_workspace.admin())
    assert other.status_code == 404
    member = client.put(mapping.url(), json={"dimensions": [], "accounts": {}}, headers=workspace.member())
    assert member.status_code == 403


def test_accounts_arriving_after_a_refresh_are_placed_and_counted(mapping, journey, books, db):
    mapping.put({"dimensions": [], "accounts": {"new_accounts": "unmapped", "rules": [
        {"kind": "prefix", "prefix": "NEW-", "new_account": {"name": "New ones"}}]}})
    unmapped_before = mapping.get()["unmapped"]["accounts"]
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    assert mapping.get()["unmapped"]["accounts"] == unmapped_before  # nothing new: nothing more to count
    with db.engine.begin() as connection:  # what a refresh's chart load writes, then its placing step
        workspace_id, entity_id = connection.execute(
            select(Account.workspace_id, Account.entity_id).where(Account.connection_id == books.connection_id)
        ).first()
        before = review.account_snapshot(connection, entity_id)
        connection.execute(insert(Account), [
            {"workspace_id": workspace_id, "connection_id": books.connection_id, "entity_id": entity_id,
             "source_account_id": f"added-{n}", "code": code, "name": name}
            for n, (code, name) in enumerate([("NEW-1", "Grant income"), ("T1", "Travel"), ("T2", "Hotels"),
                                              ("T3", "Meals")])])
        review.accounts_loaded(connection, workspace_id, books.connection_id, entity_id, "Co", before, None)
        shown = connection.execute(select(Connection.unmapped, Connection.mapping_review)
                                   .where(Connection.id == books.connection_id)).one()
        logged = connection.execute(select(LogEvent.detail).where(LogEvent.connection_id == books.connection_id,
                                                                  LogEvent.data_type == "accounts")).scalars().all()
    assert shown.unmapped["accounts"] == unmapped_before + 3
    assert "new account T1 Travel" in shown.mapping_review
    assert any(d.startswith("3 new accounts are unmapped") and "T2 Hotels" in d for d in logged)
    placed = {a["code"]: a["placed_by"] for a in mapping.get()["accounts"]}
    assert placed["NEW-1"] == "prefix" and placed["T1"] == "unmapped"
