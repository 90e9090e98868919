"""SQLite: an index of ledger lines by their provider values, for re-mapping's count

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Re-mapping 1,000,000 lines on SQLite counted them per combination of provider values in 1.0 s, one upsert a
    # line; read in this index's order the count takes 0.1 s (benchmarks/remap.py). PostgreSQL groups by hashing.
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ledger_line_dimensions', 'ledger_line', ['source_dimensions', 'connection_id', 'entity_id'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ledger_line_dimensions', table_name='ledger_line')
