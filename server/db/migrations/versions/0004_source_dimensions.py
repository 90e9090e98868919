"""ledger lines keep the source's dimension values under a provider-neutral name

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite 3.25+ and PostgreSQL both rename a column in place, without copying the table.
    op.alter_column('ledger_line', 'source_tracking', new_column_name='source_dimensions')


def downgrade() -> None:
    op.alter_column('ledger_line', 'source_dimensions', new_column_name='source_tracking')
