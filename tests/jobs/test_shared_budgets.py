"""Two worker processes pulling from one tenant together stay inside the provider's published limits when their
budgets are shared in Redis: calls at once (5 per tenant) and calls per window. Without Redis, the one process
keeps the application's window across all its tenants."""
import uuid

import pytest
import redis

from server.config import load_settings
from server.connectors.framework.budgets import AppLimitedLimiter, ProcessBudgets, SharedLimiter
from server.connectors.framework.http import HttpClient, RateLimits, TenantLimiter, default_client
from server.runtime import Runtime
from tests.support.budget_load import Load, push_from_processes
from tests.support.database import REDIS_URL
from tests.support.scripted_server import VirtualClock


@pytest.fixture
def namespace(redis_url):
    """Budgets of their own in the shared Redis, removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def tenant_load(sandbox, namespace: str, limits: RateLimits, calls: int, threads: int) -> tuple[str, Load]:
    tenant = sandbox.tenants()[0]["tenantId"]
    token = sandbox.authorize()
    return tenant, Load(f"{sandbox.url}/xero/api.xro/2.0/Organisation", token["access_token"], tenant, limits,
                        calls=calls, threads=threads, redis_url=REDIS_URL, namespace=namespace)


def test_two_processes_never_hold_more_calls_at_once_than_the_tenant_allows(sandbox, namespace):
    # Each process would allow itself 5 at once; slow answers keep every thread's call open, so two processes
    # counting alone would hold 8.
    tenant, load = tenant_load(sandbox, namespace, RateLimits(per_window=1000, window_seconds=1.0, concurrent=5),
                               calls=16, threads=4)
    sandbox.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "slow", "delay": 0.3, "count": 100},
                  expect=201)
    seen = push_from_processes([load, load])
    assert [sorted(set(statuses)) for statuses in seen] == [["200"], ["200"]]
    stats = sandbox.admin("GET", f"/admin/tenants/{tenant}/stats", expect=200)
    assert stats["served429"] == 0, stats["rateLimited"]
    assert stats["maxConcurrent"] == 5, "the shared budget was used to the full, and not beyond"


def test_two_processes_together_stay_inside_the_tenants_window(sandbox, namespace):
    # The provider allows 16 calls in 2 s here; each process would allow itself 10, two processes counting
    # alone 20 (both start at once: 20 in the first window). The budget is counted when a call is let go and the
    # provider counts it when it arrives; the 6 to spare cover a call held up between the two on a busy machine
    # (with 8 of 11 in 1 s, a full run once saw 12).
    sandbox.admin("PUT", "/admin/rate-limits", {"perMinute": 16, "minuteSeconds": 2.0}, expect=200)
    tenant, load = tenant_load(sandbox, namespace, RateLimits(per_window=10, window_seconds=2.0, concurrent=5),
                               calls=20, threads=4)
    seen = push_from_processes([load, load])
    assert [sorted(set(statuses)) for statuses in seen] == [["200"], ["200"]]
    stats = sandbox.admin("GET", f"/admin/tenants/{tenant}/stats", expect=200)
    assert (stats["requests"], stats["served429"]) == (40, 0), stats["rateLimited"]


def test_a_process_set_to_share_budgets_counts_every_provider_call_in_redis(db, tmp_path, namespace):
    settings = load_settings({"database_url": db.url, "var_dir": tmp_path, "provider_budgets": "redis",
                              "redis_url": REDIS_URL, "budget_namespace": namespace})
    limits = RateLimits(per_window=10, window_seconds=60.0)
    runtime = Runtime(settings)
    try:
        assert isinstance(default_client().limiter("xero-sandbox:tenant", limits), SharedLimiter)
    finally:
        runtime.close()
    assert isinstance(default_client().limiter("xero-sandbox:tenant", limits), TenantLimiter), \
        "back to counting in this process once that runtime is gone"


def test_without_redis_the_process_keeps_the_applications_window_across_its_tenants():
    clock = VirtualClock()
    client = HttpClient(clock=clock)
    client.share_budgets(ProcessBudgets())
    limits = RateLimits(per_window=5, window_seconds=60.0, concurrent=5, app_per_window=6)
    limiters = [client.limiter(f"xero-sandbox:tenant-{n}", limits) for n in range(3)]
    other_app = client.limiter("qbo-sandbox:tenant-0", limits)
    sent = []
    for call in range(12):  # four per tenant: inside each tenant's five, over the application's six
        limiter = limiters[call % 3]
        limiter.release(limiter.acquire())
        sent.append(clock.now)
    for _ in range(5):  # another provider's app has a window of its own
        other_app.release(other_app.acquire())
    assert max(sum(1 for t in sent if start <= t < start + 60) for start in sent) == 6
    assert sent[6] - sent[0] == pytest.approx(60), "the seventh call waited for the window to move on"
    assert clock.now == sent[-1]


def test_a_process_without_redis_counts_the_applications_window(db, tmp_path):
    runtime = Runtime(load_settings({"database_url": db.url, "var_dir": tmp_path, "provider_budgets": "process"}))
    try:
        limiter = default_client().limiter("xero-sandbox:tenant", RateLimits(per_window=10, app_per_window=100))
        assert isinstance(limiter, AppLimitedLimiter)
    finally:
        runtime.close()
