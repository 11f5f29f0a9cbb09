"""The state database as it stood when migrations began (2026-12-02): every table, column and index.

A database made before then by `metadata.create_all` is recognised and stamped with this revision
when it matches (`StateStore.migrate`); later changes are later revisions.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('acknowledgements',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=100), nullable=False),
    sa.Column('acknowledged_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref', 'reason')
    )
    op.create_table('caseload_rows',
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('snapshot_date', sa.Date(), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('referral_ref', sa.String(length=80), nullable=True),
    sa.Column('pnc_id', sa.String(length=20), nullable=True),
    sa.Column('forename', sa.String(length=100), nullable=True),
    sa.Column('surname', sa.String(length=100), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('gender', sa.String(length=10), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('referral_received', sa.Date(), nullable=True),
    sa.Column('first_contact', sa.Date(), nullable=True),
    sa.Column('assessment_date', sa.Date(), nullable=True),
    sa.Column('sessions_offered', sa.Integer(), nullable=True),
    sa.Column('sessions_attended', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_date', sa.Date(), nullable=True),
    sa.Column('source_file', sa.String(length=255), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('yot_id', 'snapshot_date', 'case_id')
    )
    op.create_table('caseload_snapshots',
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('snapshot_date', sa.Date(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('yot_id', 'snapshot_date')
    )
    op.create_table('check_results',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('check', sa.String(length=300), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'source', 'field', 'check')
    )
    op.create_table('eligibility_decisions',
    sa.Column('stop_ref', sa.String(length=64), nullable=False),
    sa.Column('eligible', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=50), nullable=False),
    sa.Column('rule_version', sa.String(length=30), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('stop_ref')
    )
    op.create_table('engagement',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('non_engagement_reason', sa.String(length=30), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('yot_case_id', sa.String(length=64), nullable=True),
    sa.Column('yot_status', sa.String(length=20), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('crime_outcome', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref')
    )
    op.create_table('escalation_history',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref', 'reason', 'night', 'to_state')
    )
    op.create_table('escalations',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('opened_night', sa.Date(), nullable=False),
    sa.Column('notified_night', sa.Date(), nullable=True),
    sa.Column('resolved_night', sa.Date(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref', 'reason')
    )
    op.create_table('file_events',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('logged_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'yot_id', 'file_name', 'event')
    )
    op.create_table('match_reviews',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref', 'yot_id', 'case_id')
    )
    op.create_table('matches',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref', 'yot_id', 'case_id')
    )
    op.create_table('processed_files',
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mtime', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('yot_id', 'file_name', 'sha256')
    )
    op.create_table('processing_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('logged_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('quarantine',
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('source_key', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('first_run_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('source', 'source_key')
    )
    op.create_table('quarantine_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('source_key', sa.String(length=300), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('corrected_fields', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('referral_exports',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref')
    )
    op.create_table('referral_uploads',
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('yot_id', 'night')
    )
    op.create_table('referrals',
    sa.Column('referral_ref', sa.String(length=80), nullable=False),
    sa.Column('stop_ref', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('yot_id', sa.String(length=50), nullable=False),
    sa.Column('area', sa.String(length=100), nullable=False),
    sa.Column('referral_date', sa.Date(), nullable=False),
    sa.Column('previous_referral_ref', sa.String(length=80), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('referral_ref'),
    sa.UniqueConstraint('stop_ref')
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_person_id'), ['person_id'], unique=False)

    op.create_table('report_dispatches',
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('group_id', sa.String(length=50), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('report_path', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.PrimaryKeyConstraint('night', 'group_id')
    )
    op.create_table('run_counts',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('metric', sa.String(length=50), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'step', 'source', 'metric')
    )
    op.create_table('run_steps',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'step')
    )
    op.create_table('runs',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('night', sa.Date(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_type', sa.String(length=20), server_default='scheduled', nullable=False),
    sa.Column('digest_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('run_id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_night'), ['night'], unique=False)

    op.create_table('stops',
    sa.Column('stop_ref', sa.String(length=64), nullable=False),
    sa.Column('stop_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('area', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('pnc_id', sa.String(length=20), nullable=True),
    sa.Column('forename', sa.String(length=100), nullable=True),
    sa.Column('surname', sa.String(length=100), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('gender', sa.String(length=10), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('object_of_search', sa.String(length=100), nullable=True),
    sa.Column('drug_name', sa.String(length=50), nullable=True),
    sa.Column('drug_class', sa.String(length=1), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=True),
    sa.Column('quantity_unit', sa.String(length=20), nullable=True),
    sa.Column('offence', sa.String(length=30), nullable=True),
    sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('stop_ref')
    )
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stops_person_id'), ['person_id'], unique=False)

    op.create_table('watermarks',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:

    op.drop_table('watermarks')
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stops_person_id'))

    op.drop_table('stops')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_night'))

    op.drop_table('runs')
    op.drop_table('run_steps')
    op.drop_table('run_counts')
    op.drop_table('report_dispatches')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_person_id'))

    op.drop_table('referrals')
    op.drop_table('referral_uploads')
    op.drop_table('referral_exports')
    op.drop_table('quarantine_decisions')
    op.drop_table('quarantine')
    op.drop_table('processing_log')
    op.drop_table('processed_files')
    op.drop_table('matches')
    op.drop_table('match_reviews')
    op.drop_table('file_events')
    op.drop_table('escalations')
    op.drop_table('escalation_history')
    op.drop_table('engagement')
    op.drop_table('eligibility_decisions')
    op.drop_table('check_results')
    op.drop_table('caseload_snapshots')
    op.drop_table('caseload_rows')
    op.drop_table('acknowledgements')
