"""Small maintenance jobs: expired reset tokens, content statistics, and audit_logs'
yearly partitions made ahead of time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from db.accounts import AccountStore
from db.audit import AuditTrail
from db.content import ContentStore
from db.logs import LogTables
from pipeline.context import Context
from pipeline.jobs.base import MAX_BATCHES_PER_RUN, SWEEP_BATCH_SIZE, JobResult, sweep


async def reset_tokens(ctx: Context, now: datetime) -> JobResult:
    """The seed's hourly cleanup, in batches, with an audit row per batch."""

    async def batch(s: AsyncConnection) -> int:
        cleared = await AccountStore(s).clear_expired_reset_tokens(SWEEP_BATCH_SIZE)
        if cleared:
            await AuditTrail(s).record(
                "maintenance.clear_reset_tokens",
                "user",
                None,
                {"count": len(cleared), "user_ids": cleared},
            )
        return len(cleared)

    return JobResult("reset_tokens", changed=await sweep(ctx, batch))


async def content_stats(ctx: Context, now: datetime) -> JobResult:
    """generated_content.average_rating from feedback ratings and completion_count from
    completed student_progress rows; only changed rows are written."""
    result = JobResult("content_stats")
    after = ""
    for _ in range(MAX_BATCHES_PER_RUN * 10):
        async with ctx.uow() as s:
            updated, last = await ContentStore(s).refresh_stats(after, SWEEP_BATCH_SIZE)
        result.changed += updated
        if last is None:
            break
        after = last
    return result


async def audit_log_partitions(ctx: Context, now: datetime) -> JobResult:
    """This year's and next year's audit_logs partitions exist (migration 006), made
    months before the first row needs them."""
    result = JobResult("audit_log_partitions")
    async with ctx.uow() as s:
        logs = LogTables(s)
        have = set(await logs.audit_years())
        for year in (now.year, now.year + 1):
            if year not in have:
                await logs.add_audit_year(year)
                result.changed += 1
    return result
