"""content_requests.idempotency_key for safe client retries

Revision ID: 004
Revises: 003
Create Date: 2026-12-01

Deviation from the seed, with its reason: an API service that times out on
submit_request cannot tell whether the row was written, so it retries; without a key the
retry makes a second request for the same question (audit #28). The service sends a key
of its choosing; the same key from the same student returns the first request's id. The
key is unique per student only where given (a partial unique index), so requests
submitted without one are unaffected.
"""

from __future__ import annotations

from alembic import op

revision = "004"
down_revision = "003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE content_requests ADD COLUMN idempotency_key VARCHAR(100)")
    op.execute(
        "CREATE UNIQUE INDEX idx_content_requests_idempotency "
        "ON content_requests(student_id, idempotency_key) WHERE idempotency_key IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_content_requests_idempotency")
    op.execute("ALTER TABLE content_requests DROP COLUMN IF EXISTS idempotency_key")
