"""A connection's stored tokens, read and aged through the vault as the service keeps them."""
from __future__ import annotations

import time

from server.db.models import Connection


def vault_of(app):
    return app.extensions["ledgerpane"].vault


def expire_access_token(app, db, connection_id: int) -> dict:
    """Make the stored access token look expired; returns the token set as it was."""
    vault = vault_of(app)
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        token = vault.credential(connection)
        vault.store(connection, {**token, "expires_at": int(time.time()) - 1})
    return token


def stored_token(app, db, connection_id: int) -> tuple[dict, int]:
    with db.sessions() as session:
        connection = session.get(Connection, connection_id)
        return vault_of(app).credential(connection), connection.token_version
