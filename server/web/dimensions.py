"""The workspace's custom dimensions and their members. Everyone reads; admins change.

Deleting what holds data needs the caller to say what happens to it: `lines=clear` empties a deleted dimension
on its lines, `lines=unmapped` moves a deleted member's lines to Unmapped. Every change is in the audit trail
(`GET /api/v1/mapping/changes`).
"""
from __future__ import annotations

from typing import Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.access.keys import current_caller, require_admin
from server.db.engine import lock_row, request_session
from server.db.models import MAX_DIMENSIONS, Dimension, DimensionMember, Workspace
from server.errors import error_response, not_found
from server.mapping import audit, dimensions
from server.mapping.catalog import member_out, workspace_dimensions
from server.mapping.errors import Refused
from server.web.common import BEARER, ERRORS, Id, Name, OptionalBody, StrictModel, name_text, plain_text

bp = APIBlueprint("dimensions", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Dimensions")],
                  abp_security=BEARER, abp_responses={**ERRORS, 409: ERRORS[404]})


@bp.errorhandler(Refused)
def _refused(error: Refused):
    return error_response(error.status, error.code, error.message, error.field)


DimensionName = name_text(100)
Code = plain_text(50)


class MemberOut(BaseModel):
    id: int
    name: str
    code: str
    unmapped: bool = Field(description="The member lines land on when nothing maps them; one per dimension.")


class DimensionOut(BaseModel):
    id: int
    name: str
    position: int = Field(description="The slot (1-4) the dimension holds on every ledger line; it never moves.")
    order: int = Field(description="Where lists show it.")
    members: list[MemberOut]


class DimensionList(BaseModel):
    items: list[DimensionOut]


class MemberList(BaseModel):
    items: list[MemberOut]


class DimensionPath(BaseModel):
    dimension_id: Id


class MemberPath(BaseModel):
    dimension_id: Id
    member_id: Id


class NewDimension(StrictModel):
    name: DimensionName


class DimensionChange(StrictModel):
    name: DimensionName | None = None
    order: int | None = Field(None, ge=1, le=MAX_DIMENSIONS, description="Its place in lists, 1 first.")


class DimensionDeletion(OptionalBody):
    lines: Literal["clear"] | None = Field(None, description="`clear`: empty the dimension on the lines placed on "
                                                             "its members. Needed when it holds data.")


class NewMember(StrictModel):
    name: Name
    code: Code = ""


class MemberChange(StrictModel):
    name: Name | None = None
    code: Code | None = None


class MemberDeletion(OptionalBody):
    lines: Literal["unmapped"] | None = Field(None, description="`unmapped`: move the member's lines to Unmapped. "
                                                                "Needed when it holds lines.")


class Deleted(BaseModel):
    id: int
    deleted: bool
    lines: int = Field(description="Lines cleared or moved to Unmapped.")


def _who() -> audit.Who:
    caller = current_caller()
    return audit.Who(caller.member_id, caller.user)


def find_dimension(dimension_id: int) -> Dimension:
    dimension = request_session().get(Dimension, dimension_id)
    if dimension is None or dimension.workspace_id != current_caller().workspace_id:
        raise not_found("dimension")
    return dimension


def find_member(dimension: Dimension, member_id: int) -> DimensionMember:
    member = request_session().get(DimensionMember, member_id)
    if member is None or member.dimension_id != dimension.id:
        raise not_found("member")
    return member


def _one(dimension: Dimension) -> dict:
    found = [d for d in workspace_dimensions(request_session(), dimension.workspace_id) if d["id"] == dimension.id]
    return DimensionOut.model_validate(found[0]).model_dump()


@bp.get("/dimensions", responses={200: DimensionList})
def list_dimensions():
    """The workspace's dimensions (at most four), in their order, with their members (Unmapped first)."""
    return DimensionList(items=workspace_dimensions(request_session(), current_caller().workspace_id)).model_dump()


def _one_change_at_a_time(workspace_id: int) -> None:
    """The workspace's dimensions and members change one request at a time: two adds of one name, or of the last
    free slot, sent together both passed their checks, and the second broke a unique key (a 500); a delete sent
    twice at once deleted, and recorded, more than once."""
    lock_row(request_session(), Workspace, workspace_id)


@bp.post("/dimensions", responses={201: DimensionOut})
def create_dimension(body: NewDimension):
    """Add a dimension (admins), with its Unmapped member; lines already loaded land on Unmapped."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    session = request_session()
    dimension = dimensions.add_dimension(session, caller.workspace_id, body.name)
    audit.record(session, caller.workspace_id, _who(), "dimension.created", f"Dimension {body.name} added.",
                 {"dimension_id": dimension.id, "name": body.name, "position": dimension.position})
    session.commit()
    return _one(dimension), 201


@bp.get("/dimensions/<int:dimension_id>", responses={200: DimensionOut})
def get_dimension(path: DimensionPath):
    """One dimension with its members."""
    return _one(find_dimension(path.dimension_id))


@bp.patch("/dimensions/<int:dimension_id>", responses={200: DimensionOut})
def change_dimension(path: DimensionPath, body: DimensionChange):
    """Rename a dimension or move it in the list (admins)."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    dimension = find_dimension(path.dimension_id)
    session = request_session()
    before = dimension.name
    if body.name is not None and body.name != dimension.name:
        dimensions.rename_dimension(session, dimension, body.name)
        audit.record(session, caller.workspace_id, _who(), "dimension.renamed", f"Dimension {before} renamed "
                     f"{body.name}.", {"dimension_id": dimension.id, "from": before, "to": body.name})
    if body.order is not None:
        ordered = [d for d in session.scalars(select(Dimension).where(Dimension.workspace_id == caller.workspace_id)
                                              .order_by(Dimension.display_order, Dimension.position))
                   if d.id != dimension.id]
        ordered.insert(min(body.order, len(ordered) + 1) - 1, dimension)
        for place, each in enumerate(ordered, start=1):
            each.display_order = place
        audit.record(session, caller.workspace_id, _who(), "dimension.reordered", f"Dimension {dimension.name} "
                     f"moved to place {dimension.display_order}.", {"order": [d.name for d in ordered]})
    session.commit()
    return _one(dimension)


@bp.delete("/dimensions/<int:dimension_id>", responses={200: Deleted})
def delete_dimension(path: DimensionPath, query: DimensionDeletion):
    """Delete a dimension, its members and the mappings onto it (admins). One holding data needs `lines=clear`."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    dimension = find_dimension(path.dimension_id)
    session = request_session()
    name, dimension_id = dimension.name, dimension.id
    cleared = dimensions.delete_dimension(session, dimension, clear_lines=query.lines == "clear")
    audit.record(session, caller.workspace_id, _who(), "dimension.deleted",
                 f"Dimension {name} deleted" + (f"; cleared on {cleared:,} lines." if cleared else "."),
                 {"dimension_id": dimension_id, "name": name, "lines_cleared": cleared})
    session.commit()
    return Deleted(id=dimension_id, deleted=True, lines=cleared).model_dump()


@bp.get("/dimensions/<int:dimension_id>/members", responses={200: MemberList})
def list_members(path: DimensionPath):
    """A dimension's members, its Unmapped member among them."""
    return MemberList(items=_one(find_dimension(path.dimension_id))["members"]).model_dump()


@bp.post("/dimensions/<int:dimension_id>/members", responses={201: MemberOut})
def create_member(path: DimensionPath, body: NewMember):
    """Add a member (admins)."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    dimension = find_dimension(path.dimension_id)
    session = request_session()
    member = dimensions.add_member(session, dimension, body.name, body.code)
    audit.record(session, caller.workspace_id, _who(), "member.created", f"Member {body.name} added to "
                 f"{dimension.name}.", {"dimension_id": dimension.id, "member_id": member.id, "name": body.name,
                                        "code": body.code})
    session.commit()
    return member_out(member), 201


@bp.patch("/dimensions/<int:dimension_id>/members/<int:member_id>", responses={200: MemberOut})
def change_member(path: MemberPath, body: MemberChange):
    """Rename a member or change its code (admins). Unmapped keeps its name."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    dimension = find_dimension(path.dimension_id)
    member = find_member(dimension, path.member_id)
    session = request_session()
    before = {"name": member.name, "code": member.code}
    dimensions.change_member(session, member, body.name, body.code)
    after = {"name": member.name, "code": member.code}
    if after != before:
        audit.record(session, caller.workspace_id, _who(), "member.changed", f"Member {before['name']} of "
                     f"{dimension.name} changed.", {"dimension_id": dimension.id, "member_id": member.id,
                                                    "from": before, "to": after})
    session.commit()
    return member_out(member)


@bp.delete("/dimensions/<int:dimension_id>/members/<int:member_id>", responses={200: Deleted})
def delete_member(path: MemberPath, query: MemberDeletion):
    """Delete a member (admins); never Unmapped. One holding lines needs `lines=unmapped`."""
    caller = require_admin()
    _one_change_at_a_time(caller.workspace_id)
    dimension = find_dimension(path.dimension_id)
    member = find_member(dimension, path.member_id)
    session = request_session()
    name, member_id = member.name, member.id
    moved = dimensions.delete_member(session, member, move_lines=query.lines == "unmapped")
    audit.record(session, caller.workspace_id, _who(), "member.deleted",
                 f"Member {name} of {dimension.name} deleted" + (f"; {moved:,} lines moved to Unmapped."
                                                                 if moved else "."),
                 {"dimension_id": dimension.id, "member_id": member_id, "name": name, "lines_moved": moved})
    session.commit()
    return Deleted(id=member_id, deleted=True, lines=moved).model_dump()
