"""The run and log endpoints answer only within the caller's workspace, and every answer of the
connections, runs and log endpoints matches the OpenAPI document."""
import pytest

from tests.support.openapi import validator_for
from tests.support.refresh import ready


def test_runs_and_log_of_another_workspace_are_invisible(journey, provider, other_workspace):
    connection_id = ready(journey, provider)
    run_id = journey.client.get(f"/api/v1/log?connection_id={connection_id}",
                                headers=journey.headers).get_json()["items"][0]["run_id"]
    assert journey.client.get(f"/api/v1/runs/{run_id}", headers=other_workspace.admin()).status_code == 404
    assert journey.client.post(f"/api/v1/runs/{run_id}/cancel", headers=other_workspace.admin()).status_code == 404
    theirs = journey.client.get(f"/api/v1/log?connection_id={connection_id}", headers=other_workspace.admin())
    assert theirs.status_code == 200 and theirs.get_json()["total"] == 0


def test_a_finished_run_cannot_be_cancelled(journey, provider):
    ready(journey, provider)
    run_id = journey.client.get("/api/v1/log", headers=journey.headers).get_json()["items"][0]["run_id"]
    response = journey.client.post(f"/api/v1/runs/{run_id}/cancel", headers=journey.headers)
    assert response.status_code == 409 and "already succeeded" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("method, path, body, status", [
    ("get", "/api/v1/providers", None, 200),
    ("get", "/api/v1/connections/{connection_id}", None, 200),
    ("get", "/api/v1/connections/{connection_id}/entities", None, 200),
    ("post", "/api/v1/connections/{connection_id}/entities/sync", None, 200),
    ("get", "/api/v1/connections/{connection_id}/data-types", None, 200),
    ("put", "/api/v1/connections/{connection_id}/data-types", {"enabled": ["journals"]}, 200),
    ("post", "/api/v1/connections/{connection_id}/reconnect", None, 200),
    ("post", "/api/v1/connections/{connection_id}/refresh", {}, 202),
    ("get", "/api/v1/runs/{run_id}", None, 200),
    ("get", "/api/v1/log", None, 200),
    ("post", "/api/v1/connections", {"provider": "xero-sandbox"}, 201),
    ("post", "/api/v1/connections/{connection_id}/disconnect", None, 200),
    ("delete", "/api/v1/connections/{connection_id}", None, 200),
    ("get", "/api/v1/runs/999999", None, 404),
    ("post", "/api/v1/connections/{connection_id}/disconnect", None, 403),
])
def test_answers_match_the_openapi_document(journey, provider, workspace, method, path, body, status):
    connection_id = ready(journey, provider)
    run_id = journey.client.get("/api/v1/log", headers=journey.headers).get_json()["items"][0]["run_id"]
    document = journey.client.get("/api/openapi.json").get_json()
    url = path.format(connection_id=connection_id, run_id=run_id)
    headers = workspace.member() if status == 403 else journey.headers
    response = journey.client.open(url, method=method.upper(), json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    template = path.replace("/999999", "/{run_id}")
    validator_for(document, template, method, status).validate(response.get_json())
