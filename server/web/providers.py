"""The provider catalog: the sources this deployment can connect."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from server.connectors import catalog
from server.runtime import runtime
from server.web.common import BEARER, ERRORS

bp = APIBlueprint("providers", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Providers")],
                  abp_security=BEARER, abp_responses=ERRORS)


class SetupFieldOut(BaseModel):
    name: str
    label: str
    required: bool


class ProviderOut(BaseModel):
    key: str
    name: str
    auth_kind: str = Field(description="How consent works, e.g. `oauth2`.")
    data_types: list[str]
    dimension_kinds: list[str] = Field(description="What the provider calls its dimensions.")
    setup_fields: list[SetupFieldOut] = Field(description="What to ask the user before consent.")
    is_demo: bool = Field(description="A built-in demo company (the sandbox provider), not a real ledger.")
    consent_note: str = Field(description="What the provider's consent page asks for that people may not expect, "
                                          "to say before they sign in; empty when there is nothing to say.")


class ProviderList(BaseModel):
    items: list[ProviderOut]


@bp.get("/providers", responses={200: ProviderList})
def list_providers():
    """Every provider this deployment can offer."""
    items = [ProviderOut(key=o.key, name=o.display_name, auth_kind=o.auth_kind, data_types=list(o.data_types),
                         dimension_kinds=list(o.dimension_kinds),
                         setup_fields=[SetupFieldOut(name=f.name, label=f.label, required=f.required)
                                       for f in o.setup_fields], is_demo=o.is_demo, consent_note=o.consent_note)
             for o in catalog(runtime().settings)]
    return ProviderList(items=items).model_dump()
