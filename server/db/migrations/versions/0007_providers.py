"""provider connections (call counts, environments)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Calls made to the provider this month (metered providers), and the provider's id of each company's link.
    op.add_column('connection', sa.Column('provider_calls_month', sa.String(length=7), nullable=False,
                                          server_default=''))
    op.add_column('connection', sa.Column('provider_calls', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('entity', sa.Column('provider_connection_id', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('entity') as batch:
        batch.drop_column('provider_connection_id')
    with op.batch_alter_table('connection') as batch:
        batch.drop_column('provider_calls')
        batch.drop_column('provider_calls_month')
