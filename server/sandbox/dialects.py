"""The providers the sandbox speaks: one dialect package each under server/sandbox/, found by looking.

A dialect is a provider's face on the shared ground truth: its URLs (blueprints), what its id_token says
about the user, its error texts and how it writes an account and a journal. The framework (ledger, OAuth
store, faults, limits, admin) names no provider; adding one is adding a package that declares `DIALECT`.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, request

if TYPE_CHECKING:
    from server.sandbox.ledger import Account, Journal


@dataclass(frozen=True)
class Dialect:
    name: str  # the package's name, e.g. the first segment of its URLs
    title: str  # how people call the provider: the consent page and the index say it
    blueprints: tuple[Blueprint, ...]
    issuer_path: str  # where its identity service sits under the sandbox root: the id_token's `iss`
    # Claims its id_token carries besides the standard ones, from the user's id.
    user_claims: Callable[[str], dict]
    # A journal as its API serves it (rendered once, when posted) and an account as the admin answers it.
    render_journal: Callable[[Journal], bytes]
    account_json: Callable[[Account], dict]
    # The index page's links (url_for names need a request context).
    links: Callable[[], dict]
    # Error details where the framework answers for it: a call that names no tenant, injected 503s and 500s.
    tenant_missing: str = "the tenant is missing"
    unavailable: str = "The API is temporarily unavailable"
    server_error: str = "An error occurred"
    # The sandbox's own dialect when none is named (the one journals are rendered in and the admin speaks).
    default: bool = False
    # A refresh token only for consents that include offline_access; False: always one (some providers always
    # issue one).
    refresh_needs_offline_access: bool = True
    # PKCE (S256) required at the authorize step; a provider that does not document PKCE takes plain code flow.
    requires_pkce: bool = True
    # Parameters the provider adds to a successful authorization response besides code and state (a company id).
    authorization_params: Callable[[Any], dict] | None = None
    # Fields the provider adds to every token response, from the consent (Microsoft: client_info).
    token_fields: Callable[[Any], dict] | None = None
    # The provider's error body for a status, a title and a detail; None: the framework's problem JSON.
    problem_body: Callable[[int, str, str], dict] | None = None
    # The provider deletes transactions outright (the admin API may delete a journal); others only reverse them.
    deletes_journals: bool = False
    # Where the provider's access tokens are JWTs: the claims one carries besides jti, client_id and scope,
    # from the consent it came from (an object with auth_event_id, client_id, user). None: opaque tokens.
    access_token_claims: Callable[[Any], dict] | None = None
    # The provider matches its URL paths whatever their case (a provider's own SDK may call /Connections
    # where its documentation says /connections).
    case_insensitive_paths: bool = False
    # The provider says when to come back on a 503 too (a Retry-After header), not only on a 429.
    retry_after_when_unavailable: bool = False
    blueprint_names: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "blueprint_names", frozenset(blueprint.name for blueprint in self.blueprints))


@cache
def registry() -> dict[str, Dialect]:
    """Every dialect package under server/sandbox, by name, in name order."""
    found = {}
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.ispkg:
            dialect = importlib.import_module(f"{__package__}.{module.name}").DIALECT
            found[dialect.name] = dialect
    return found


def dialect_named(name: str | None) -> Dialect:
    """That dialect; None: the one marked `default` (else the first registered)."""
    dialects = registry()
    if name is None:
        return next((d for d in dialects.values() if d.default), next(iter(dialects.values())))
    if name not in dialects:
        raise ValueError(f"no sandbox dialect {name!r}; there are {sorted(dialects)}")
    return dialects[name]


def current_dialect() -> Dialect | None:
    """The dialect whose URL is being served, or None (the admin API, the index)."""
    for dialect in registry().values():
        if request.blueprint in dialect.blueprint_names:
            return dialect
    return None
