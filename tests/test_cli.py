"""The `ledgerpane` operations commands, run as a user would run them."""
import gc
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from server.cli import LONGEST_REQUEST_SECONDS, freeze_startup_objects, gunicorn_service, main


@pytest.fixture
def run(db, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("LEDGERPANE_VAR_DIR", str(tmp_path))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def key_in(output: str) -> str:
    return re.search(r"^Workspace key: (lp_\S+)$", output, re.M).group(1)


def test_init_db_is_idempotent(run):
    first, second = run("init-db"), run("init-db")
    assert first.exit_code == second.exit_code == 0
    assert "Database is up to date" in second.output


def test_init_db_never_prints_the_database_password(run, db, monkeypatch):
    if db.backend != "postgresql":
        pytest.skip("SQLite URLs carry no password")
    # The test server trusts local connections, so the password is accepted and ignored.
    monkeypatch.setenv("DATABASE_URL", db.url.replace("://postgres@", "://postgres:s3cret-pw@"))
    result = run("init-db")
    assert result.exit_code == 0 and "s3cret-pw" not in result.output and "***" in result.output


def test_create_workspace_prints_a_key_that_works(run, app):
    result = run("create-workspace", "Initech", "--admin", "cfo@initech.test", "--timezone", "Asia/Tokyo",
                 "--currency", "jpy")
    assert result.exit_code == 0, result.output
    response = app.test_client().get("/api/v1/workspace", headers={"Authorization": f"Bearer {key_in(result.output)}"})
    assert response.get_json() == {"name": "Initech", "timezone": "Asia/Tokyo", "base_currency": "JPY",
                                   "role": "admin"}


def test_create_workspace_refuses_an_unknown_timezone(run):
    result = run("create-workspace", "Initech", "--admin", "cfo@initech.test", "--timezone", "Nowhere/Land")
    assert result.exit_code == 2 and "unknown timezone" in result.output


def test_create_key_adds_a_member_with_that_role(run, app, workspace):
    result = run("create-key", "--workspace", str(workspace.id), "--user", "new@acme.test", "--label", "laptop")
    assert result.exit_code == 0, result.output
    response = app.test_client().get("/api/v1/workspace", headers={"Authorization": f"Bearer {key_in(result.output)}"})
    assert response.get_json()["role"] == "member"


def test_create_key_refuses_a_missing_workspace_and_a_role_change(run, workspace):
    assert run("create-key", "--workspace", "999", "--user", "x@y.z").exit_code == 2
    result = run("create-key", "--workspace", str(workspace.id), "--user", "analyst@acme.test", "--role", "admin")
    assert result.exit_code == 2 and "already a member" in result.output


def test_serve_creates_a_workspace_prints_its_key_and_answers(db, tmp_path):
    env = {**os.environ, "DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(tmp_path)}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = _read_until(server, "Workspace key:", deadline=time.monotonic() + 30)
        key = key_in(printed)
        assert f"http://127.0.0.1:{port}/taskpane.html" in printed
        response = _get_when_up(f"http://127.0.0.1:{port}/api/v1/workspace", key)
        assert response.json()["role"] == "admin"
        assert oct((tmp_path / "workspace-key").stat().st_mode & 0o777) == "0o600"
    finally:
        server.terminate()
        server.wait(timeout=10)
    # A second start prints the same key again rather than minting a new one.
    again = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert key_in(_read_until(again, "Workspace key:", deadline=time.monotonic() + 30)) == key
    finally:
        again.terminate()
        again.wait(timeout=10)


def test_web_serves_the_api_from_gunicorn_workers_and_takes_gunicorn_settings(db, workspace, tmp_path):
    env = {**os.environ, "DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(tmp_path), "LEDGERPANE_SANDBOX": "false",
           "LEDGERPANE_SCHEDULER": "off", "GUNICORN_CMD_ARGS": "--access-logfile -"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "server", "web", "--workers", "2", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        response = _get_when_up(f"http://127.0.0.1:{port}/api/v1/workspace", workspace.admin_key)
        assert response.json()["name"] == "Acme Holdings"
        assert len(_children(server.pid)) == 2, "one process per --workers"
        # The longest address the pane sends (api.js: 8,000 characters), hundreds of accounts in the workbook's
        # filter, reaches the app: gunicorn's own limit (4,094) answered it with an HTML 414.
        codes = "".join(f"&account={code}" for code in range(100000, 100528))
        path = f"/api/v1/workbook/actuals?limit=1{codes}"
        assert 7900 < len(path) <= 8000
        long = requests.get(f"http://127.0.0.1:{port}{path}", timeout=30,
                            headers={"Authorization": f"Bearer {workspace.admin_key}"})
        assert long.status_code == 200, long.text[:200]
        assert long.json()["total_rows"] == 0
        # A setting from GUNICORN_CMD_ARGS reached gunicorn: the access log names the request.
        _read_until(server, "GET /api/v1/workspace", deadline=time.monotonic() + 10)
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_web_takes_the_longest_request_the_pane_sends_and_waits_for(monkeypatch):
    # gunicorn's own timeout (30 s) killed the worker building a 500,000-line .xlsx: the user got a 500.
    pytest.importorskip("gunicorn")
    pane = (Path(__file__).parents[1] / "addin/taskpane/workbook/download.js").read_text()
    pane_waits = int(re.search(r"DOWNLOAD_DEADLINE_MS = (\d+);", pane).group(1)) / 1000
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    assert gunicorn_service("127.0.0.1", 8000, 2).cfg.timeout == LONGEST_REQUEST_SECONDS > pane_waits

    # Its request line holds the longest address the pane sends (the workbook's filters; gunicorn's own is 4,094).
    pane_sends = int(re.search(r"LONGEST_ADDRESS = (\d+);", (Path(__file__).parents[1] / "addin/taskpane/api.js")
                               .read_text()).group(1))
    assert gunicorn_service("127.0.0.1", 8000, 2).cfg.limit_request_line >= len("GET  HTTP/1.1") + pane_sends

    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--timeout 45")
    assert gunicorn_service("127.0.0.1", 8000, 2).cfg.timeout == 45, "the deployment's own setting wins"


def test_a_serving_process_freezes_what_it_built_at_start():
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0, "the app's objects stay out of every later collection"
    finally:
        gc.unfreeze()


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return children


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(process: subprocess.Popen, marker: str, deadline: float) -> str:
    seen = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"never printed {marker!r}; output was:\n{seen}")


def _get_when_up(url: str, key: str) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            # Up is up once it connects; a first answer on a busy machine may take longer than that.
            return requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=(5, 60))
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_sandbox_runs_on_its_own_port(tmp_path):
    port = _free_port()
    env = {**os.environ, "LEDGERPANE_VAR_DIR": str(tmp_path)}
    sandbox = subprocess.Popen([sys.executable, "-m", "server", "sandbox", "--port", str(port), "--lines", "600"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = _read_until(sandbox, "admin key:", deadline=time.monotonic() + 30)
        admin_key = re.search(r"admin key: (\S+)\)", printed).group(1)
        deadline = time.monotonic() + 20
        while True:
            try:
                tenants = requests.get(f"http://127.0.0.1:{port}/admin/tenants", timeout=5,
                                       headers={"X-Sandbox-Admin": admin_key})
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the sandbox never answered"
                time.sleep(0.1)
        assert tenants.status_code == 200 and sum(t["lineCount"] for t in tenants.json()) >= 600
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def test_manifest_is_written_for_an_https_origin(tmp_path):
    target = tmp_path / "manifest.xml"
    result = CliRunner().invoke(main, ["manifest", "--origin", "https://ledgerpane.example.com",
                                       "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "https://ledgerpane.example.com/taskpane.html" in target.read_text()
    refused = CliRunner().invoke(main, ["manifest", "--origin", "http://ledgerpane.example.com"])
    assert refused.exit_code == 2 and "--origin" in refused.output
