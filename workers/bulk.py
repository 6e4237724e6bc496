"""Ops tasks behind API services: bulk CSV uploads and feedback-driven regeneration.

A few lines each around pipeline/; arguments are ids only. Transient failures (storage
or database unavailable) are retried with the stage tasks' backoff, TASK_MAX_ATTEMPTS
attempts in all; anything else ends on the row (the upload job's `failed` status).
"""

from __future__ import annotations

import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline import regeneration, review
from pipeline.api import PipelineAPI
from pipeline.errors import TransientStageError
from pipeline.uploads.importer import TIME_BUDGET_SECONDS, fail_upload, process_upload
from workers.client import enqueue
from workers.policy import retry_policy, vividly_task
from workers.runtime import get_runtime

log = structlog.get_logger("vividly.bulk")

# Above the run's own TIME_BUDGET_SECONDS (480 s), so it stops itself between batches
# first, and below uploads.importer.STALE_CLAIM (15 min), so a live run is never taken over.
BULK_SOFT_TIME_LIMIT_SECONDS = TIME_BUDGET_SECONDS + 60
BULK_TIME_LIMIT_SECONDS = TIME_BUDGET_SECONDS + 120
# One locked read and one insert.
REGENERATE_SOFT_TIME_LIMIT_SECONDS = 25
REGENERATE_TIME_LIMIT_SECONDS = 30


def _retry_delay(task: Task) -> float:
    return retry_policy(get_runtime().context.settings).backoff_seconds(task.request.retries + 1)


def _attempts_left(task: Task) -> bool:
    return int(task.request.retries) + 1 < get_runtime().context.settings.task_max_attempts


@vividly_task(
    "ops.bulk_upload",
    soft_time_limit=BULK_SOFT_TIME_LIMIT_SECONDS,
    time_limit=BULK_TIME_LIMIT_SECONDS,
)
def bulk_upload(self: Task, job_id: str) -> None:
    rt = get_runtime()
    ctx = rt.context
    try:
        result = rt.run(
            process_upload(
                ctx.engine,
                ctx.providers.storage,
                job_id,
                delete_file_when_ended=ctx.settings.upload_file_retention_days == 0,
            )
        )
    except TransientStageError as e:
        if not _attempts_left(self):
            rt.run(fail_upload(ctx.engine, job_id, f"{e}; gave up after several attempts"))
            return
        delay = _retry_delay(self)
        log.info("bulk upload retry scheduled", job_id=job_id, countdown_s=round(delay, 2))
        raise self.retry(countdown=delay) from None
    except SoftTimeLimitExceeded:
        rt.run(
            fail_upload(
                ctx.engine,
                job_id,
                f"the import was stopped after {BULK_SOFT_TIME_LIMIT_SECONDS:.0f} s; rows "
                "imported so far are kept",
            )
        )
        return
    if result.recheck_after_seconds is not None:
        # Another run holds the job. If that run dies (a killed worker's message comes
        # back at once, while its claim is fresh), look again once the claim is stale.
        raise self.retry(countdown=result.recheck_after_seconds)


@vividly_task(
    "ops.regenerate_from_feedback",
    soft_time_limit=REGENERATE_SOFT_TIME_LIMIT_SECONDS,
    time_limit=REGENERATE_TIME_LIMIT_SECONDS,
)
def regenerate_from_feedback(self: Task, feedback_id: str) -> str | None:
    """What a feedback asks for: a report counts towards the lesson's review (and may flag
    it); "make it simpler" and "try a different interest" make a new request."""
    rt = get_runtime()
    ctx = rt.context
    api = PipelineAPI(ctx.engine, enqueue, ctx.providers.storage, ctx.settings.max_query_chars)
    try:
        rt.run(review.note_feedback(ctx.engine, feedback_id, ctx.settings.review_reports_to_flag))
        return rt.run(regeneration.regenerate_from_feedback(ctx.engine, api, feedback_id))
    except TransientStageError:
        if not _attempts_left(self):
            log.error("regeneration gave up", feedback_id=feedback_id, outcome="failed")
            return None
        raise self.retry(countdown=_retry_delay(self)) from None
