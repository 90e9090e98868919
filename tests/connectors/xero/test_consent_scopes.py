"""The scopes the connection asks Xero for: granular by default, the legacy set by a setting, and Xero's
invalid_scope (an app asking for the set it may not use) said in plain words."""
from __future__ import annotations

import pytest

from server.sandbox.config import DEMO_CLIENT
from tests.support.journey import CALLBACK, provider_app


@pytest.fixture
def app(db, tmp_path, provider):
    # An app registered before March 2026 keeps the legacy scopes: this one says so.
    with provider_app(db, tmp_path, provider, legacy_scopes=("xero-sandbox",)) as app:
        yield app


def test_a_legacy_app_asks_for_the_broad_report_scope(journey):
    _, authorize_url = journey.add()
    scope = journey.open_dialog(authorize_url).split("scope=", 1)[1].split("&", 1)[0]
    assert "accounting.reports.read" in scope and "trialbalance" not in scope


def test_invalid_scope_at_consent_is_said_in_plain_words(journey, provider):
    # The app at Xero is a new one (granular scopes only), while the setting still asks for the legacy set.
    provider.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                              "clientSecret": DEMO_CLIENT.client_secret,
                                              "redirectUris": [CALLBACK],
                                              "refusedScopes": ["accounting.reports.read"]}, expect=201)
    connection_id, authorize_url = journey.add()
    page = journey.come_back(journey.consent(journey.open_dialog(authorize_url)))
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "refused the permissions Ledgerpane asked for" in text and "LEDGERPANE_LEGACY_SCOPES" in text
    assert journey.connection(connection_id)["status"] == "setup"
