"""Security tests: the app as a finance user meets it, and (`flow`) wired to the sandbox provider over HTTP."""
import pytest

from tests.support.journey import Journey, provider_app


@pytest.fixture
def provider_client(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app.test_client()


@pytest.fixture
def flow(provider_client, provider, workspace) -> Journey:
    """A user's steps through the consent dialog, on the app offering the sandbox provider."""
    return Journey(provider_client, provider, workspace.admin())
