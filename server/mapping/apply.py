"""Re-applying a connection's saved mapping to the lines already loaded, set-based.

Lines that share an entity and a combination of provider values (`source_dimensions`) land in the same place,
and there are few such combinations however long the ledger: the lines are tallied per combination and current
members, each combination is routed once (the same `Routing` the refresh uses), and the ones whose place changed
go into a temporary table that one UPDATE joins on. Only lines whose members change are written, so each moves
exactly once, and the moves are counted per dimension, from member and to member, for the log.

The tally is the costly read (benchmarks/remap.py). PostgreSQL groups by hashing. SQLite would sort every line to
group them, so there it takes two cheaper reads: the distinct places of each combination (a small temporary
b-tree), and the lines per combination from an index in that order (`ledger_line_dimensions`), which needs no sort.
Those two give the tally when each combination's lines sit in one place, as they do after any save; when some are
split (a line moved by hand, or left by an older mapping) each line bumps its row of a small temporary table.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
    bind = db.connection() if isinstance(db, Session) else db
    routed = routings(bind, workspace_id, connection_id)
    targets: dict[tuple[int, str], Members] = {}
    counts: Counter[tuple[int, int | None, int | None]] = Counter()
    changing: set[tuple[int, str]] = set()
    settled: set[tuple[int, str]] = set()  # combinations with lines already where they belong
    for entity_id, values, dim1, dim2, dim3, dim4, lines in _tally(bind, connection_id):
        key = (entity_id, values)
        target = targets.get(key)
        if target is None:
            target = targets[key] = routed.get(entity_id, Routing()).members_for_text(values)
        now = (dim1, dim2, dim3, dim4)
        if now == target:
            settled.add(key)
            continue
        changing.add(key)
        for slot in range(4):
            if now[slot] != target[slot]:
                counts[(slot, now[slot], target[slot])] += lines
    if not changing:
        return Moved()
    # The tally says where lines go; the count of lines written says how many moved (each exactly once).
    written = _move(bind, connection_id, [(entity_id, text, *targets[(entity_id, text)])
                                          for entity_id, text in changing],
                    mixed=bool(changing & settled), everything=not settled)
    return Moved(written, _described(bind, workspace_id, counts))


def _tally(bind: Any, connection_id: int) -> list[tuple]:
    """The connection's lines counted per (entity, source_dimensions, dim1..dim4): (those seven, lines)."""
    if bind.dialect.name != "sqlite":
        return bind.execute(select(LedgerLine.entity_id, LedgerLine.source_dimensions, *SLOTS, func.count())
                            .where(LedgerLine.connection_id == connection_id)
                            .group_by(LedgerLine.entity_id, LedgerLine.source_dimensions, *SLOTS)).all()
    places = bind.execute(select(LedgerLine.entity_id, LedgerLine.source_dimensions, *SLOTS).distinct()
                          .where(LedgerLine.connection_id == connection_id)).all()
    if len({place[:2] for place in places}) < len(places):  # some combination's lines sit in two places
        return _tally_line_by_line(bind, connection_id)
    # The whole index, read in its order: about 0.1 s a million lines in the database. With a plain
    # `connection_id =` SQLite sorts the lines it finds for the GROUP BY; the `+` keeps the index's order.
    lines = {(entity_id, values): count for entity_id, values, count in bind.execute(
        text("SELECT entity_id, source_dimensions, count(*) FROM ledger_line INDEXED BY ledger_line_dimensions "
             "WHERE +connection_id = :connection GROUP BY source_dimensions, connection_id, entity_id"),
        {"connection": connection_id})}
    return [(*place, lines[place[:2]]) for place in places]


def _tally_line_by_line(bind: Any, connection_id: int) -> list[tuple]:
    """SQLite's tally when a combination's lines are split between places: one upsert a line."""
    # An upsert finds its row by key, and NULLs never equal each other: an empty slot counts as member 0. The key
    # is a unique index beside a small row (not the row's own key), so each line rewrites only that row's count.
    key = [Column("entity_id", Integer), Column("source_dimensions", String),
           *(Column(f"d{slot}", Integer) for slot in range(1, 5))]
    tally = Table("remap_tally", MetaData(), *key, Column("lines", Integer),
                  UniqueConstraint(*(column.name for column in key)), prefixes=["TEMPORARY"])
    tally.create(bind)
    try:
        bind.execute(sqlite_insert(tally).from_select(
            [column.name for column in tally.c],
            select(LedgerLine.entity_id, LedgerLine.source_dimensions, *(func.coalesce(slot, 0) for slot in SLOTS),
                   literal(1)).where(LedgerLine.connection_id == connection_id))
            .on_conflict_do_update(index_elements=[column.name for column in key],
                                   set_={"lines": tally.c.lines + 1}))
        return [(entity_id, values, *(member or None for member in members), lines)
                for entity_id, values, *members, lines in bind.execute(select(tally))]
    finally:
        tally.drop(bind)


def _move(bind: Any, connection_id: int, places: list[tuple], mixed: bool, everything: bool) -> int:
    """Put the lines of each (entity, source_dimensions, d1..d4) place on its members; returns how many were
    written. `mixed`: some of those combinations also have lines already there, which must not be written again.
    `everything`: every line of the connection moves (the first mapping after a load), so none is picked out."""
    # Keyed by the combination, the members beside the key: finding a line's place is one lookup.
    remap = Table("remap_lines", MetaData(), Column("entity_id", Integer), Column("source_dimensions", String),
                  *(Column(f"d{slot}", Integer) for slot in range(1, 5)),
                  PrimaryKeyConstraint("entity_id", "source_dimensions"), prefixes=["TEMPORARY"],
                  sqlite_with_rowid=False)
    remap.create(bind)
    try:
        bind.execute(insert(remap), [dict(zip(("entity_id", "source_dimensions", "d1", "d2", "d3", "d4"), place,
                                              strict=True)) for place in places])
        line = LedgerLine.__table__.c
        current = [line[column.key] for column in SLOTS]
        targets = (remap.c.d1, remap.c.d2, remap.c.d3, remap.c.d4)
        if bind.dialect.name == "sqlite":
            # SQLite runs UPDATE ... FROM by first storing the whole join; looking each line's place up is cheaper.
            place = select(*targets).where(remap.c.entity_id == line.entity_id,
                                           remap.c.source_dimensions == line.source_dimensions).scalar_subquery()
            statement = update(LedgerLine.__table__).values({tuple_(*current): place}).where(
                line.connection_id == connection_id)
            # With `everything`, no line goes without a place: the UPDATE writes on the tally's snapshot (in WAL mode
            # SQLite refuses to write on a snapshot another connection has since changed).
            if not everything:
                statement = statement.where(tuple_(line.entity_id, line.source_dimensions).in_(
                    select(remap.c.entity_id, remap.c.source_dimensions)))
            if mixed:
                statement = statement.where(tuple_(*current).is_distinct_from(place))
            return bind.execute(statement).rowcount
        return bind.execute(
            update(LedgerLine.__table__)
            .where(line.connection_id == connection_id, line.entity_id == remap.c.entity_id,
                   line.source_dimensions == remap.c.source_dimensions,
                   or_(*(column.is_distinct_from(target) for column, target in zip(current, targets, strict=True))))
            .values({column.key: target for column, target in zip(current, targets, strict=True)})).rowcount
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
