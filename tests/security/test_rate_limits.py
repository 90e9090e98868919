"""Guessing keys and hammering the sign-in pages is limited per client, with a JSON 429 and Retry-After.

The limits are tiny here ("3 per hour"), so no window can roll over during a test: nothing waits on time.
"""
import uuid

import pytest
import redis

from server.app import create_app

WRONG = {"Authorization": "Bearer lp_wrong-key-0000000000000000000000000000000"}


@pytest.fixture
def limited_app(db, tmp_path):
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False,
                      "public_url": "http://ledgerpane.test", "rate_limit_failed_keys": "3 per hour",
                      "rate_limit_oauth": "2 per hour"})
    yield app
    app.extensions["ledgerpane"].close()


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_limited(response) -> None:
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_requests"
    assert 0 < int(response.headers["Retry-After"]) <= 3601  # a one-hour window, whole seconds


def test_wrong_keys_are_limited_per_client(limited_app, workspace):
    guesser = from_address(limited_app, "203.0.113.7")
    assert [guesser.get("/api/v1/workspace", headers=WRONG).status_code for _ in range(3)] == [401] * 3
    assert_limited(guesser.get("/api/v1/workspace", headers=WRONG))
    # A key the service knows is still served: an office behind one address is not locked out by one bad pane.
    assert guesser.get("/api/v1/connections", headers=workspace.admin()).status_code == 200
    assert_limited(guesser.get("/api/v1/connections"))  # while a missing key is refused
    other = from_address(limited_app, "203.0.113.8")
    assert other.get("/api/v1/workspace", headers=workspace.admin()).status_code == 200
    assert other.get("/api/v1/workspace", headers=WRONG).status_code == 401


def test_only_failures_count(limited_app, workspace):
    user = from_address(limited_app, "203.0.113.9")
    for _ in range(10):
        assert user.get("/api/v1/workspace", headers=workspace.member()).status_code == 200
    assert user.get("/api/v1/workspace", headers=WRONG).status_code == 401


def test_a_request_without_a_key_is_a_failure_too(limited_app, workspace):
    prober = from_address(limited_app, "203.0.113.12")
    assert [prober.get("/api/v1/connections").status_code for _ in range(2)] == [401, 401]
    assert prober.get("/api/v1/workspace", headers=WRONG).status_code == 401
    assert_limited(prober.get("/api/v1/workspace", headers=WRONG))


def test_the_sign_in_pages_are_limited_per_client(limited_app):
    dialog = from_address(limited_app, "203.0.113.10")
    assert [dialog.get("/oauth/start/1?handoff=x").status_code for _ in range(2)] == [404, 404]
    assert_limited(dialog.get("/oauth/callback/xero-sandbox?state=x&code=y"))
    assert from_address(limited_app, "203.0.113.11").get("/oauth/start/1?handoff=x").status_code == 404


def test_every_operation_documents_429_with_retry_after(client):
    document = client.get("/api/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "Retry-After" in operation["responses"]["429"]["headers"], f"{method} {path}"


def test_workers_share_their_counters_through_redis(db, tmp_path, workspace, redis_url):
    config = {"database_url": db.url, "var_dir": tmp_path, "sandbox": False, "redis_url": redis_url,
              "rate_limit_failed_keys": "3 per hour"}
    first, second = create_app(config), create_app(config)  # two workers of one deployment
    address = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # a client of this test alone
    try:
        assert from_address(first, address).get("/api/v1/workspace", headers=WRONG).status_code == 401
        assert from_address(second, address).get("/api/v1/workspace", headers=WRONG).status_code == 401
        assert from_address(first, address).get("/api/v1/workspace", headers=WRONG).status_code == 401
        assert_limited(from_address(second, address).get("/api/v1/workspace", headers=WRONG))
        keys = redis.Redis.from_url(redis_url).keys(f"*{address}*")
        assert keys, "the counter lives in Redis"
    finally:
        redis.Redis.from_url(redis_url).delete(*redis.Redis.from_url(redis_url).keys(f"*{address}*") or ["-"])
        first.extensions["ledgerpane"].close()
        second.extensions["ledgerpane"].close()


def test_with_redis_unreachable_keys_are_still_limited_and_nothing_fails(db, tmp_path, workspace, caplog):
    """The counters fall back to the worker's memory: no 500, and a guesser is still stopped."""
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False,
                      "redis_url": "redis://127.0.0.1:1/0", "rate_limit_failed_keys": "3 per hour",
                      "rate_limit_oauth": "2 per hour"})  # nothing listens at port 1
    try:
        guesser = from_address(app, "203.0.113.20")
        assert guesser.get("/api/v1/workspace", headers=workspace.admin()).status_code == 200
        assert [guesser.get("/api/v1/workspace", headers=WRONG).status_code for _ in range(3)] == [401] * 3
        assert_limited(guesser.get("/api/v1/workspace", headers=WRONG))
        assert guesser.get("/api/v1/workspace", headers=workspace.admin()).status_code == 200
        assert "failed keys counted in memory" in caplog.text
        dialog = from_address(app, "203.0.113.21")
        assert [dialog.get("/oauth/start/1?handoff=x").status_code for _ in range(2)] == [404, 404]
        assert_limited(dialog.get("/oauth/start/1?handoff=x"))
    finally:
        app.extensions["ledgerpane"].close()
