"""Scheduled jobs (SPEC "Scheduled jobs"): plain async functions over the Context.

`run_job` is the one way a job runs: it takes a per-job advisory lock for the whole run
(a second concurrent fire returns `locked` and does nothing), then the job works in
bounded batches, one short transaction each, and returns a count and one summary.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from db.locks import Locks
from pipeline.context import Context
from pipeline.jobs import maintenance, retention, watchdog
from pipeline.jobs.base import MAX_BATCHES_PER_RUN, SWEEP_BATCH_SIZE, JobResult

__all__ = ["JobResult", "MAX_BATCHES_PER_RUN", "SWEEP_BATCH_SIZE", "registry", "run_job"]

log = structlog.get_logger("vividly.jobs")


JobFn = Callable[[Context, datetime], Awaitable[JobResult]]


def registry() -> dict[str, JobFn]:
    return {
        "watchdog": watchdog.run,
        "clarification_expiry": watchdog.expire_clarifications,
        "content_request_retention": retention.content_requests,
        "request_scrub": retention.scrub_student_text,
        "upload_file_retention": retention.upload_files,
        "reset_tokens": maintenance.reset_tokens,
        "feedback_audit_retention": retention.feedback_and_audit_logs,
        "user_retention": retention.users,
        "content_stats": maintenance.content_stats,
        "audit_log_partitions": maintenance.audit_log_partitions,
    }


async def run_job(ctx: Context, name: str, now: datetime | None = None) -> JobResult:
    jobs = registry()
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; jobs: {', '.join(sorted(jobs))}")
    started = time.perf_counter()
    # The lock's session runs in autocommit: it holds a session-level advisory lock, not
    # an open transaction, so the idle-in-transaction timeout does not end it mid-run.
    async with ctx.statements() as lock_session:
        if not await Locks(lock_session).try_job(name):
            log.info("job skipped: another run holds its lock", job=name, outcome="locked")
            return JobResult(name, locked=True)
        try:
            result = await jobs[name](ctx, now or datetime.now(UTC))
        finally:
            await Locks(lock_session).release_job(name)
    log.info(
        "job finished",
        job=name,
        outcome="ok",
        changed=result.changed,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **result.details,
    )
    return result
