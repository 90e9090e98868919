from __future__ import annotations

import pytest

from server.config import Settings, load_settings
from server.connectors import UnknownProvider, catalog, connector_for, get_provider, sandbox_credentials
from server.connectors.xero.connector import XeroConnector


def test_the_sandbox_is_offered_by_default_at_the_public_url():
    settings = Settings(public_url="https://ledgerpane.example.com")
    assert [(o.key, o.display_name) for o in catalog(settings)] == [
        ("xero-sandbox", "Demo company (Xero sandbox)"), ("quickbooks-sandbox", "Demo company (QuickBooks sandbox)"),
        ("business-central-sandbox", "Demo company (Business Central sandbox)")]
    option = catalog(settings)[0]
    assert (option.key, option.display_name, option.auth_kind, option.setup_fields) == (
        "xero-sandbox", "Demo company (Xero sandbox)", "oauth2", ())
    assert option.data_types == ("accounts", "dimensions", "journals", "trial_balance", "currencies")
    assert option.dimension_kinds == ("tracking categories",)
    connector = option.factory({})
    assert isinstance(connector, XeroConnector)
    assert connector.api_base == "https://ledgerpane.example.com/sandbox/xero/api.xro/2.0"
    assert connector.auth.client_id == sandbox_credentials()[0]
    assert option.consent_note == "", "Xero offers read-only scopes: nothing to warn about"


def test_the_quickbooks_demo_company_is_offered_beside_it():
    option = get_provider(Settings(public_url="https://ledgerpane.example.com"), "quickbooks-sandbox")
    assert option.dimension_kinds == ("classes", "departments")
    assert option.data_types == ("accounts", "dimensions", "journals", "trial_balance", "currencies")
    connector = option.factory({"realm_id": "9130000000000001"})
    assert connector.api_base == "https://ledgerpane.example.com/sandbox/quickbooks/v3/company"
    assert connector.setup == {"realm_id": "9130000000000001"}


def test_real_quickbooks_appears_with_its_keys(monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_CLIENT_ID", "id")
    monkeypatch.setenv("QUICKBOOKS_CLIENT_SECRET", "secret")
    settings = load_settings({"sandbox": False})
    assert [o.key for o in catalog(settings)] == ["quickbooks"]
    option = get_provider(settings, "quickbooks")
    assert option.consent_note.startswith("Intuit has no read-only permission for QuickBooks accounting data")
    connector = option.factory({})
    assert connector.endpoints.token_url == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert connector.api_base == "https://quickbooks.api.intuit.com/v3/company"


def test_business_central_needs_an_https_sandbox_or_its_app(monkeypatch):
    assert "business-central-sandbox" not in {o.key for o in catalog(Settings(public_url="http://127.0.0.1:8000"))}
    monkeypatch.setenv("BUSINESS_CENTRAL_CLIENT_ID", "id")
    monkeypatch.setenv("BUSINESS_CENTRAL_CLIENT_SECRET", "secret")
    option = get_provider(load_settings({"sandbox": False}), "business-central")
    assert option.consent_note.startswith("Microsoft offers no read-only permission for Business Central")
    connector = option.factory({})
    assert connector.auth.authority == "https://login.microsoftonline.com/organizations"
    assert connector.auth.scopes == ["https://api.businesscentral.dynamics.com/Financials.ReadWrite.All"]
    assert connector.api_base == "https://api.businesscentral.dynamics.com/v2.0"


def test_an_explicit_sandbox_url_wins():
    connector = get_provider(Settings(sandbox_url="http://127.0.0.1:9999/"), "xero-sandbox").factory({})
    assert connector.endpoints.token_url == "http://127.0.0.1:9999/xero/identity/connect/token"


def test_real_xero_appears_with_its_credentials(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_ID", "id")
    monkeypatch.setenv("XERO_CLIENT_SECRET", "secret")
    settings = load_settings({"sandbox": False})
    assert settings.app_credentials["xero"] == ("id", "secret")
    assert [o.key for o in catalog(settings)] == ["xero"]
    connector = get_provider(settings, "xero").factory({})
    assert connector.endpoints.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert connector.endpoints.connections_url == "https://api.xero.com/connections"
    assert connector.auth.client_secret == "secret"


def test_an_unknown_provider_is_refused():
    with pytest.raises(UnknownProvider):
        get_provider(Settings(sandbox=False), "xero-sandbox")


def test_a_connector_is_built_for_one_connection_with_its_setup():
    settings = Settings(public_url="http://127.0.0.1:9999")
    connector = connector_for(settings, "xero-sandbox", {"region": "au"})
    assert connector.setup == {"region": "au"}
    assert connector_for(settings, "xero-sandbox") is not connector  # one per connection, not one per process


def test_a_provider_without_both_credentials_is_not_offered(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_ID", "id")
    monkeypatch.delenv("XERO_CLIENT_SECRET", raising=False)
    assert [o.key for o in catalog(load_settings({"sandbox": False}))] == []
