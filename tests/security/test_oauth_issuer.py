"""The OAuth callback checks who answered (RFC 9207 `iss`): the mix-up defence of RFC 9700 4.4."""
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from server.config import load_settings
from server.connections.issuer import issuer_refusal
from server.connectors import connector_for


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def test_the_sandbox_names_itself_in_its_answer(flow, provider):
    _, authorize_url = flow.add()
    back = flow.consent(flow.open_dialog(authorize_url))
    assert dict(parse_qsl(urlsplit(back).query))["iss"] == provider.url + "/xero/identity"


def test_the_sandbox_names_itself_when_access_is_denied_too(flow, provider):
    _, authorize_url = flow.add()
    back = dict(parse_qsl(urlsplit(flow.consent(flow.open_dialog(authorize_url), decision="deny")).query))
    assert (back["error"], back["iss"]) == ("access_denied", provider.url + "/xero/identity")


@pytest.mark.parametrize("iss", ["https://evil.example", "https://identity.xero.com", None])
def test_an_answer_from_another_issuer_is_refused_and_spends_the_sign_in(flow, iss):
    connection_id, authorize_url = flow.add()
    back = flow.consent(flow.open_dialog(authorize_url))
    page = flow.come_back(with_query(back, iss=iss))
    assert page.status_code == 400
    assert b"did not come from the provider" in page.data
    connection = flow.connection(connection_id)
    assert connection["status"] == "setup" and connection["credential_status"]["state"] == "none"
    assert flow.come_back(back).status_code == 400  # the state is spent: the genuine answer cannot follow it


def test_the_right_issuer_connects(flow):
    connection_id = flow.connect()
    assert flow.connection(connection_id)["status"] == "authenticated"


def test_each_provider_has_its_issuer(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_ID", "id")
    monkeypatch.setenv("XERO_CLIENT_SECRET", "secret")
    settings = load_settings({"sandbox_url": "http://127.0.0.1:9/sandbox"})
    sandbox = connector_for(settings, "xero-sandbox").auth
    assert (sandbox.issuer, sandbox.sends_iss) == ("http://127.0.0.1:9/sandbox/xero/identity", True)
    real = connector_for(settings, "xero").auth
    assert (real.issuer, real.sends_iss) == ("https://identity.xero.com", False)


def test_a_provider_that_does_not_send_iss_is_still_held_to_its_name(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_ID", "id")
    monkeypatch.setenv("XERO_CLIENT_SECRET", "secret")
    flow = connector_for(load_settings({}), "xero").auth
    assert issuer_refusal(flow, None) is None  # Xero does not send it
    assert issuer_refusal(flow, "https://identity.xero.com") is None
    assert issuer_refusal(flow, "https://evil.example") is not None
