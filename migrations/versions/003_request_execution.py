"""request_execution: the runner's execution state, in columns

Revision ID: 003
Revises: 002
Create Date: 2026-12-01

Deviation from the seed, with its reason: the seed's content_requests has no place for
what makes execution durable (who holds the work lease and until when, by the database
clock; how many times the current stage was claimed, how many of those claims died and
how many attempts failed; when the stage's task was last dispatched). Kept until now in
the JSONB `metadata` bag, that state could not be indexed, was compared against worker
clocks, and every claim rewrote the request row (firing its updated_at trigger, which hid
a crash-looping request from the watchdog). A side table keyed by request id leaves the
seed's content_requests exactly as the seed wrote it; it goes with its request (CASCADE).
"""

from __future__ import annotations

from alembic import op

revision = "003"
down_revision = "002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE request_execution (
            request_id VARCHAR(50) PRIMARY KEY
                REFERENCES content_requests(id) ON DELETE CASCADE,
            stage VARCHAR(20),
            lease_task_id VARCHAR(255),
            lease_try INTEGER,
            lease_expires_at TIMESTAMP WITH TIME ZONE,
            heartbeat_at TIMESTAMP WITH TIME ZONE,
            claimed_at TIMESTAMP WITH TIME ZONE,
            dispatched_at TIMESTAMP WITH TIME ZONE,
            deliveries INTEGER NOT NULL DEFAULT 0,
            crashes INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0
        )
    """)
    op.execute(
        "CREATE INDEX idx_request_execution_lease ON request_execution(lease_expires_at) "
        "WHERE lease_task_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS request_execution")
