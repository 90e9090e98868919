"""indexes for the Connections list and the integration log under load

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # benchmarks/api_load.py (1,000 connections, 100,000 log events): the list counted each page's accounts and
    # found its last runs by scanning whole tables, and the log's status filter read the workspace's whole log.
    op.create_index('account_connection', 'account', ['connection_id'])
    op.create_index('refresh_run_connection_newest', 'refresh_run', ['connection_id', 'id'])
    op.create_index('log_event_connection_time', 'log_event', ['connection_id', 'created_at'])
    op.create_index('log_event_workspace_status_time', 'log_event', ['workspace_id', 'status', 'created_at'])


def downgrade() -> None:
    op.drop_index('log_event_workspace_status_time', table_name='log_event')
    op.drop_index('log_event_connection_time', table_name='log_event')
    op.drop_index('refresh_run_connection_newest', table_name='refresh_run')
    op.drop_index('account_connection', table_name='account')
