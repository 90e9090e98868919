"""Fixtures of the sandbox tests. The sandbox fixtures themselves live in tests/support/sandbox.py."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "provider-specs" / "xero"  # beside the repo


@pytest.fixture(scope="session")
def xero_schemas() -> dict:
    """components/schemas of Xero's Accounting OpenAPI file."""
    path = SPEC_DIR / "xero_accounting.yaml"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as spec:
        return yaml.load(spec, Loader=loader)["components"]["schemas"]


@pytest.fixture(scope="session")
def token(sandbox_server) -> dict:
    """A token set covering every organisation, shared by the read-only tests."""
    return sandbox_server.authorize()


@pytest.fixture
def tenant_ids(sandbox) -> list[str]:
    return [t["tenantId"] for t in sandbox.tenants()]


@pytest.fixture
def api(sandbox, token, tenant_ids) -> Callable:
    """GET an Accounting API path for an organisation (the first one unless told)."""

    def get(path: str, tenant_id: str | None = None, **kwargs):
        return sandbox.api(path, token, tenant_id or tenant_ids[0], **kwargs)

    return get
