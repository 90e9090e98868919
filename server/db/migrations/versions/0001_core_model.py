"""core model

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:03:08.586573
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import Amount, UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workspace',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('dimension',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('position BETWEEN 1 AND 4', name='dimension_position_range'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name'),
    sa.UniqueConstraint('workspace_id', 'position')
    )
    with op.batch_alter_table('dimension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dimension_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('user', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'user')
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('connection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_detail', sa.Text(), nullable=False),
    sa.Column('business_account', sa.String(length=320), nullable=False),
    sa.Column('business_account_id', sa.String(length=200), nullable=False),
    sa.Column('credential_status', sa.String(length=16), nullable=False),
    sa.Column('credential_detail', sa.Text(), nullable=False),
    sa.Column('account_status', sa.String(length=16), nullable=False),
    sa.Column('account_detail', sa.Text(), nullable=False),
    sa.Column('setup_fields', sa.JSON(), nullable=False),
    sa.Column('data_types', sa.JSON(), nullable=False),
    sa.Column('token_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_authorized_at', UTCDateTime(), nullable=True),
    sa.Column('last_successful_run_at', UTCDateTime(), nullable=True),
    sa.Column('deleted_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['member.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connection_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('dimension_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dimension_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('is_unmapped', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['dimension_id'], ['dimension.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dimension_id', 'name')
    )
    with op.batch_alter_table('dimension_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dimension_member_dimension_id'), ['dimension_id'], unique=False)

    op.create_table('workspace_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_used_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('workspace_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_key_member_id'), ['member_id'], unique=False)

    op.create_table('entity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('provider_entity_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=True),
    sa.Column('selected', sa.Boolean(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('listed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'provider_entity_id')
    )
    with op.batch_alter_table('entity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entity_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('refresh_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('needs_attention', sa.Boolean(), nullable=False),
    sa.Column('queued_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('counters', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['member.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_run_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('refresh_run_connection_status', ['connection_id', 'status'], unique=False)

    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('source_account_id', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('account_type', sa.String(length=50), nullable=False),
    sa.Column('account_class', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('source_updated_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'source_account_id')
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('log_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('data_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows_inserted', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_deleted', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('endpoints', sa.JSON(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['refresh_run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('log_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_event_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index('log_event_workspace_time', ['workspace_id', 'created_at'], unique=False)

    op.create_table('sync_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('stream', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'entity_id', 'stream')
    )
    op.create_table('ledger_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('source_line_id', sa.String(length=100), nullable=False),
    sa.Column('source_journal_id', sa.String(length=100), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('dim1_member_id', sa.Integer(), nullable=True),
    sa.Column('dim2_member_id', sa.Integer(), nullable=True),
    sa.Column('dim3_member_id', sa.Integer(), nullable=True),
    sa.Column('dim4_member_id', sa.Integer(), nullable=True),
    sa.Column('amount', Amount(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_base', Amount(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('source_updated_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'entity_id', 'source_line_id', name='ledger_line_source_key')
    )
    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.create_index('ledger_line_workspace_period', ['workspace_id', 'period', 'account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.drop_index('ledger_line_workspace_period')

    op.drop_table('ledger_line')
    op.drop_table('sync_cursor')
    with op.batch_alter_table('log_event', schema=None) as batch_op:
        batch_op.drop_index('log_event_workspace_time')
        batch_op.drop_index(batch_op.f('ix_log_event_connection_id'))

    op.drop_table('log_event')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_workspace_id'))

    op.drop_table('account')
    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.drop_index('refresh_run_connection_status')
        batch_op.drop_index(batch_op.f('ix_refresh_run_workspace_id'))

    op.drop_table('refresh_run')
    with op.batch_alter_table('entity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entity_workspace_id'))

    op.drop_table('entity')
    with op.batch_alter_table('workspace_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_key_member_id'))

    op.drop_table('workspace_key')
    with op.batch_alter_table('dimension_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dimension_member_dimension_id'))

    op.drop_table('dimension_member')
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connection_workspace_id'))

    op.drop_table('connection')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_workspace_id'))

    op.drop_table('member')
    with op.batch_alter_table('dimension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dimension_workspace_id'))

    op.drop_table('dimension')
    op.drop_table('workspace')
