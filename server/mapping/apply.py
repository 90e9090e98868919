"""Re-applying a connection's saved mapping to the lines already loaded, set-based.

Lines that share an entity and a combination of provider values (`source_dimensions`) land in the same place,
and there are few such combinations however long the ledger: they are read grouped, routed once each (the
same `Routing` the refresh uses), and the ones whose place changed go into a temporary table that one UPDATE
joins on. Only lines whose members change are written, so each moves exactly once, and the moves are counted
per dimension, from member and to member, for the log.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, func, insert, or_, select, update
from sqlalchemy.orm import Session

from server.db.models import Dimension, DimensionMember, Entity, LedgerLine
from server.mapping.routing import Members, Routing, load_routing

SLOTS = (LedgerLine.dim1_member_id, LedgerLine.dim2_member_id, LedgerLine.dim3_member_id, LedgerLine.dim4_member_id)


@dataclass
class Moved:
    lines: int = 0
    moves: list[dict[str, Any]] = field(default_factory=list)  # dimension, from, to, lines: the largest first

    def sentence(self) -> str:
        if not self.lines:
            return "No loaded line changed place."
        where = "; ".join(f"{m['dimension']}: {m['from']} → {m['to']} {m['lines']:,}" for m in self.moves[:8])
        more = f"; and {len(self.moves) - 8} more" if len(self.moves) > 8 else ""
        return f"{self.lines:,} loaded line{'s' * (self.lines != 1)} moved. {where}{more}."


def routings(db: Any, workspace_id: int, connection_id: int) -> dict[int, Routing]:
    entity_ids = db.execute(select(Entity.id).where(Entity.connection_id == connection_id)).scalars()
    return {entity_id: load_routing(db, workspace_id, entity_id) for entity_id in entity_ids}


def reapply(db: Any, workspace_id: int, connection_id: int) -> Moved:
    """Move the connection's loaded lines to where the saved mapping places them, inside the caller's
    transaction. `db`: a Session or a Core connection."""
    routed = routings(db, workspace_id, connection_id)
    targets: dict[tuple[int, str], Members] = {}
    counts: Counter[tuple[int, int | None, int | None]] = Counter()
    changing: set[tuple[int, str]] = set()
    moved = 0
    groups = db.execute(select(LedgerLine.entity_id, LedgerLine.source_dimensions, *SLOTS, func.count())
                        .where(LedgerLine.connection_id == connection_id)
                        .group_by(LedgerLine.entity_id, LedgerLine.source_dimensions, *SLOTS))
    for entity_id, text, dim1, dim2, dim3, dim4, lines in groups:
        key = (entity_id, text)
        target = targets.get(key)
        if target is None:
            target = targets[key] = routed.get(entity_id, Routing()).members_for_text(text)
        now = (dim1, dim2, dim3, dim4)
        if now != target:
            moved += lines
            changing.add(key)
            for slot in range(4):
                if now[slot] != target[slot]:
                    counts[(slot, now[slot], target[slot])] += lines
    if not moved:
        return Moved()
    _move(db, connection_id, [(entity_id, text, *targets[(entity_id, text)]) for entity_id, text in changing])
    return Moved(moved, _described(db, workspace_id, counts))


def _move(db: Any, connection_id: int, places: list[tuple]) -> None:
    remap = Table("remap_lines", MetaData(), Column("entity_id", Integer), Column("source_dimensions", String),
                  *(Column(f"d{slot}", Integer) for slot in range(1, 5)), prefixes=["TEMPORARY"])
    Index("remap_lines_key", remap.c.entity_id, remap.c.source_dimensions)
    bind = db.connection() if isinstance(db, Session) else db
    remap.create(bind)
    try:
        bind.execute(insert(remap), [dict(zip(("entity_id", "source_dimensions", "d1", "d2", "d3", "d4"), place,
                                              strict=True)) for place in places])
        targets = (remap.c.d1, remap.c.d2, remap.c.d3, remap.c.d4)
        bind.execute(
            update(LedgerLine.__table__)
            .where(LedgerLine.__table__.c.connection_id == connection_id,
                   LedgerLine.__table__.c.entity_id == remap.c.entity_id,
                   LedgerLine.__table__.c.source_dimensions == remap.c.source_dimensions,
                   or_(*(LedgerLine.__table__.c[column.key].is_distinct_from(target)
                         for column, target in zip(SLOTS, targets, strict=True))))
            .values({column.key: target for column, target in zip(SLOTS, targets, strict=True)}))
    finally:
        remap.drop(bind)


def _described(db: Any, workspace_id: int, counts: Counter) -> list[dict[str, Any]]:
    names = dict(db.execute(select(Dimension.position, Dimension.name)
                            .where(Dimension.workspace_id == workspace_id)).all())
    member_ids = {member for _, before, after in counts for member in (before, after) if member is not None}
    members = dict(db.execute(select(DimensionMember.id, DimensionMember.name)
                              .where(DimensionMember.id.in_(member_ids))).all()) if member_ids else {}
    moves = [{"dimension": names.get(slot + 1, f"Dimension {slot + 1}"), "from": members.get(before, "(none)"),
              "to": members.get(after, "(none)"), "lines": lines} for (slot, before, after), lines in counts.items()]
    moves.sort(key=lambda move: (-move["lines"], move["dimension"], move["from"], move["to"]))
    return moves
