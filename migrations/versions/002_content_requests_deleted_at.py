"""content_requests.deleted_at for retention

Revision ID: 002
Revises: 001
Create Date: 2026-11-27

Deviation from the seed, with its reason: the seed's own daily cleanup
(`UPDATE content_requests SET deleted_at = NOW() WHERE created_at < NOW() - INTERVAL
'90 days' AND status IN ('completed', 'failed') AND deleted_at IS NULL`) writes a column
that the seed's content_requests table does not have. This adds it, plus a partial index
that matches exactly that WHERE clause so the retention job scans only live, finished rows.
"""

from __future__ import annotations

from alembic import op

revision = "002"
down_revision = "001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE content_requests ADD COLUMN deleted_at TIMESTAMP WITH TIME ZONE")
    op.execute(
        "CREATE INDEX idx_content_requests_retention ON content_requests(created_at) "
        "WHERE deleted_at IS NULL AND status IN ('completed', 'failed')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_content_requests_retention")
    op.execute("ALTER TABLE content_requests DROP COLUMN IF EXISTS deleted_at")
