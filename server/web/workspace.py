"""The caller's workspace: what it is called, its timezone and base currency, and the caller's role."""
from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, field_validator

from server.access.keys import current_caller, require_admin
from server.access.workspaces import check_timezone
from server.db.engine import request_session
from server.db.models import Workspace
from server.web.common import BEARER, ERRORS, Name, StrictModel

bp = APIBlueprint("workspace", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Workspace")],
                  abp_security=BEARER, abp_responses=ERRORS)


class WorkspaceOut(BaseModel):
    name: str
    timezone: str
    base_currency: str
    role: str = Field(description="The caller's role: `admin` or `member`.")


class WorkspaceChange(StrictModel):
    name: Name | None = None
    timezone: str | None = Field(None, min_length=1, max_length=100, description="IANA name, e.g. `Europe/London`.")
    base_currency: str | None = Field(None, pattern="^[A-Za-z]{3}$", description="ISO 4217 code.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


def _describe(workspace: Workspace) -> dict:
    return WorkspaceOut(
        name=workspace.name, timezone=workspace.timezone, base_currency=workspace.base_currency,
        role=current_caller().role.value,
    ).model_dump()


@bp.get("/workspace", responses={200: WorkspaceOut})
def get_workspace():
    """The caller's workspace."""
    return _describe(request_session().get(Workspace, current_caller().workspace_id))


@bp.patch("/workspace", responses={200: WorkspaceOut})
def change_workspace(body: WorkspaceChange):
    """Rename the workspace or change its timezone or base currency (admins only)."""
    caller = require_admin()
    session = request_session()
    workspace = session.get(Workspace, caller.workspace_id)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(workspace, name, value.upper() if name == "base_currency" else value)
    session.commit()
    return _describe(workspace)
