"""A workspace with many connections, and the statements a request sends: for the tests of the pane's busiest
requests (tests/web/test_connections_queries.py, tests/web/test_kept_answers.py)."""
from contextlib import contextmanager

from sqlalchemy import event, insert

from server.db.models import Account, Connection, Entity, LogEvent, RefreshRun, utcnow


@contextmanager
def statements(app):
    """The statements a request sends to work out its answer: not the key's lookup, nor (on PostgreSQL) the
    snapshot that decides whether a kept answer still holds (tests/web/test_kept_answers.py)."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if "workspace_key" not in statement and "pg_current_snapshot" not in statement:
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
