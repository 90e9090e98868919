"""The shared HTTP client against a real local server: retries, Retry-After, rate limits, tokens, records."""
from __future__ import annotations

import random
import threading

import pytest

from server.connectors.framework.errors import (
    AuthExpired,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from server.connectors.framework.http import (
    WAITED_ON,
    HttpClient,
    RateLimits,
    RequestRecord,
    RetryPolicy,
    patience,
    redact_url,
)
from tests.support.scripted_server import Reply, ScriptedServer, VirtualClock

ROOMY = RateLimits(per_window=1000, window_seconds=60, concurrent=10)
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, max_retry_after=60)


def client(clock: VirtualClock | None = None, **kw) -> HttpClient:
    return HttpClient(timeout=(2.0, 2.0), retry=kw.pop("retry", FAST_RETRY), clock=clock, rng=random.Random(1), **kw)


def get(http: HttpClient, server: ScriptedServer, path: str = "/data", limits: RateLimits = ROOMY, **kw):
    return http.request("GET", server.url + path, rate_key="test:tenant", limits=limits, **kw)


def test_a_success_is_one_attempt_with_its_record(server):
    server.script("/data", Reply(200, {"ok": True}))
    log: list[RequestRecord] = []
    response, record = get(client(), server, log=log)
    assert response.json() == {"ok": True}
    assert log == [record]
    assert (record.method, record.status, record.attempt) == ("GET", 200, 1)


def test_5xx_is_retried_until_it_succeeds(server):
    server.script("/data", Reply(503), Reply(500), Reply(200, {"ok": True}))
    log: list[RequestRecord] = []
    response, _ = get(client(), server, log=log)
    assert response.status_code == 200
    assert [(r.attempt, r.status) for r in log] == [(1, 503), (2, 500), (3, 200)]


def test_5xx_that_outlasts_every_attempt_is_provider_unavailable(server):
    server.script("/data", Reply(502))
    log: list[RequestRecord] = []
    with pytest.raises(ProviderUnavailable) as caught:
        get(client(), server, log=log)
    assert caught.value.status == 502
    assert len(log) == FAST_RETRY.max_attempts == len(server.seen)


def test_a_call_someone_waits_on_tries_twice_then_says_so(server):
    server.script("/data", Reply(503))
    http = client(VirtualClock())
    with patience(WAITED_ON), pytest.raises(ProviderUnavailable):
        get(http, server)
    assert len(server.seen) == WAITED_ON.max_attempts == 2
    with pytest.raises(ProviderUnavailable):  # outside, the client's own policy again
        get(http, server)
    assert len(server.seen) == 2 + FAST_RETRY.max_attempts


def test_a_5xx_asking_for_a_longer_wait_than_the_policy_allows_is_not_waited_out(server):
    clock = VirtualClock()
    server.script("/data", Reply(503, {}, {"Retry-After": "90"}), Reply(200, {}))
    with patience(WAITED_ON), pytest.raises(ProviderUnavailable) as caught:
        get(client(clock), server)
    assert "90 s" in caught.value.message and len(server.seen) == 1


def test_429_waits_the_retry_after_it_was_given(server):
    clock = VirtualClock()
    server.script("/data", Reply(429, {}, {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}), Reply(200, {}))
    response, record = get(client(clock), server)
    assert response.status_code == 200 and record.attempt == 2
    assert sum(clock.sleeps) == pytest.approx(7)


def test_a_spent_daily_limit_is_surfaced_at_once(server):
    server.script("/data", Reply(429, {}, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}))
    with pytest.raises(RateLimited) as caught:
        get(client(VirtualClock()), server)
    assert (caught.value.problem, caught.value.retry_after) == ("day", 3600)
    assert len(server.seen) == 1


def test_a_retry_after_longer_than_we_wait_inside_a_pull_is_surfaced(server):
    server.script("/data", Reply(429, {}, {"Retry-After": "600"}))
    with pytest.raises(RateLimited) as caught:
        get(client(VirtualClock()), server)
    assert caught.value.retry_after == 600 and len(server.seen) == 1


def test_a_dropped_connection_is_retried(server):
    server.script("/data", Reply(drop=True), Reply(200, {"ok": True}))
    log: list[RequestRecord] = []
    response, _ = get(client(), server, log=log)
    assert response.json() == {"ok": True}
    assert log[0].status is None and log[0].error


def test_a_timeout_is_retried(server):
    server.script("/data", Reply(200, {}, delay=0.3), Reply(200, {"ok": True}))
    http = HttpClient(timeout=(1.0, 0.1), retry=FAST_RETRY)
    log: list[RequestRecord] = []
    response, _ = get(http, server, log=log)
    assert response.json() == {"ok": True}
    assert log[0].error == "ReadTimeout"


def test_timeouts_on_every_attempt_are_provider_unavailable(server):
    server.script("/data", Reply(200, {}, delay=0.15))
    http = HttpClient(timeout=(1.0, 0.05), retry=RetryPolicy(max_attempts=2, base_delay=0.001))
    with pytest.raises(ProviderUnavailable):
        get(http, server)


def test_a_401_fetches_a_new_token_once_and_retries(server):
    server.script("/data", Reply(401, {"detail": "TokenExpired"}), Reply(200, {}))
    calls: list[str | None] = []

    def token(rejected: str | None = None) -> str:
        calls.append(rejected)
        return "second" if rejected else "first"

    get(client(), server, token=token)
    assert calls == [None, "first"]
    assert [s.headers["authorization"] for s in server.seen] == ["Bearer first", "Bearer second"]


def test_a_token_expiring_after_the_last_retry_still_gets_its_fresh_token(server):
    """Retries spent on 5xx, then the token expires: the one re-fetch is not a retry of the provider's."""
    spent = [Reply(503)] * (FAST_RETRY.max_attempts - 1)
    server.script("/data", *spent, Reply(401, {"detail": "TokenExpired"}), Reply(200, {"ok": True}))

    def token(rejected: str | None = None) -> str:
        return "second" if rejected else "first"

    response, record = get(client(), server, token=token)
    assert response.status_code == 200 and record.attempt == FAST_RETRY.max_attempts + 1
    assert server.seen[-1].headers["authorization"] == "Bearer second"


def test_a_fresh_token_refused_too_gets_one_more_fresh_token(server):
    """The token was renewed just before the provider's clock passed its expiry: a second renewal, then done."""
    server.script("/data", Reply(401), Reply(401), Reply(200, {}))
    tokens = iter(["first", "second", "third"])

    def token(rejected: str | None = None) -> str:
        return next(tokens)

    response, _ = get(client(), server, token=token)
    assert response.status_code == 200
    assert [s.headers["authorization"] for s in server.seen] == ["Bearer first", "Bearer second", "Bearer third"]


def test_a_third_401_with_fresh_tokens_is_auth_expired(server):
    server.script("/data", Reply(401))
    tokens = iter(["first", "second", "third", "fourth"])

    def token(rejected: str | None = None) -> str:
        return next(tokens)

    with pytest.raises(AuthExpired):
        get(client(), server, token=token)
    assert len(server.seen) == 3


def test_a_second_401_is_auth_expired(server):
    server.script("/data", Reply(401))
    calls: list[str | None] = []

    def token(rejected: str | None = None) -> str:
        calls.append(rejected)
        return "token"

    with pytest.raises(AuthExpired):
        get(client(), server, token=token)
    assert len(calls) == 2 and len(server.seen) == 2


def test_other_client_errors_are_not_retried(server):
    server.script("/data", Reply(403, {"Title": "Forbidden"}))
    with pytest.raises(RequestRejected) as caught:
        get(client(), server)
    assert caught.value.status == 403 and len(server.seen) == 1


def test_the_window_keeps_calls_under_the_limit(server):
    clock = VirtualClock()
    server.script("/data", Reply(200, {}))
    http = client(clock)
    limits = RateLimits(per_window=3, window_seconds=60, concurrent=5)
    sent = []
    for _ in range(7):
        get(http, server, limits=limits)
        sent.append(clock.now)
    for i in range(len(sent) - 3):
        assert sent[i + 3] - sent[i] >= 60  # any four calls span at least a window
    assert sent[-1] - sent[0] == pytest.approx(120)


def test_the_daily_budget_stops_before_calling(server):
    server.script("/data", Reply(200, {}))
    http = client(VirtualClock())
    limits = RateLimits(per_window=100, per_day=3)
    for _ in range(3):
        get(http, server, limits=limits)
    with pytest.raises(RateLimited) as caught:
        get(http, server, limits=limits)
    assert caught.value.problem == "day" and len(server.seen) == 3


def test_concurrency_is_capped_per_tenant(server):
    server.script("/data", Reply(200, {}, delay=0.05))
    http = client()
    limits = RateLimits(per_window=1000, concurrent=2)
    threads = [threading.Thread(target=get, args=(http, server), kwargs={"limits": limits}) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(server.seen) == 8
    assert server.max_in_flight == 2


def test_a_429_pauses_every_caller_of_the_tenant():
    clock = VirtualClock()
    limiter = HttpClient(clock=clock).limiter("test:tenant", ROOMY)
    limiter.pause(5)
    started = clock.now
    limiter.acquire()
    limiter.release()
    assert clock.now - started == pytest.approx(5)


def test_backoff_grows_and_is_jittered():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 8)]:
        delays = {policy.backoff(attempt, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


@pytest.mark.parametrize("url, expected", [
    ("https://api.example.com/Journals?offset=100", "https://api.example.com/Journals?offset=100"),
    ("https://x.test/cb?code=abc&state=s1", "https://x.test/cb?code=REDACTED&state=s1"),
    ("https://x.test/p?access_token=t&client_secret=s&sig=1&X-Amz-Signature=z&page=2",
     "https://x.test/p?access_token=REDACTED&client_secret=REDACTED&sig=REDACTED&X-Amz-Signature=REDACTED&page=2"),
    ("https://user:pw@x.test/p#frag", "https://x.test/p"),
])
def test_endpoints_are_redacted(url, expected):
    assert redact_url(url) == expected


def test_the_record_never_carries_secrets(server):
    server.script("/data", Reply(200, {}))
    _, record = get(client(), server, params={"code": "the-code", "offset": 3}, token=lambda rejected=None: "tok")
    assert record.endpoint == f"{server.url}/data?code=REDACTED&offset=3"
    assert "tok" not in repr(record) and "the-code" not in repr(record)
