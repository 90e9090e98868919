"""workspace dimensions, mappings and field types

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows get plain defaults; the models give new rows theirs.
    op.add_column('dimension', sa.Column('display_order', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('connection', sa.Column('mapping_review', sa.Text(), nullable=False, server_default=''))
    op.add_column('connection', sa.Column('unmapped', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    op.create_table('dimension_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('source_dimension_id', sa.Integer(), nullable=False),
    sa.Column('dimension_id', sa.Integer(), nullable=False),
    sa.Column('new_members', sa.String(length=16), nullable=False),
    sa.Column('fallback_member_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_dimension_id'], ['source_dimension.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dimension_id'], ['dimension.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fallback_member_id'], ['dimension_member.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_dimension_id'),
    )
    op.create_index('ix_dimension_mapping_workspace_id', 'dimension_mapping', ['workspace_id'])
    op.create_index('ix_dimension_mapping_connection_id', 'dimension_mapping', ['connection_id'])
    op.create_index('ix_dimension_mapping_dimension_id', 'dimension_mapping', ['dimension_id'])

    op.create_table('member_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('source_option_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('by_rule', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_option_id'], ['source_dimension_option.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['dimension_member.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_option_id'),
    )
    op.create_index('ix_member_mapping_connection_id', 'member_mapping', ['connection_id'])
    op.create_index('ix_member_mapping_member_id', 'member_mapping', ['member_id'])

    op.create_table('mapping_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('user', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('mapping_change_workspace_time', 'mapping_change', ['workspace_id', 'created_at'])
    op.create_index('ix_mapping_change_connection_id', 'mapping_change', ['connection_id'])


def downgrade() -> None:
    op.drop_table('mapping_change')
    op.drop_table('member_mapping')
    op.drop_table('dimension_mapping')
    with op.batch_alter_table('connection') as batch_op:
        batch_op.drop_column('unmapped')
        batch_op.drop_column('mapping_review')
    with op.batch_alter_table('dimension') as batch_op:
        batch_op.drop_column('display_order')
