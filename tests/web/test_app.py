"""The application factory, settings, health, the task pane page, and the OpenAPI document's truth."""
import re

import pytest

from server.app import create_app
from server.config import load_settings
from tests.support.openapi import validator_for


def test_settings_default_to_a_sqlite_file_under_var(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings({"var_dir": tmp_path}, env_file=tmp_path / "missing.env")
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'ledgerpane.db'}"


def test_settings_read_dotenv_then_environment_then_overrides(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://from-dotenv/db\nLEDGERPANE_MAX_BODY_BYTES=2048\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGERPANE_MAX_BODY_BYTES", raising=False)
    assert load_settings(env_file=env_file).database_url == "postgresql://from-dotenv/db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    settings = load_settings(env_file=env_file)
    assert (settings.database_url, settings.max_body_bytes) == ("postgresql://from-env/db", 2048)
    assert load_settings({"database_url": "sqlite:///x.db"}, env_file=env_file).database_url == "sqlite:///x.db"


def test_factory_applies_the_body_limit(db, tmp_path):
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "max_body_bytes": 4096})
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    app.extensions["ledgerpane"].engine.dispose()


def test_health_reports_the_database(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok"})


def test_health_says_when_the_database_is_unreachable(tmp_path):
    app = create_app({"database_url": "postgresql://nobody@127.0.0.1:1/none", "var_dir": tmp_path})
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()["database"]) == (503, "unreachable")


def test_task_pane_page_is_served(client):
    response = client.get("/taskpane.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert b"Ledgerpane" in response.data


def test_add_in_icons_may_be_cached(client):
    response = client.get("/assets/icon-32.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.cache_control.max_age == 86_400 and not response.cache_control.no_cache


def test_every_response_names_its_request(client):
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["X-Request-Id"])


# --- The OpenAPI document is true: it lists exactly the routes that exist, and real responses match it.

def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_openapi_lists_exactly_the_routes(client, app):
    document = client.get("/api/openapi.json").get_json()
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == api_routes(app)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("security") == [{"workspace_key": []}], f"{method} {path} is not secured"
            assert operation.get("summary"), f"{method} {path} has no summary"


@pytest.mark.parametrize("method, path, body, status", [
    ("get", "/api/v1/workspace", None, 200),
    ("patch", "/api/v1/workspace", {"name": "Acme Group"}, 200),
    ("get", "/api/v1/connections", None, 200),
    ("get", "/api/v1/workspace", None, 401),
    ("patch", "/api/v1/workspace", {"colour": "red"}, 422),
])
def test_real_responses_match_the_document(client, workspace, method, path, body, status):
    document = client.get("/api/openapi.json").get_json()
    headers = {} if status == 401 else workspace.admin()
    response = client.open(path, method=method.upper(), json=body, headers=headers)
    assert response.status_code == status
    validator_for(document, path, method, status).validate(response.get_json())
