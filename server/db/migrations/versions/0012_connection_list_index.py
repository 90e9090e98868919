"""the Connections list's first page by name comes from an index

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL, 1,000 connections: the first 100 by name took a read and a sort of all of them (1.7 ms), and
    # take 0.1 ms from this index (benchmarks/api_load.py). Its leading column replaces the index on workspace_id.
    op.create_index('connection_workspace_name', 'connection', ['workspace_id', 'name', 'id'])
    with op.batch_alter_table('connection') as batch_op:
        batch_op.drop_index('ix_connection_workspace_id')


def downgrade() -> None:
    with op.batch_alter_table('connection') as batch_op:
        batch_op.create_index('ix_connection_workspace_id', ['workspace_id'], unique=False)
    op.drop_index('connection_workspace_name', table_name='connection')
