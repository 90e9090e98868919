"""The workspace's custom dimensions: at most four, each with its "Unmapped" member."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import MAX_DIMENSIONS, UNMAPPED, Dimension, DimensionMember


class TooManyDimensions(ValueError):
    pass


def add_dimension(session: Session, workspace_id: int, name: str) -> Dimension:
    """Create a dimension in the first free slot, with the member that unmapped values fall into."""
    used = set(session.scalars(select(Dimension.position).where(Dimension.workspace_id == workspace_id)))
    free = [slot for slot in range(1, MAX_DIMENSIONS + 1) if slot not in used]
    if not free:
        raise TooManyDimensions(f"a workspace has at most {MAX_DIMENSIONS} custom dimensions")
    dimension = Dimension(workspace_id=workspace_id, position=free[0], name=name)
    dimension.members.append(DimensionMember(name=UNMAPPED, is_unmapped=True))
    session.add(dimension)
    session.flush()
    return dimension


def unmapped_members(session: Session, workspace_id: int) -> tuple[int | None, int | None, int | None, int | None]:
    """The "Unmapped" member id of each dimension slot 1-4 of the workspace (None for a slot not in use)."""
    found = dict(session.execute(
        select(Dimension.position, DimensionMember.id).join(DimensionMember)
        .where(Dimension.workspace_id == workspace_id, DimensionMember.is_unmapped)).all())
    return tuple(found.get(slot) for slot in range(1, MAX_DIMENSIONS + 1))


def unmapped_member(session: Session, dimension_id: int) -> DimensionMember:
    return session.scalars(
        select(DimensionMember).where(DimensionMember.dimension_id == dimension_id, DimensionMember.is_unmapped)
    ).one()

