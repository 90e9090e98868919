"""The companies and ledgers a connection's grant covers, and which of them the user selected."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from server.connectors import Company
from server.db.models import Connection, Entity, utcnow


def sync_entities(session: Session, connection: Connection, companies: Iterable[Company]) -> None:
    """Bring the entity list in line with what the provider lists now, keeping every selection.
    An entity the provider no longer lists stays (its data stays too) but is marked unavailable."""
    known = {entity.provider_entity_id: entity for entity in connection.entities}
    listed = set()
    now = utcnow()
    for company in companies:
        listed.add(company.provider_entity_id)
        entity = known.get(company.provider_entity_id)
        if entity is None:
            entity = Entity(workspace_id=connection.workspace_id, provider_entity_id=company.provider_entity_id,
                            name=company.name, kind=company.kind)
            connection.entities.append(entity)
        entity.name, entity.kind, entity.available, entity.listed_at = company.name, company.kind, True, now
    for provider_entity_id, entity in known.items():
        if provider_entity_id not in listed:
            entity.available = False
    session.flush()


def selected_entities(connection: Connection) -> list[Entity]:
    return [entity for entity in connection.entities if entity.selected and entity.available]
