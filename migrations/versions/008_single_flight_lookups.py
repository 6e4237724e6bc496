"""index the single-flight lookups: in-flight leaders by cache key, followers by leader

Revision ID: 008
Revises: 007
Create Date: 2026-12-07

Deviation from the seed, with its reason: every cache miss looks up the request already
generating its cache key (single flight, SPEC rule 8), under that key's lock, and every
outcome of a leader someone followed looks up its followers. Both match on keys inside
`metadata`, which no seed index covers: the leader lookup went through the status index
and read every request in a generating status, so it grew with the backlog (1.3 ms with
3,300 generating requests beside 200,000 finished ones, against 0.09 ms by this index,
EXPLAIN ANALYZE on this machine, 2026-12-07), and the follower lookup read every
unfinished request. Both indexes are partial: only leaders while they generate, and only
followers, are in them, so they stay small and cost nothing to other rows.

The predicates repeat the WHERE of the statements they serve (db/requests.py
_INFLIGHT_LEADER, _FOLLOWERS) so the planner can use them. On a large live table, build
them first with CREATE INDEX CONCURRENTLY under the same names: this migration then
leaves them as they are.
"""

from __future__ import annotations

from alembic import op

revision = "008"
down_revision = "007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS idx_content_requests_inflight_leader "
        "ON content_requests ((metadata->>'cache_key')) "
        "WHERE metadata->>'role' = 'leader' AND deleted_at IS NULL AND status IN "
        "('generating_script', 'generating_audio', 'fast_path_ready', 'generating_video')"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS idx_content_requests_followers "
        "ON content_requests ((metadata->>'leader_id')) "
        "WHERE metadata->>'role' = 'follower'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_content_requests_followers")
    op.execute("DROP INDEX IF EXISTS idx_content_requests_inflight_leader")
