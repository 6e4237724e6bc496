"""Retention that really deletes: uploaded files and soft-deleted requests' student text

Revision ID: 005
Revises: 004
Create Date: 2026-12-01

Deviations from the seed, with their reasons (audit #9):
- bulk_upload_jobs.file_deleted_at: an uploaded CSV holds students' names and e-mails;
  it is deleted from storage once its job has ended (after UPLOAD_FILE_RETENTION_DAYS),
  and this column records that it was, so the sweep that deletes them visits each job
  once. A partial index keeps that sweep to the jobs whose file is still there.
- idx_content_requests_scrub: soft-deleted requests lose their query and clarification
  text after a grace period; the sweep that scrubs them reads this partial index, which
  holds only the soft-deleted rows not yet scrubbed.
"""

from __future__ import annotations

from alembic import op

revision = "005"
down_revision = "004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE bulk_upload_jobs ADD COLUMN file_deleted_at TIMESTAMP WITH TIME ZONE")
    op.execute(
        "CREATE INDEX idx_bulk_upload_jobs_file_kept ON bulk_upload_jobs(completed_at) "
        "WHERE file_deleted_at IS NULL AND status IN ('completed', 'failed')"
    )
    op.execute(
        "CREATE INDEX idx_content_requests_scrub ON content_requests(deleted_at) "
        "WHERE deleted_at IS NOT NULL AND NOT (metadata ? 'scrubbed_at')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_content_requests_scrub")
    op.execute("DROP INDEX IF EXISTS idx_bulk_upload_jobs_file_kept")
    op.execute("ALTER TABLE bulk_upload_jobs DROP COLUMN IF EXISTS file_deleted_at")
