"""What a provider package offers the catalog: an option per connectable source, and the demo's keys."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from server.config import Settings
from server.connectors.framework.connector import Connector
from server.connectors.framework.streams import DataType


@dataclass(frozen=True)
class SetupField:
    """Something the user types before connecting (a tenant domain, an environment...)."""

    name: str
    label: str
    required: bool = True


@dataclass(frozen=True)
class ProviderOption:
    key: str
    display_name: str
    auth_kind: str
    data_types: tuple[DataType, ...]
    dimension_kinds: tuple[str, ...]
    setup_fields: tuple[SetupField, ...]
    factory: Callable[[Mapping[str, str]], Connector]  # the connection's setup -> its connector
    is_demo: bool = False
    # What the provider's consent page asks for that people may not expect; the pane says it before they sign in.
    consent_note: str = ""


def sandbox_root(settings: Settings) -> str:
    return (settings.sandbox_url or f"{settings.public_url.rstrip('/')}/sandbox").rstrip("/")


def sandbox_credentials() -> tuple[str, str]:
    """The demo app registered with the built-in sandbox (defined once, in server.sandbox.config)."""
    from server.sandbox.config import DEMO_CLIENT

    return DEMO_CLIENT.client_id, DEMO_CLIENT.client_secret
