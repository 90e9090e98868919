"""Who answered an authorization request (RFC 9207 `iss`), checked by the OAuth callback.

With more than one provider, a callback could carry another provider's answer (the mix-up attack, RFC 9700
4.4). Each provider already has its own callback path; where the provider names itself in the response
(`iss`), the callback also checks that name. A provider that does not send `iss` is still held to its name
if `iss` shows up anyway: a different issuer is never ours. Each sign-in flow states its issuer.
"""
from __future__ import annotations

from server.connectors.framework.auth import AuthFlow


def issuer_refusal(flow: AuthFlow, iss: str | None) -> str | None:
    """Why a callback with this `iss` must be refused, or None when it may go on."""
    if flow.issuer is None or (iss is None and not flow.sends_iss) or iss == flow.issuer:
        return None
    return ("This answer did not come from the provider this sign-in was started with, so we ignored it. "
            "Start again from the Connections page.")
