"""refresh schedules and the job queue

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SPREAD_SECONDS = 30 * 60  # server.db.models.SCHEDULE_SPREAD_SECONDS when this revision was written


def upgrade() -> None:
    # The unused cron string gives way to structured fields. Connections that exist get the default schedule
    # (daily at 02:00 local) and an offset spread by their id, as new ones draw theirs at random.
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.drop_column('schedule')
        batch_op.add_column(sa.Column('schedule_kind', sa.String(length=20), nullable=False,
                                      server_default='daily'))
        batch_op.add_column(sa.Column('schedule_minute', sa.Integer(), nullable=False, server_default='120'))
        batch_op.add_column(sa.Column('schedule_every_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('schedule_offset_seconds', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('schedule_paused', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('schedule_paused_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('schedule_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('schedule_counted_run_id', sa.Integer(), nullable=True))
    # Knuth's multiplicative hash: consecutive ids land far apart in the window.
    op.execute(f"UPDATE connection SET schedule_offset_seconds = (id * 2654435761) % {SPREAD_SECONDS}")
    with op.batch_alter_table('connection', schema=None) as batch_op:
        for column in ('schedule_kind', 'schedule_minute', 'schedule_offset_seconds', 'schedule_paused',
                       'schedule_paused_reason', 'schedule_failures'):
            batch_op.alter_column(column, server_default=None)

    op.create_table(
        'scheduler_lease',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    # APScheduler 3's SQLAlchemyJobStore table, exactly as the library would create it.
    op.create_table(
        'apscheduler_jobs',
        sa.Column('id', sa.Unicode(length=191), nullable=False),
        sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_apscheduler_jobs_next_run_time', 'apscheduler_jobs', ['next_run_time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_apscheduler_jobs_next_run_time', table_name='apscheduler_jobs')
    op.drop_table('apscheduler_jobs')
    op.drop_table('scheduler_lease')
    with op.batch_alter_table('connection', schema=None) as batch_op:
        for column in ('schedule_counted_run_id', 'schedule_failures', 'schedule_paused_reason', 'schedule_paused',
                       'schedule_offset_seconds', 'schedule_every_hours', 'schedule_minute', 'schedule_kind'):
            batch_op.drop_column(column)
        batch_op.add_column(sa.Column('schedule', sa.String(length=100), nullable=True))
