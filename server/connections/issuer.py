"""Who answers a provider's authorization requests: its issuer (RFC 9207), for the OAuth callback to check.

With more than one provider, a callback could carry another provider's answer (the mix-up attack, RFC 9700
4.4). Each provider already has its own callback path; where the provider names itself in the response
(`iss`), the callback also checks that name. A provider that does not send `iss` is still held to its name
if `iss` shows up anyway: a different issuer is never ours.
"""
from __future__ import annotations

from dataclasses import dataclass

from server.config import Settings
from server.connectors import sandbox_root


@dataclass(frozen=True)
class Issuer:
    url: str
    sends_iss: bool  # the provider puts `iss` in every authorization response, so one without it is refused


def expected_issuer(settings: Settings, provider: str) -> Issuer | None:
    """The issuer the callback of `provider` must see; None for a provider we know no issuer of."""
    if provider == "xero-sandbox":
        # The sandbox's identity service, as its id_token's `iss` names it (server/sandbox/oauth.py `issuer`).
        return Issuer(f"{sandbox_root(settings)}/xero/identity", sends_iss=True)
    if provider == "xero":
        # Xero's OpenID issuer (https://identity.xero.com/.well-known/openid-configuration); its authorization
        # responses are not documented to carry `iss` (research/providers.md), so it is checked
        # only when present.
        return Issuer("https://identity.xero.com", sends_iss=False)
    return None


def issuer_refusal(settings: Settings, provider: str, iss: str | None) -> str | None:
    """Why a callback with this `iss` must be refused, or None when it may go on."""
    issuer = expected_issuer(settings, provider)
    if issuer is None or (iss is None and not issuer.sends_iss) or iss == issuer.url:
        return None
    return ("This answer did not come from the provider this sign-in was started with, so we ignored it. "
            "Start again from the Connections page.")
