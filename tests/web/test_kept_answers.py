"""Answers kept while the database is unchanged (server/db/snapshots.py): the Connections list, the log and the
caller behind a key are worked out once and given again only while PostgreSQL's snapshot is the same; any change
committed by anyone is seen by the next request; nothing crosses workspaces or roles; SQLite keeps nothing."""
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, text, update

from server.app import create_app
from server.db import snapshots
from server.db.models import Connection, LogEvent, WorkspaceKey, utcnow
from tests.support.listing import add_connections, statements

LIST = "/api/v1/connections?sort=name&per_page=25"


@pytest.fixture
def listed(db, workspace, client):
    add_connections(db, workspace, 5)
    client.get("/api/v1/workspace", headers=workspace.admin())  # the key's first use is noted (a write)
    return workspace


def rename_first(db, name: str) -> None:
    """As another process would (a refresh worker, the other gunicorn worker): its own connection, committed."""
    with db.engine.begin() as database:
        first = database.execute(text("SELECT min(id) FROM connection")).scalar_one()
        database.execute(update(Connection).where(Connection.id == first).values(name=name))


def postgresql_only(db) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite keeps no answers (no snapshot to compare)")


@pytest.fixture
def taken(monkeypatch) -> list[str]:
    """Every snapshot the requests take, as PostgreSQL gives it."""
    seen, real = [], snapshots.snapshot

    def noted():
        seen.append(real())
        return seen[-1]

    monkeypatch.setattr(snapshots, "snapshot", noted)
    return seen


def asked_twice_on_one_snapshot(app, client, taken, path: str, headers: dict):
    """The first answer and the statements of the second, once nothing committed between them. The database
    server is shared with the other tests running beside this one, and any commit there changes the snapshot too
    (so the answer is worked out again: right, and not what is being tested): ask again until none came between."""
    for _ in range(100):
        first = client.get(path, headers=headers)
        before = taken[-1]
        with statements(app) as seen:
            again = client.get(path, headers=headers)
        if taken[-1] == before:
            assert again.status_code == 200 and again.data == first.data
            return seen
    pytest.fail("another test committed between every pair of requests")


def test_an_unchanged_database_gives_the_same_list_without_working_it_out(db, app, client, listed, taken):
    postgresql_only(db)
    assert asked_twice_on_one_snapshot(app, client, taken, LIST, listed.admin()) == []


def test_a_change_committed_elsewhere_is_seen_by_the_next_request(db, app, client, listed):
    first = client.get(LIST, headers=listed.admin()).get_json()["items"]
    rename_first(db, "Aardvark Trading")
    with statements(app) as seen:
        items = client.get(LIST, headers=listed.admin()).get_json()["items"]
    assert items[0]["name"] == "Aardvark Trading" != first[0]["name"]
    assert seen, "worked out again"


def test_a_change_committed_while_the_answer_is_worked_out_is_seen_next_time(db, app, client, listed):
    """The answer read partly before the rename: it must never be given once the rename is committed."""
    engine = app.extensions["ledgerpane"].engine
    renamed = []

    def rename_midway(conn, cursor, statement, parameters, context, executemany):
        if "FROM entity" in statement and not renamed:  # the page's names are read; its entities are next
            renamed.append(statement)
            rename_first(db, "Aardvark Trading")

    event.listen(engine, "before_cursor_execute", rename_midway)
    try:
        midway = client.get(LIST, headers=listed.admin()).get_json()["items"][0]["name"]
    finally:
        event.remove(engine, "before_cursor_execute", rename_midway)
    assert renamed and midway != "Aardvark Trading"
    assert client.get(LIST, headers=listed.admin()).get_json()["items"][0]["name"] == "Aardvark Trading"


def test_the_log_is_kept_and_a_new_event_shows_at_once(db, app, client, listed):
    first = client.get("/api/v1/log?per_page=50", headers=listed.member()).get_json()
    with db.engine.begin() as database:
        connection_id = database.execute(text("SELECT min(id) FROM connection")).scalar_one()
        database.execute(insert(LogEvent).values(workspace_id=listed.id, connection_id=connection_id,
                                                 data_type="accounts",
                                                 status="failed", detail="The provider refused"))
    after = client.get("/api/v1/log?per_page=50", headers=listed.member()).get_json()
    assert after["total"] == first["total"] + 1 and after["items"][0]["status"] == "failed"


def test_admins_members_and_other_workspaces_each_get_their_own_answer(db, client, listed, other_workspace):
    as_admin = client.get(LIST, headers=listed.admin()).get_json()["items"]
    as_member = client.get(LIST, headers=listed.member()).get_json()["items"]
    assert "delete" in as_admin[0]["actions"] and "delete" not in as_member[0]["actions"]
    assert client.get(LIST, headers=listed.admin()).get_json()["items"] == as_admin
    assert client.get(LIST, headers=other_workspace.admin()).get_json()["items"] == []


def test_a_revoked_key_is_refused_at_once(db, client, listed):
    assert client.get(LIST, headers=listed.member()).status_code == 200
    with db.engine.begin() as database:
        database.execute(update(WorkspaceKey).where(WorkspaceKey.revoked_at.is_(None),
                                                    WorkspaceKey.prefix == listed.member_key[:10])
                         .values(revoked_at=utcnow()))
    assert client.get(LIST, headers=listed.member()).status_code == 401


def test_a_kept_answer_is_worked_out_again_once_older_than_its_age(db, app, client, listed, monkeypatch, taken):
    """What depends on the clock alone (the last 30 days, the month's calls) is at most LIST_AGE behind."""
    postgresql_only(db)
    ticks = itertools.count(step=snapshots.LIST_AGE + 1)  # each look at the clock is LIST_AGE later than the last
    monkeypatch.setattr(snapshots, "clock", lambda: next(ticks))
    assert asked_twice_on_one_snapshot(app, client, taken, LIST, listed.admin())
    # the log holds no clock: it stays while the database does
    assert asked_twice_on_one_snapshot(app, client, taken, "/api/v1/log", listed.admin()) == []


def test_sqlite_works_every_answer_out(db, app, client, listed):
    if db.backend != "sqlite":
        pytest.skip("the SQLite side")
    client.get(LIST, headers=listed.admin())
    with statements(app) as seen:
        client.get(LIST, headers=listed.admin())
    assert len(seen) == 6


def test_an_answer_the_clock_makes_untrue_is_worked_out_again_from_that_moment(db, app, monkeypatch):
    """The list is true until its first next run comes due (TrueUntil), even if that is sooner than its age."""
    postgresql_only(db)
    now = [1000.0]
    monkeypatch.setattr(snapshots, "clock", lambda: now[0])
    worked = []

    def work_out():
        worked.append(now[0])
        return snapshots.TrueUntil("the page", utcnow() + timedelta(seconds=5))

    with app.test_request_context("/", method="GET"):  # one request: one snapshot throughout
        answers = [snapshots.remembered("test", "key", work_out, max_age=60)]
        now[0] += 4
        answers.append(snapshots.remembered("test", "key", work_out, max_age=60))
        now[0] += 2
        answers.append(snapshots.remembered("test", "key", work_out, max_age=60))
    assert answers == ["the page"] * 3 and worked == [1000.0, 1006.0]


def test_a_snapshot_connection_the_database_dropped_is_replaced(db, app, client, listed):
    """As after a database restart: the read fails on the dead connection, and is made again on a new one."""
    postgresql_only(db)
    snapshot_engine = app.extensions["ledgerpane"].snapshot_engine
    with snapshot_engine.connect() as connection:  # the pool's one connection, used again by the next request
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with db.engine.begin() as database:
        assert database.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
    assert client.get(LIST, headers=listed.admin()).status_code == 200
    with snapshot_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != backend


@pytest.fixture
def workers(db, tmp_path, redis_url):
    """Two workers of one deployment, sharing a Redis."""
    postgresql_only(db)
    made = [create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False, "redis_url": redis_url})
            for _ in range(2)]
    yield made
    for app in made:
        app.extensions["ledgerpane"].close()


def test_the_workers_share_their_answers_through_redis(workers, listed, taken):
    first, second = workers
    for _ in range(100):
        worked_out = first.test_client().get(LIST, headers=listed.admin())
        before = taken[-1]
        with statements(second) as seen:
            taken_over = second.test_client().get(LIST, headers=listed.admin())
        if taken[-1] == before:
            assert seen == [] and taken_over.data == worked_out.data
            return
    pytest.fail("another test committed between every pair of requests")


def test_a_shared_answer_is_not_taken_once_the_database_changed(db, workers, listed):
    first, second = workers
    assert first.test_client().get(LIST, headers=listed.admin()).status_code == 200
    rename_first(db, "Aardvark Trading")
    assert second.test_client().get(LIST, headers=listed.admin()).get_json()["items"][0]["name"] == "Aardvark Trading"


def test_a_shared_answer_stays_in_its_role_and_its_database(db, tmp_path, workers, listed, redis_url):
    first, _ = workers
    as_admin = first.test_client().get(LIST, headers=listed.admin()).get_json()["items"]
    as_member = workers[1].test_client().get(LIST, headers=listed.member()).get_json()["items"]
    assert "delete" in as_admin[0]["actions"] and "delete" not in as_member[0]["actions"]
    # Another deployment's database on the same server has equal snapshots: its names in Redis are its own.
    elsewhere = create_app({"database_url": db.url + ("&" if "?" in db.url else "?") + "application_name=elsewhere",
                            "var_dir": tmp_path, "sandbox": False, "redis_url": redis_url})
    try:
        assert (elsewhere.extensions["ledgerpane"].shared_answers.prefix
                != first.extensions["ledgerpane"].shared_answers.prefix)
    finally:
        elsewhere.extensions["ledgerpane"].close()


def test_without_redis_each_worker_works_its_answers_out(db, tmp_path, listed, caplog):
    postgresql_only(db)
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False,
                      "redis_url": "redis://127.0.0.1:1/0"})  # nothing listens there
    try:
        client = app.test_client()
        first = client.get(LIST, headers=listed.admin())
        assert first.status_code == 200 and len(first.get_json()["items"]) == 5
        rename_first(db, "Aardvark Trading")
        assert client.get(LIST, headers=listed.admin()).get_json()["items"][0]["name"] == "Aardvark Trading"
        assert "kept answers not shared" in caplog.text
    finally:
        app.extensions["ledgerpane"].close()


def test_answers_worked_out_together_are_not_all_worked_out_again_together(db, app, monkeypatch):
    """Each is kept between half its age and its age, so their ends are spread rather than one burst."""
    postgresql_only(db)
    monkeypatch.setattr(snapshots, "clock", lambda: 1000.0)
    with app.test_request_context("/", method="GET"):
        for page in range(50):
            snapshots.remembered("test", page, lambda: "a page", max_age=60)
        ends = [until - 1000.0 for _, until, _ in snapshots.kept("test")._values.values()]
    assert len(ends) == 50 and all(30 <= end <= 60 for end in ends) and max(ends) - min(ends) > 10
