"""This folder's app offers the sandbox's Xero (see tests/support/journey.py)."""
import pytest

from tests.support.journey import provider_app


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app
