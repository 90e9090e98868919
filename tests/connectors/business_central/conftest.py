"""The sandbox served twice for Business Central: over HTTPS (a certificate made here) for MSAL, which talks to
nothing but an https authority, and over plain HTTP for the API calls of the connector's HTTP client."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.business_central import TlsSandbox, running_tls_sandbox
from tests.support.sandbox import make_test_config


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory) -> Iterator[TlsSandbox]:
    with running_tls_sandbox(make_test_config(lines=4_000, tenants=2), tmp_path_factory.mktemp("tls")) as sandbox:
        yield sandbox
