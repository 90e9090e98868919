"""Injected faults and Xero's rate limits, as a connector meets them over HTTP."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from server.sandbox import RateLimits
from tests.support.sandbox import make_test_config, running_sandbox
from tests.support.waiting import wait_until


def add_fault(sandbox, tenant_id: str, **fault) -> None:
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/faults", fault, expect=201)


def stats(sandbox, tenant_id: str) -> dict:
    return sandbox.admin("GET", f"/admin/tenants/{tenant_id}/stats", expect=200)


def test_injected_429_carries_retry_after_and_the_problem(sandbox, api, tenant_ids):
    add_fault(sandbox, tenant_ids[0], kind="429", retryAfter=3)
    limited = api("Journals")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert api("Journals").status_code == 200
    counted = stats(sandbox, tenant_ids[0])
    assert counted["served429"] == 1 and counted["injected"] == {"429": 1}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_for_the_next_n_calls(sandbox, api, tenant_ids, status):
    add_fault(sandbox, tenant_ids[1], kind=str(status), count=2)
    assert [api("Accounts", tenant_ids[1]).status_code for _ in range(3)] == [status, status, 200]
    assert api("Accounts", tenant_ids[0]).status_code == 200  # other organisations are unaffected


def test_a_fault_can_target_one_endpoint(sandbox, api, tenant_ids):
    add_fault(sandbox, tenant_ids[0], kind="503", endpoint="Journals")
    assert api("Accounts").status_code == 200
    assert api("Journals").status_code == 503
    assert sandbox.admin("GET", f"/admin/tenants/{tenant_ids[0]}/faults", expect=200)["faults"] == []


def test_slow_responses_trip_a_client_timeout(sandbox, api, tenant_ids):
    add_fault(sandbox, tenant_ids[0], kind="slow", delay=0.6, count=2)
    started = time.monotonic()
    assert api("Currencies").status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("Currencies", timeout=0.2)


def test_dropped_connection_is_a_connection_error(sandbox, api, tenant_ids):
    add_fault(sandbox, tenant_ids[0], kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api("Journals")
    assert api("Journals").status_code == 200
    assert stats(sandbox, tenant_ids[0])["injected"] == {"drop": 1}


def test_identity_faults_hit_the_token_endpoint(sandbox, token):
    sandbox.admin("POST", "/admin/identity/faults", {"kind": "503", "endpoint": "token"}, expect=201)

    def refresh() -> requests.Response:
        return requests.post(sandbox.url + "/xero/identity/connect/token", timeout=10,
                             auth=(sandbox.client.client_id, sandbox.client.client_secret),
                             data={"grant_type": "refresh_token", "refresh_token": "unknown"})

    assert refresh().status_code == 503
    assert refresh().status_code == 400  # the fault is spent: back to the real answer


def test_bad_fault_requests_are_refused(sandbox, tenant_ids):
    assert sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/faults", {"kind": "teapot"}, expect=400)
    assert sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/faults", {"kind": "500", "count": 0},
                         expect=400)


DAY = 3600.0  # seconds in the limited sandbox's day: its windows follow the clock, as a provider's day does


@pytest.fixture(scope="module")
def limited():
    """A sandbox of its own with tiny limits: 5 calls per 1-second minute, 2 at once, 12 per day."""
    limits = RateLimits(per_minute=5, concurrent=2, per_day=12, minute_seconds=1.0, day_seconds=DAY)
    with running_sandbox(make_test_config(lines=300, rate_limits=limits)) as server:
        server.token = server.authorize()
        yield server


def test_minute_limit_answers_429_until_the_window_ends(limited):
    limited.reset()
    tenant = limited.tenants()[0]["tenantId"]
    wait_until(lambda: time.time() % 1.0 < 0.5, deadline=2, interval=0.01,
               message="the start of a rate-limit window")  # start early in a window, so all six land in it
    answers = [limited.api("Currencies", limited.token, tenant) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-MinLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert answers[5].headers["X-Rate-Limit-Problem"] == "minute"
    assert answers[5].headers["Retry-After"] == "1"
    wait_until(lambda: limited.api("Currencies", limited.token, tenant).status_code == 200, deadline=2,
               message="the next window lets a call through")
    assert stats(limited, tenant)["rateLimited"]["minute"] >= 1


def test_day_limit(limited):
    limited.reset()
    tenant = limited.tenants()[1]["tenantId"]
    served = []
    # The twelve calls take a few seconds: not across the moment a new day starts, when the count starts again.
    wait_until(lambda: time.time() % DAY < DAY - 20, deadline=25, interval=0.5, message="well inside a day")

    def served_twelve() -> bool:
        answer = limited.api("Currencies", limited.token, tenant)
        if answer.status_code == 200:
            served.append(answer)
        return len(served) == 12

    wait_until(served_twelve, deadline=5, interval=0, message=lambda: f"{len(served)} of the day's 12 calls served")
    assert served[-1].headers["X-DayLimit-Remaining"] == "0"
    refused = limited.api("Currencies", limited.token, tenant)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert int(refused.headers["Retry-After"]) > 1


def test_concurrency_limit(limited):
    limited.reset()
    tenant = limited.tenants()[2]["tenantId"]
    add_fault(limited, tenant, kind="slow", delay=0.8, count=2)
    slow = [threading.Thread(target=limited.api, args=("Currencies", limited.token, tenant)) for _ in range(2)]
    for thread in slow:
        thread.start()
    wait_until(lambda: stats(limited, tenant)["inFlight"] == 2, deadline=2, message="two slow calls in flight")
    third = limited.api("Currencies", limited.token, tenant)
    assert third.status_code == 429
    assert third.headers["X-Rate-Limit-Problem"] == "concurrent"
    for thread in slow:
        thread.join()
    assert stats(limited, tenant)["maxConcurrent"] == 2


def test_limits_can_be_disabled_and_restored(sandbox, api):
    sandbox.admin("PUT", "/admin/rate-limits", {"enabled": False}, expect=200)
    assert {api("Currencies").status_code for _ in range(70)} == {200}
    sandbox.reset()
    assert sandbox.admin("GET", "/admin/rate-limits", expect=200)["enabled"] is True
    assert sandbox.admin("PUT", "/admin/rate-limits", {"perHour": 1}, expect=400)["code"] == "unknown_field"
