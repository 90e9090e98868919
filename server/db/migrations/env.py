"""Alembic runs against the engine the caller hands it (see server.db.engine.upgrade)."""
from alembic import context

from server.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
