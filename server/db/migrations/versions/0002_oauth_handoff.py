"""oauth handoff

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:07:59.470836
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_handoff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('start_hash', sa.String(length=64), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=True),
    sa.Column('browser_hash', sa.String(length=64), nullable=True),
    sa.Column('verifier_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('start_hash'),
    sa.UniqueConstraint('state_hash')
    )
    with op.batch_alter_table('oauth_handoff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_handoff_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_handoff_workspace_id'), ['workspace_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('oauth_handoff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_handoff_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_handoff_connection_id'))

    op.drop_table('oauth_handoff')
