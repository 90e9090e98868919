"""the Connections list's 30-day sums read the log's index alone

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The list sums rows inserted and updated over each connection's last 30 days of log: with those two in the
    # index the sum never visits the table (PostgreSQL, 100,000 events: 10-40 ms -> 0.7 ms; benchmarks/api_load.py).
    # The index on connection_id alone is the leading column of this one: dropped.
    op.drop_index('log_event_connection_time', table_name='log_event')
    op.create_index('log_event_connection_time', 'log_event',
                    ['connection_id', 'created_at', 'rows_inserted', 'rows_updated'])
    with op.batch_alter_table('log_event') as batch_op:
        batch_op.drop_index('ix_log_event_connection_id')


def downgrade() -> None:
    with op.batch_alter_table('log_event') as batch_op:
        batch_op.create_index('ix_log_event_connection_id', ['connection_id'], unique=False)
    op.drop_index('log_event_connection_time', table_name='log_event')
    op.create_index('log_event_connection_time', 'log_event', ['connection_id', 'created_at'])
