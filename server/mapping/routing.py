"""Where a line's provider dimension values land: one workspace member per dimension slot (dim1..dim4).

One `Routing` per entity answers for a combination of provider values, whether it comes from a line being
pulled (records.DimensionValue) or from the raw text a loaded line keeps ("dimensionId=memberId;..."), so the
refresh, the re-application of a saved mapping and its preview all place a line in the same place.

A provider dimension with no mapping leaves its slot alone; a mapped one puts its member's row's workspace
member in the slot, or, for a member no row maps, the dimension's rule member (the chosen member, or the
slot's Unmapped member). Nothing is ever dropped.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from server.db.models import (
    MAX_DIMENSIONS,
    Dimension,
    DimensionMapping,
    DimensionMember,
    MemberMapping,
    SourceDimension,
    SourceDimensionOption,
)

Members = tuple[int | None, int | None, int | None, int | None]


@dataclass(frozen=True)
class Routing:
    unmapped: Members = (None, None, None, None)  # each slot's Unmapped member (None: slot not in use)
    slots: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # provider dimension id -> slot, fallback
    members: dict[tuple[str, str], int] = field(default_factory=dict)  # (dimension id, member id) -> member

    def members_for(self, pairs: Iterable[tuple[Any, Any]]) -> Members:
        """The workspace members of a line tagged with these (provider dimension id, provider member id)."""
        out = list(self.unmapped)
        for dimension_id, member_id in pairs:
            routed = self.slots.get(dimension_id)
            if routed is not None:
                slot, fallback = routed
                out[slot] = self.members.get((dimension_id, member_id), fallback)
        return tuple(out)  # type: ignore[return-value]

    def members_for_text(self, text: str) -> Members:
        """The same, for the raw values a loaded line keeps (`source_dimensions`)."""
        return self.members_for(pair.split("=", 1) for pair in text.split(";") if "=" in pair)


def unmapped_members(db: Any, workspace_id: int) -> Members:
    """The "Unmapped" member id of each dimension slot 1-4 of the workspace (None for a slot not in use)."""
    found = dict(db.execute(
        select(Dimension.position, DimensionMember.id).join(DimensionMember)
        .where(Dimension.workspace_id == workspace_id, DimensionMember.is_unmapped)).all())
    return tuple(found.get(slot) for slot in range(1, MAX_DIMENSIONS + 1))  # type: ignore[return-value]


def load_routing(db: Any, workspace_id: int, entity_id: int) -> Routing:
    """The entity's routing as saved now. `db`: a Session or a Core connection."""
    unmapped = unmapped_members(db, workspace_id)
    slots: dict[str, tuple[int, int | None]] = {}
    for source_id, position, rule, fallback in db.execute(
            select(SourceDimension.source_dimension_id, Dimension.position, DimensionMapping.new_members,
                   DimensionMapping.fallback_member_id)
            .join(DimensionMapping, DimensionMapping.source_dimension_id == SourceDimension.id)
            .join(Dimension, Dimension.id == DimensionMapping.dimension_id)
            .where(SourceDimension.entity_id == entity_id)):
        slot = position - 1
        slots[source_id] = (slot, fallback if rule == "member" and fallback else unmapped[slot])
    members = {(dimension_id, option_id): member_id for dimension_id, option_id, member_id in db.execute(
        select(SourceDimension.source_dimension_id, SourceDimensionOption.source_option_id, MemberMapping.member_id)
        .join(SourceDimensionOption, SourceDimensionOption.source_dimension_id == SourceDimension.id)
        .join(MemberMapping, MemberMapping.source_option_id == SourceDimensionOption.id)
        .join(DimensionMapping, DimensionMapping.source_dimension_id == SourceDimension.id)
        .join(DimensionMember, DimensionMember.id == MemberMapping.member_id)
        .where(SourceDimension.entity_id == entity_id, DimensionMember.dimension_id == DimensionMapping.dimension_id))}
    return Routing(unmapped, slots, members)
