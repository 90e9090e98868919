"""stream field types: the provider's other fields kept on lines and accounts, and their overrides (issue 13)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stream_field',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('stream', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=True),
    sa.Column('scale', sa.Integer(), nullable=True),
    sa.Column('samples', sa.JSON(), nullable=False),
    sa.Column('samples_run_id', sa.Integer(), nullable=True),
    sa.Column('samples_at', UTCDateTime(), nullable=True),
    sa.Column('changed_by', sa.String(length=320), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'stream', 'field'),
    )
    op.create_index('ix_stream_field_workspace_id', 'stream_field', ['workspace_id'])
    # A constant default: PostgreSQL and SQLite both add the column without rewriting the ledger.
    op.add_column('ledger_line', sa.Column('source_fields', sa.Text(), nullable=False, server_default=''))
    op.add_column('account', sa.Column('source_fields', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('account') as batch_op:
        batch_op.drop_column('source_fields')
    with op.batch_alter_table('ledger_line') as batch_op:
        batch_op.drop_column('source_fields')
    op.drop_table('stream_field')
