"""The soak's own sandbox (small ledgers over four organisations) and an app that offers it."""
import pytest

from tests.support.journey import provider_app
from tests.support.sandbox import make_test_config, running_sandbox

SOAK_TENANTS = 4


@pytest.fixture
def sandbox():
    # A rotated refresh token stays replayable for ten days: the soak moves the provider's clock past access tokens'
    # lifetime many times, and a service killed between the provider's rotation and our commit must replay it then.
    config = make_test_config(lines=150 * SOAK_TENANTS, tenants=SOAK_TENANTS, refresh_grace=10 * 86_400)
    with running_sandbox(config) as server:
        yield server


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app
