"""After a whole journey (consent, companies, a refresh), no secret lies in plain text where a person with the
disk or the logs could read it: the database's own files, the var folder, or the logs (issue 17)."""
import json
import logging
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from server.db.models import OAuthHandoff, RefreshRun
from server.sandbox.config import DEMO_CLIENT
from tests.support.waiting import wait_until


def secrets_of_the_journey(app, provider, workspace, db) -> dict[str, str]:
    """Every token the provider issued, the PKCE verifiers we made, our client secret and the workspace keys."""
    store = provider.app.extensions["sandbox"].oauth
    with store.lock:
        found = {f"access token {n}": t for n, t in enumerate(store.access_tokens)}
        found |= {f"refresh token {n}": t for n, t in enumerate(store.refresh_tokens)}
    cipher = app.extensions["ledgerpane"].vault.cipher
    with db.sessions() as session:
        for handoff in session.scalars(select(OAuthHandoff).where(OAuthHandoff.verifier_ciphertext.is_not(None))):
            found[f"PKCE verifier {handoff.id}"] = cipher.decrypt(handoff.verifier_ciphertext).decode()
    found["client secret"] = DEMO_CLIENT.client_secret
    found["admin key"], found["member key"] = workspace.admin_key, workspace.member_key
    return found


READ_FILES = """
import json, pathlib, sys
path = pathlib.Path(sys.argv[1])
print(json.dumps({p.name: p.read_bytes().hex() for p in path.parent.glob(path.name + "*")}))
"""


def database_at_rest(db) -> dict[str, bytes]:
    """SQLite: the bytes of its files as they lie on disk. PostgreSQL: every row of every table, as text
    (its files belong to the server, out of a test's reach)."""
    if db.backend == "sqlite":
        # Read by another process: closing a file descriptor drops every POSIX lock this process holds on
        # that file, SQLite's included, and another process could then reset the WAL index under our
        # open connections (a bus error at their next commit).
        path = Path(make_url(db.url).database)
        read = subprocess.run([sys.executable, "-c", READ_FILES, str(path)], capture_output=True, check=True)
        return {name: bytes.fromhex(data) for name, data in json.loads(read.stdout).items()}
    with db.engine.connect() as connection:
        return {table: "\n".join(str(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))).encode()
                for table in inspect(connection).get_table_names()}


def test_no_secret_is_kept_in_plain_text(flow, provider, workspace, db, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    app = flow.client.application
    connection_id = flow.connect("Secret books")
    flow.select(connection_id, 1)
    run = flow.client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=flow.headers)
    assert run.status_code == 202, run.get_json()
    run_id = run.get_json()["run_id"]

    def finished():
        with db.sessions() as session:
            return session.scalar(select(RefreshRun.finished_at).where(RefreshRun.id == run_id))

    wait_until(finished, deadline=120, message="the refresh run did not finish")
    assert flow.client.get(f"/api/v1/runs/{run_id}", headers=flow.headers).get_json()["status"] == "succeeded"

    secrets = secrets_of_the_journey(app, provider, workspace, db)
    assert sum(name.startswith("access token") for name in secrets) >= 1
    assert sum(name.startswith("PKCE verifier") for name in secrets) >= 1
    places = {f"database {name}": content for name, content in database_at_rest(db).items()}
    places |= {f"var/{p.relative_to(tmp_path)}": p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    places["logs"] = caplog.text.encode()
    assert caplog.text, "the journey was logged"
    leaks = [f"{name} in {place}" for place, content in places.items() for name, secret in secrets.items()
             if secret.encode() in content]
    assert not leaks, leaks
