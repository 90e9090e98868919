"""account mapping and stream field types (issue 13)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workspace_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('account_class', sa.String(length=50), nullable=False),
    sa.Column('is_unmapped', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_workspace_account_workspace_id', 'workspace_account', ['workspace_id'])

    op.create_table('account_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('code_from', sa.String(length=50), nullable=False),
    sa.Column('code_to', sa.String(length=50), nullable=False),
    sa.Column('prefix', sa.String(length=50), nullable=False),
    sa.Column('workspace_account_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_account_id'], ['workspace_account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id'),
    )
    op.create_index('ix_account_mapping_workspace_id', 'account_mapping', ['workspace_id'])
    op.create_index('ix_account_mapping_connection_id', 'account_mapping', ['connection_id'])
    op.create_index('ix_account_mapping_workspace_account_id', 'account_mapping', ['workspace_account_id'])

    # Existing rows get plain defaults; the models give new rows theirs.
    with op.batch_alter_table('connection') as batch_op:
        batch_op.add_column(sa.Column('new_accounts', sa.String(length=16), nullable=False,
                                      server_default='mirror'))
        batch_op.add_column(sa.Column('new_accounts_account_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('account') as batch_op:
        batch_op.add_column(sa.Column('workspace_account_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('placed_by', sa.String(length=10), nullable=False, server_default=''))
        batch_op.create_foreign_key('account_workspace_account_id_fkey', 'workspace_account',
                                    ['workspace_account_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_account_workspace_account_id', ['workspace_account_id'])

    # Every account already loaded lands somewhere from now on: on a workspace account mirroring it.
    from server.mapping.accounts import place_accounts

    bind = op.get_bind()
    for workspace_id, connection_id in bind.execute(sa.text('SELECT workspace_id, id FROM connection')).all():
        place_accounts(bind, workspace_id, connection_id)


def downgrade() -> None:
    with op.batch_alter_table('account') as batch_op:
        batch_op.drop_index('ix_account_workspace_account_id')
        batch_op.drop_constraint('account_workspace_account_id_fkey', type_='foreignkey')
        batch_op.drop_column('placed_by')
        batch_op.drop_column('workspace_account_id')
    with op.batch_alter_table('connection') as batch_op:
        batch_op.drop_column('new_accounts_account_id')
        batch_op.drop_column('new_accounts')
    op.drop_table('account_mapping')
    op.drop_table('workspace_account')
