"""The companies and ledgers a connection's grant covers, and which of them the user selected."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.orm import Session

from server.connectors import Company, Connector, ProviderError
from server.connectors.framework.http import TokenSource
from server.db.models import Connection, Entity, utcnow

log = logging.getLogger(__name__)


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
        entity.provider_connection_id = company.connection_id
    for provider_entity_id, entity in known.items():
        if provider_entity_id not in listed:
            entity.available = False
    session.flush()


def selected_entities(connection: Connection) -> list[Entity]:
    return [entity for entity in connection.entities if entity.selected and entity.available]


def release_at_provider(connector: Connector, token: TokenSource, entities: Iterable[Entity]) -> list[str]:
    """Remove each company's link to the grant at the provider, where the provider keeps one (it may bill by
    connected company). A released company is no longer offered until a new consent includes it. Returns the
    names of those the provider did not release: their link stays recorded, so a later delete tries again."""
    refused = []
    for entity in entities:
        if not entity.provider_connection_id:
            continue
        try:
            connector.disconnect_company(token, entity.provider_connection_id)
        except ProviderError as error:
            log.warning("entity %s: the provider did not remove its link: %s", entity.id, error)
            refused.append(entity.name)
            continue
        entity.provider_connection_id, entity.available = None, False
    return refused
