"""What the pane's busiest requests cost the database: a fixed number of statements, whatever the page's size
(benchmarks/api_load.py measures the time; this keeps the number of round trips from growing back)."""
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert

from server.db.models import Account, Connection, Entity, LogEvent, RefreshRun, utcnow


@contextmanager
def statements(app):
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = app.extensions["ledgerpane"].engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def add_connections(db, workspace, count: int) -> None:
    now = utcnow()
    with db.engine.begin() as database:
        ids = list(database.execute(insert(Connection).returning(Connection.id), [
            {"workspace_id": workspace.id, "provider": "xero", "name": f"Company {n:02d}", "status": "live"}
            for n in range(count)]).scalars())
        entities = list(database.execute(insert(Entity).returning(Entity.id, Entity.connection_id), [
            {"workspace_id": workspace.id, "connection_id": c, "provider_entity_id": f"t-{c}-{e}",
             "name": f"Entity {c}-{e}", "selected": True} for c in ids for e in range(2)]))
        database.execute(insert(Account), [
            {"workspace_id": workspace.id, "connection_id": c, "entity_id": e, "source_account_id": f"a-{e}",
             "name": "Sales"} for e, c in entities])
        database.execute(insert(RefreshRun), [
            {"workspace_id": workspace.id, "connection_id": c, "trigger": "scheduled", "status": "succeeded",
             "queued_at": now} for c in ids for _ in range(2)])
        database.execute(insert(LogEvent), [
            {"workspace_id": workspace.id, "connection_id": c, "data_type": "journals", "status": "succeeded",
             "rows_inserted": 3, "created_at": now} for c in ids])


@pytest.mark.parametrize("sort", ["name", "last_run_at"])
def test_the_list_costs_the_same_statements_for_a_page_of_three_or_thirty(client, app, db, workspace, sort):
    add_connections(db, workspace, 30)
    client.get("/api/v1/workspace", headers=workspace.member())  # the key's first use is noted (a write)
    counts = []
    for per_page in (3, 30):
        with statements(app) as seen:
            response = client.get(f"/api/v1/connections?sort={sort}&per_page={per_page}", headers=workspace.member())
        assert response.status_code == 200 and len(response.get_json()["items"]) == per_page
        counts.append(len(seen))
    # The key, the count, the page, its entities, its records and accounts with each newest run's id, those runs, and
    # the workspace's timezone.
    assert counts == [7, 7], counts
    item = response.get_json()["items"][0]
    assert (item["account_status"]["accounts"], item["records_last_30_days"], len(item["selected_entities"])) == \
        (2, 3, 2)
    assert item["last_run"]["status"] == "succeeded"


def test_the_log_counts_only_when_a_page_does_not_hold_every_event(client, app, db, workspace):
    add_connections(db, workspace, 4)
    client.get("/api/v1/workspace", headers=workspace.member())
    with statements(app) as seen:
        assert client.get("/api/v1/log", headers=workspace.member()).get_json()["total"] == 4
    assert len(seen) == 2, seen  # the key and the page
    with statements(app) as seen:
        assert client.get("/api/v1/log?per_page=3", headers=workspace.member()).get_json()["total"] == 4
    assert len(seen) == 3, seen  # and the count
