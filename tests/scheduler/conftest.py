"""This folder's app offers the sandbox provider, and its scheduler polls and hands over quickly."""
import pytest

from tests.support.journey import provider_app
from tests.support.scheduling import QUICK


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider, **QUICK) as app:
        yield app


@pytest.fixture
def runtime(app):
    return app.extensions["ledgerpane"]
