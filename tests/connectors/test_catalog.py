from __future__ import annotations

import pytest

from server.config import Settings, load_settings
from server.connectors import UnknownProvider, catalog, connector_for, get_provider, sandbox_credentials
from server.connectors.xero.connector import XeroConnector


def test_the_sandbox_is_offered_by_default_at_the_public_url():
    settings = Settings(public_url="https://ledgerpane.example.com")
    option, = catalog(settings)
    assert (option.key, option.display_name, option.auth_kind, option.setup_fields) == (
        "xero-sandbox", "Demo company (Xero sandbox)", "oauth2", ())
    assert option.data_types == ("accounts", "dimensions", "journals", "trial_balance", "currencies")
    assert option.dimension_kinds == ("tracking categories",)
    connector = option.factory({})
    assert isinstance(connector, XeroConnector)
    assert connector.api_base == "https://ledgerpane.example.com/sandbox/xero/api.xro/2.0"
    assert connector.auth.client_id == sandbox_credentials()[0]


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
