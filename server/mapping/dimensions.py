"""The workspace's custom dimensions: at most four, each in a slot (dim1..dim4 of a ledger line) that never moves,
each with its "Unmapped" member. Admins add, rename, order and delete them and their members; what a deletion
does to the lines that point at them is the caller's explicit choice, never a silent loss."""
from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.db.models import MAX_DIMENSIONS, UNMAPPED, Dimension, DimensionMember, LedgerLine
from server.mapping.errors import Refused, TooManyDimensions

__all__ = ["TooManyDimensions", "add_dimension", "add_member", "delete_dimension", "delete_member",
           "lines_on_members", "slot_column", "unmapped_member"]


def slot_column(position: int):
    """The ledger line's column for a dimension slot (1-4)."""
    return getattr(LedgerLine, f"dim{position}_member_id")


def add_dimension(session: Session, workspace_id: int, name: str) -> Dimension:
    """Create a dimension in the first free slot, with the member that unmapped values fall into. Lines already
    loaded land on it: every line points at a member of each dimension."""
    used = set(session.scalars(select(Dimension.position).where(Dimension.workspace_id == workspace_id)))
    free = [slot for slot in range(1, MAX_DIMENSIONS + 1) if slot not in used]
    if not free:
        raise TooManyDimensions(MAX_DIMENSIONS)
    _refuse_taken_name(session, workspace_id, name)
    order = session.scalar(select(func.coalesce(func.max(Dimension.display_order), 0))
                           .where(Dimension.workspace_id == workspace_id)) + 1
    dimension = Dimension(workspace_id=workspace_id, position=free[0], name=name, display_order=order)
    dimension.members.append(DimensionMember(name=UNMAPPED, is_unmapped=True))
    session.add(dimension)
    session.flush()
    column = slot_column(dimension.position)
    session.execute(update(LedgerLine).where(LedgerLine.workspace_id == workspace_id)
                    .values({column: dimension.members[0].id}), execution_options={"synchronize_session": False})
    return dimension


def rename_dimension(session: Session, dimension: Dimension, name: str) -> None:
    if name != dimension.name:
        _refuse_taken_name(session, dimension.workspace_id, name, but=dimension.id)
        dimension.name = name


def name_key(name: str) -> str:
    """What two names are compared by: "Été" is "ÉTÉ", and "Cost centre " is "Cost  centre" (a list in Excel shows
    them alike). In Python, never SQL's lower(): SQLite's folds ASCII letters only, so "ÉTÉ" passed a check for a
    taken name and then broke the unique name (a 500)."""
    return " ".join(name.split()).casefold()


def _refuse_taken_name(session: Session, workspace_id: int, name: str, but: int | None = None) -> None:
    names = session.scalars(select(Dimension.name).where(Dimension.workspace_id == workspace_id,
                                                         Dimension.id != (but or 0)))
    if name_key(name) in {name_key(other) for other in names}:
        raise Refused(409, "name_taken", f"The workspace already has a dimension called {name}.", "name")


def lines_on_members(session: Session, dimension: Dimension) -> int:
    """Lines that a mapping placed on one of the dimension's own members (not on Unmapped)."""
    column = slot_column(dimension.position)
    return session.scalar(select(func.count()).select_from(LedgerLine).where(
        LedgerLine.workspace_id == dimension.workspace_id, column.is_not(None),
        column.not_in(select(DimensionMember.id).where(DimensionMember.dimension_id == dimension.id,
                                                       DimensionMember.is_unmapped)))) or 0


def delete_dimension(session: Session, dimension: Dimension, clear_lines: bool) -> int:
    """Delete the dimension, its members and the mappings onto it. Lines placed on its members are only let go
    of when the caller says so (`clear_lines`): the slot is then emptied on every line. Returns the lines cleared."""
    holding = lines_on_members(session, dimension)
    if holding and not clear_lines:
        raise Refused(409, "dimension_holds_data",
                      f"{dimension.name} holds {holding:,} ledger line{'s' * (holding != 1)} on its members. Delete "
                      "it with lines=clear to clear the dimension on those lines, or map them elsewhere first.",
                      "lines")
    column = slot_column(dimension.position)
    cleared = session.execute(update(LedgerLine).where(LedgerLine.workspace_id == dimension.workspace_id,
                                                       column.is_not(None)).values({column: None}),
                              execution_options={"synchronize_session": False}).rowcount
    session.execute(delete(Dimension).where(Dimension.id == dimension.id),
                    execution_options={"synchronize_session": False})
    session.expunge(dimension)
    return cleared


def add_member(session: Session, dimension: Dimension, name: str, code: str = "") -> DimensionMember:
    _refuse_taken_member_name(session, dimension.id, name)
    member = DimensionMember(dimension_id=dimension.id, name=name, code=code)
    session.add(member)
    session.flush()
    return member


def change_member(session: Session, member: DimensionMember, name: str | None, code: str | None) -> None:
    if member.is_unmapped and name is not None and name != member.name:
        raise Refused(409, "unmapped_is_fixed", "The Unmapped member keeps its name.", "name")
    if name is not None and name != member.name:
        _refuse_taken_member_name(session, member.dimension_id, name, but=member.id)
        member.name = name
    if code is not None:
        member.code = code


def _refuse_taken_member_name(session: Session, dimension_id: int, name: str, but: int | None = None) -> None:
    names = session.scalars(select(DimensionMember.name).where(DimensionMember.dimension_id == dimension_id,
                                                               DimensionMember.id != (but or 0)))
    if name_key(name) in {name_key(other) for other in names}:
        raise Refused(409, "name_taken", f"The dimension already has a member called {name}.", "name")


def delete_member(session: Session, member: DimensionMember, move_lines: bool) -> int:
    """Delete a member (never Unmapped). Its lines move to Unmapped only when the caller says so (`move_lines`);
    provider members mapped onto it then follow their dimension's rule. Returns the lines moved."""
    if member.is_unmapped:
        raise Refused(409, "unmapped_is_fixed", "Every dimension keeps its Unmapped member.")
    dimension = member.dimension
    column = slot_column(dimension.position)
    on_it = (LedgerLine.workspace_id == dimension.workspace_id, column == member.id)
    holding = session.scalar(select(func.count()).select_from(LedgerLine).where(*on_it)) or 0
    if holding and not move_lines:
        raise Refused(409, "member_holds_data",
                      f"{member.name} holds {holding:,} ledger line{'s' * (holding != 1)}. Delete it with "
                      "lines=unmapped to move them to Unmapped, or map them elsewhere first.", "lines")
    if holding:
        session.execute(update(LedgerLine).where(*on_it).values({column: unmapped_member(session, dimension.id).id}),
                        execution_options={"synchronize_session": False})
    session.delete(member)
    session.flush()
    return holding


def unmapped_member(session: Session, dimension_id: int) -> DimensionMember:
    return session.scalars(
        select(DimensionMember).where(DimensionMember.dimension_id == dimension_id, DimensionMember.is_unmapped)
    ).one()
