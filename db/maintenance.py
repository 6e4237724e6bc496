"""SQL of the scheduled jobs: bounded batches, each a short statement on indexed rows.

Every function touches at most `limit` rows, so no statement locks a large part of a
table; callers loop ("the next batch picks up the rest") and commit between batches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession


def _rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (a CursorResult's rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _job_key(job: str) -> dict[str, str]:
    return {"k": f"vividly-job:{job}"}


async def try_job_lock(session: AsyncSession, job: str) -> bool:
    """A session-level advisory lock per job, held across the job's batches: a second
    concurrent run (another beat host, a manual run) gets False."""
    sql = text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))")
    return bool((await session.execute(sql, _job_key(job))).scalar())


async def release_job_lock(session: AsyncSession, job: str) -> None:
    await session.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), _job_key(job))


async def audit(
    session: AsyncSession,
    action: str,
    resource_type: str,
    resource_id: str | None,
    metadata: dict[str, Any],
) -> None:

    await session.execute(
        text(
            "INSERT INTO audit_logs (user_role, action, resource_type, resource_id, metadata) "
            "VALUES ('vividly_ops', :action, :rtype, :rid, :meta)"
        ).bindparams(bindparam("meta", type_=JSONB)),
        {"action": action, "rtype": resource_type, "rid": resource_id, "meta": metadata},
    )


# ---- watchdog ------------------------------------------------------------------------


async def bound_transaction(session: AsyncSession, lock_ms: int, statement_ms: int) -> None:
    """Tighter limits for one maintenance transaction: a row lock held by someone else
    or a slow statement ends this batch (the next sweep tries again) instead of hanging."""
    await session.execute(text(f"SET LOCAL lock_timeout = {int(lock_ms)}"))
    await session.execute(text(f"SET LOCAL statement_timeout = {int(statement_ms)}"))


async def unattended_requests(
    session: AsyncSession, status: str, lost_after_seconds: float, limit: int
) -> list[dict[str, Any]]:
    """Requests in `status` that nobody is working on and whose task may be lost:

    - `dead_lease`: a claim whose lease ran out without completing or being released
      (its worker died or froze) and that was not dispatched again since;
    - otherwise: no live lease, and the last dispatch and the last claim are both older
      than `lost_after_seconds` (`since` is the later of the two, for the queue check).

    Followers whose leader is still working are waiting, not lost. Rows are locked
    (SKIP LOCKED) so two sweeps never pick the same request."""
    rows = await session.execute(
        text("""
            SELECT r.id, (e.lease_task_id IS NOT NULL
                          AND e.lease_expires_at < clock_timestamp()
                          AND (e.dispatched_at IS NULL
                               OR e.dispatched_at < e.lease_expires_at)) AS dead_lease,
                   extract(epoch FROM greatest(coalesce(e.dispatched_at, r.updated_at),
                                               e.claimed_at)) AS since
            FROM content_requests r
            LEFT JOIN request_execution e ON e.request_id = r.id
            WHERE r.status = CAST(:status AS request_status)
              AND r.deleted_at IS NULL
              AND (e.lease_task_id IS NULL OR e.lease_expires_at < clock_timestamp())
              AND (
                  (e.lease_task_id IS NOT NULL
                   AND (e.dispatched_at IS NULL OR e.dispatched_at < e.lease_expires_at))
                  OR greatest(coalesce(e.dispatched_at, r.updated_at), e.claimed_at)
                     < clock_timestamp() - make_interval(secs => :lost_after)
              )
              AND NOT (
                  r.metadata->>'role' = 'follower' AND EXISTS (
                      SELECT 1 FROM content_requests l
                      WHERE l.id = r.metadata->>'leader_id'
                        AND l.status IN ('generating_script', 'generating_audio',
                                         'fast_path_ready', 'generating_video')
                  )
              )
            ORDER BY coalesce(e.dispatched_at, r.updated_at)
            LIMIT :limit
            FOR UPDATE OF r SKIP LOCKED
        """),
        {"status": status, "lost_after": lost_after_seconds, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def stuck_upload_jobs(
    session: AsyncSession, queued_seconds: float, processing_seconds: float, limit: int
) -> list[str]:
    """Bulk upload jobs whose message was lost (queued, untouched) or whose worker died
    (processing, started long ago); their updated_at is bumped so the next sweep waits."""
    rows = await session.execute(
        text("""
            UPDATE bulk_upload_jobs SET updated_at = now()
            WHERE id IN (
                SELECT id FROM bulk_upload_jobs
                WHERE (status = 'queued'
                       AND updated_at < now() - make_interval(secs => :queued))
                   OR (status = 'processing'
                       AND started_at < now() - make_interval(secs => :processing)
                       AND updated_at < now() - make_interval(secs => :queued))
                ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED
            )
            RETURNING id
        """),
        {"queued": queued_seconds, "processing": processing_seconds, "limit": limit},
    )
    return [r[0] for r in rows]


async def expired_clarifications(
    session: AsyncSession, older_than_seconds: float, limit: int
) -> list[str]:
    rows = await session.execute(
        text("""
            SELECT id FROM content_requests
            WHERE status = 'needs_clarification' AND deleted_at IS NULL
              AND updated_at < now() - make_interval(secs => :age)
            ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED
        """),
        {"age": older_than_seconds, "limit": limit},
    )
    return [r[0] for r in rows]


# ---- retention -----------------------------------------------------------------------


async def finished_requests_before(
    session: AsyncSession, cutoff: datetime, limit: int
) -> list[dict[str, Any]]:
    """Completed/failed, not yet soft-deleted, created before cutoff (uses the 002 index)."""
    rows = await session.execute(
        text("""
            SELECT * FROM content_requests
            WHERE deleted_at IS NULL AND status IN ('completed', 'failed')
              AND created_at < :cutoff
            ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
        """),
        {"cutoff": cutoff, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def soft_delete_requests(session: AsyncSession, ids: list[str]) -> int:
    result = await session.execute(
        text(
            "UPDATE content_requests SET deleted_at = now() "
            "WHERE id = ANY(:ids) AND deleted_at IS NULL"
        ),
        {"ids": ids},
    )
    return _rowcount(result)


# Tables whose old rows the retention job archives and then deletes outright.
HARD_DELETED_TABLES = frozenset({"feedback", "audit_logs"})


def _hard_deleted(table: str) -> str:
    if table not in HARD_DELETED_TABLES:
        raise ValueError(f"{table!r} is not a table retention deletes from")
    return table


async def rows_created_before(
    session: AsyncSession, table: str, cutoff: datetime, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(f"""
            SELECT * FROM {_hard_deleted(table)} WHERE created_at < :cutoff
            ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
        """),
        {"cutoff": cutoff, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def delete_rows(session: AsyncSession, table: str, ids: list[Any]) -> int:
    result = await session.execute(
        text(f"DELETE FROM {_hard_deleted(table)} WHERE id = ANY(:ids)"), {"ids": ids}
    )
    return _rowcount(result)


async def clear_expired_reset_tokens(session: AsyncSession, limit: int) -> list[str]:
    rows = await session.execute(
        text("""
            UPDATE users SET reset_token = NULL, reset_token_expires_at = NULL
            WHERE id IN (
                SELECT id FROM users
                WHERE reset_token_expires_at < now()
                LIMIT :limit FOR UPDATE SKIP LOCKED
            )
            RETURNING id
        """),
        {"limit": limit},
    )
    return [r[0] for r in rows]


# Where an organisation's contract end lives: organizations.metadata->>'contract_end_date'
# (an ISO date). A district's date covers its schools.
ENDED_ORGS = """
    WITH ended AS (
        SELECT id FROM organizations
        WHERE (metadata->>'contract_end_date') IS NOT NULL
          AND (metadata->>'contract_end_date')::date < (now() - make_interval(days => :grace))::date
    )
    SELECT o.id FROM organizations o
    WHERE o.id IN (SELECT id FROM ended) OR o.parent_id IN (SELECT id FROM ended)
"""


async def users_of_ended_contracts(
    session: AsyncSession, grace_days: int, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(f"""
            SELECT id, role::text AS role, org_id FROM users
            WHERE org_id IN ({ENDED_ORGS})
            ORDER BY (role = 'student') DESC, id
            LIMIT :limit FOR UPDATE SKIP LOCKED
        """),
        {"grace": grace_days, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def delete_classes_of_teachers(session: AsyncSession, teacher_ids: list[str]) -> int:
    """classes.teacher_id is ON DELETE RESTRICT: a teacher's classes go first (their
    enrolments and account requests cascade)."""
    result = await session.execute(
        text("DELETE FROM classes WHERE teacher_id = ANY(:ids)"), {"ids": teacher_ids}
    )
    return _rowcount(result)


async def delete_users(session: AsyncSession, ids: list[str]) -> int:
    result = await session.execute(text("DELETE FROM users WHERE id = ANY(:ids)"), {"ids": ids})
    return _rowcount(result)


async def refresh_content_stats(
    session: AsyncSession, after_id: str, limit: int
) -> tuple[int, str | None]:
    """Recompute average_rating and completion_count for the next `limit` contents by id;
    only rows whose figures changed are written. Returns (rows updated, last id seen)."""
    ids = [
        r[0]
        for r in await session.execute(
            text("SELECT id FROM generated_content WHERE id > :after ORDER BY id LIMIT :limit"),
            {"after": after_id, "limit": limit},
        )
    ]
    if not ids:
        return 0, None
    result = await session.execute(
        text("""
            UPDATE generated_content gc
            SET average_rating = s.avg_rating, completion_count = s.completions
            FROM (
                SELECT g.id,
                       (SELECT round(avg(f.rating)::numeric, 2) FROM feedback f
                        WHERE f.content_id = g.id AND f.rating IS NOT NULL) AS avg_rating,
                       (SELECT count(*) FROM student_progress p
                        WHERE p.content_id = g.id AND p.status = 'completed')::int AS completions
                FROM generated_content g WHERE g.id = ANY(:ids)
            ) s
            WHERE gc.id = s.id
              AND (gc.average_rating IS DISTINCT FROM s.avg_rating
                   OR gc.completion_count IS DISTINCT FROM s.completions)
        """),
        {"ids": ids},
    )
    return _rowcount(result), ids[-1]


# ---- failures for ops ----------------------------------------------------------------


async def failed_requests(
    session: AsyncSession, stage: str | None, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """Failed requests, newest first: ids, stage, error kind and message (no query text)."""
    rows = await session.execute(
        text("""
            SELECT id, metadata->>'failed_stage' AS stage, metadata->>'error_kind' AS kind,
                   error_message, retry_count, updated_at
            FROM content_requests
            WHERE status = 'failed' AND deleted_at IS NULL
              AND (CAST(:stage AS text) IS NULL OR metadata->>'failed_stage' = :stage)
              AND (CAST(:since AS timestamptz) IS NULL OR updated_at >= :since)
            ORDER BY updated_at DESC LIMIT :limit
        """),
        {"stage": stage, "since": since, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]
