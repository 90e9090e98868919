"""The service's QuickBooks demo company against the sandbox's QuickBooks dialect: our demo app allowed to send
users back to the test origin, a user's consent to one company, and the reports the sandbox served."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import requests

from server.sandbox.config import DEMO_CLIENT
from server.sandbox.faults import Fault
from server.sandbox.quickbooks.format import realm_of
from tests.support.journey import ORIGIN
from tests.support.sandbox import SandboxServer

CALLBACK = f"{ORIGIN}/oauth/callback/quickbooks-sandbox"


def offer_the_demo_app(sandbox: SandboxServer) -> SandboxServer:
    """The sandbox reset with no grants, our demo app registered with the QuickBooks callback."""
    sandbox.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    sandbox.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                             "clientSecret": DEMO_CLIENT.client_secret,
                                             "redirectUris": [CALLBACK]}, expect=201)
    return sandbox


def connect(client, headers, provider, tenant_id: str) -> int:
    """Add the demo company, consent to one company at Intuit, come back."""
    added = client.post("/api/v1/connections", json={"provider": "quickbooks-sandbox"}, headers=headers)
    assert added.status_code == 201, added.get_json()
    connection_id = added.get_json()["connection"]["id"]
    to_intuit = client.get(added.get_json()["authorize_url"]).headers["Location"]
    page = requests.get(to_intuit, allow_redirects=False, timeout=30)
    back = requests.post(page.url, data={"decision": "approve", "tenant": [tenant_id]}, allow_redirects=False,
                         timeout=30).headers["Location"]
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 200 and b"is connected" in done.data, done.data[:400]
    return connection_id


@contextmanager
def general_ledger_reports_served(sandbox: SandboxServer, throttled_after: int | None = None) -> Iterator[Counter]:
    """Counts the GeneralLedger reports the sandbox answers (200) inside the block, by (realm, start_date): what
    Intuit meters, counted at the provider's side whatever process of ours asked. A throttled or failed call is
    not a report read. `throttled_after`: once that many reports are served, the next one is refused once, as
    Intuit throttles, with a Retry-After longer than a pull waits out (the refresh fails there)."""
    served: Counter = Counter()
    state = sandbox.app.extensions["sandbox"]
    app = sandbox.app
    inner = app.wsgi_app

    def counting(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.endswith("/reports/GeneralLedger"):
            return inner(environ, start_response)
        start = parse_qs(environ.get("QUERY_STRING", "")).get("start_date", [""])[0]

        def counted(status: str, headers, *rest):
            if status.startswith("200"):
                realm = path.split("/")[-3]
                served[(realm, start)] += 1
                if sum(served.values()) == throttled_after:
                    tenant_id = next(t for t in state.organisations if realm_of(t) == realm)
                    state.faults.add(tenant_id, Fault("429", retry_after=3600, endpoint="GeneralLedger"))
            return start_response(status, headers, *rest)

        return inner(environ, counted)

    app.wsgi_app = counting
    try:
        yield served
    finally:
        app.wsgi_app = inner
