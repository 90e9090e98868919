"""What real Xero does that a connection must live with, end to end through the service and the sandbox:
the consent's own organisations, Xero's connections removed when we let go of an organisation, Journals
refused for one organisation, an organisation disconnected at Xero."""
from __future__ import annotations

from tests.support.refresh import ground_truth, loaded_movements, run_refresh


def vault_token(journey, connection_id: int) -> str:
    return journey.client.application.extensions["ledgerpane"].vault.get_access_token(connection_id)


def xero_connections(provider, token: str) -> list[dict]:
    """What Xero's GET /connections lists for our app's user."""
    answer = provider.http.get(f"{provider.url}/xero/connections", timeout=10,
                               headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_after_a_consent_only_the_organisations_it_ticked_are_listed(journey, provider):
    tenants = [t["tenantId"] for t in provider.tenants()]
    first = journey.connect(tenants=tenants[:2])
    second = journey.connect(tenants=tenants[2:])
    # Xero lists every organisation the user ever connected to our app; the second consent ticked one.
    assert len(xero_connections(provider, vault_token(journey, second))) == 3
    assert [e["provider_entity_id"] for e in journey.entities(second)] == tenants[2:]
    assert {e["provider_entity_id"] for e in journey.entities(first)} == set(tenants[:2])


def test_deselecting_an_organisation_disconnects_it_at_xero(journey, provider):
    connection_id = journey.connect()
    kept, *dropped = journey.select(connection_id)
    response = journey.client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [kept]},
                                  headers=journey.headers)
    assert response.status_code == 200
    items = {e["id"]: e for e in response.get_json()["items"]}
    assert items[kept]["selected"] and items[kept]["available"]
    assert not any(items[entity_id]["available"] or items[entity_id]["selected"] for entity_id in dropped)
    listed = xero_connections(provider, vault_token(journey, connection_id))
    assert [c["tenantId"] for c in listed] == [items[kept]["provider_entity_id"]]


def test_deleting_the_connection_disconnects_its_organisations_even_when_revocation_fails(journey, provider):
    connection_id = journey.connect()
    journey.select(connection_id)
    token = vault_token(journey, connection_id)
    provider.admin("POST", "/admin/identity/faults", {"kind": "503", "endpoint": "revocation", "count": 10},
                   expect=201)
    response = journey.client.delete(f"/api/v1/connections/{connection_id}", headers=journey.headers)
    assert response.status_code == 200 and not response.get_json()["revoked_at_provider"]
    assert xero_connections(provider, token) == []  # Xero bills by connected organisation: none are left


def test_journals_refused_for_one_organisation_is_said_plainly_and_the_others_refresh(journey, db, provider):
    connection_id = journey.connect()
    journey.select(connection_id)
    refused, *others = [t["tenantId"] for t in provider.tenants()]
    provider.admin("POST", f"/admin/tenants/{refused}/refusals", {"endpoint": "Journals"}, expect=201)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "partly_succeeded", run
    failed, = run["counters"]["entities_failed"]
    assert failed["reason"].startswith("Xero refuses its journals for this organisation")
    assert "plan" in failed["action"] and "Reconnect" not in failed["action"]
    for tenant_id in others:
        assert loaded_movements(db, connection_id, tenant_id) == ground_truth(provider, tenant_id)
    assert journey.connection(connection_id)["status"] == "live"


def test_an_organisation_disconnected_at_xero_needs_reconnecting(journey, db, provider):
    connection_id = journey.connect()
    journey.select(connection_id)
    token = vault_token(journey, connection_id)
    gone, *others = xero_connections(provider, token)
    assert provider.http.delete(f"{provider.url}/xero/connections/{gone['id']}", timeout=10,
                                headers={"Authorization": f"Bearer {token}"}).status_code == 204
    run = run_refresh(journey, connection_id)
    assert run["status"] == "partly_succeeded", run
    failed, = run["counters"]["entities_failed"]
    assert failed["entity"] == gone["tenantName"]
    assert "disconnected in Xero" in failed["reason"] and "failed after retries" not in failed["reason"]
    assert failed["action"].startswith("Reconnect")
    for connection in others:
        tenant_id = connection["tenantId"]
        assert loaded_movements(db, connection_id, tenant_id) == ground_truth(provider, tenant_id)
