"""refresh pipeline tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:19:25.658442
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import Amount, UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_dimension',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('source_dimension_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'source_dimension_id')
    )
    with op.batch_alter_table('source_dimension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_dimension_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('trial_balance_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('source_account_id', sa.String(length=200), nullable=False),
    sa.Column('account_code', sa.String(length=50), nullable=False),
    sa.Column('account_name', sa.String(length=300), nullable=False),
    sa.Column('debit', Amount(), nullable=False),
    sa.Column('credit', Amount(), nullable=False),
    sa.Column('ytd_net', Amount(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['refresh_run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'period', 'source_account_id')
    )
    with op.batch_alter_table('trial_balance_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trial_balance_line_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('source_dimension_option',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_dimension_id', sa.Integer(), nullable=False),
    sa.Column('source_option_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['source_dimension_id'], ['source_dimension.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_dimension_id', 'source_option_id')
    )
    with op.batch_alter_table('entity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currencies', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('year_end_month', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('year_end_day', sa.Integer(), nullable=True))

    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_tracking', sa.Text(), nullable=False, server_default=''))

    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('streams', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('worker', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('heartbeat_at', UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('worker')
        batch_op.drop_column('since')
        batch_op.drop_column('streams')

    with op.batch_alter_table('ledger_line', schema=None) as batch_op:
        batch_op.drop_column('source_tracking')

    with op.batch_alter_table('entity', schema=None) as batch_op:
        batch_op.drop_column('year_end_day')
        batch_op.drop_column('year_end_month')
        batch_op.drop_column('currencies')

    op.drop_table('source_dimension_option')
    with op.batch_alter_table('trial_balance_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trial_balance_line_workspace_id'))

    op.drop_table('trial_balance_line')
    with op.batch_alter_table('source_dimension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_dimension_workspace_id'))

    op.drop_table('source_dimension')
