"""The watchdog: a lost message or a killed worker never leaves a request stuck.

A request whose row has not moved for longer than its stage's hard limit (plus a grace
period) gets its stage's task sent again; after TASK_MAX_ATTEMPTS re-sends it fails
(or, for video after the fast path, degrades) with a sentence saying why.
"""

from __future__ import annotations

from datetime import datetime

from db import maintenance as sql
from db.repository import Repository
from pipeline.context import Context
from pipeline.errors import TransientStageError
from pipeline.jobs import MAX_BATCHES_PER_RUN, SWEEP_BATCH_SIZE, JobResult
from pipeline.runner import Dispatch
from pipeline.stages import SPECS
from pipeline.stages.limits import hard_limit
from pipeline.states import STAGE_FOR_STATUS, Status

# Beyond the hard limit, so a task that is just finishing is not re-sent.
GRACE_SECONDS = 30.0
CLARIFICATION_TTL_SECONDS = 24 * 3600.0
# A queued upload is normally taken within seconds; after this its message is presumed lost.
UPLOAD_QUEUED_SECONDS = 10 * 60.0


async def run(ctx: Context, now: datetime) -> JobResult:
    result = JobResult("watchdog", details={"resent": 0, "failed": 0})
    for status, stage in STAGE_FOR_STATUS.items():
        for _ in range(MAX_BATCHES_PER_RUN):
            async with ctx.uow() as s:
                repo = Repository(s)
                stuck = await sql.stuck_requests(
                    s, status, hard_limit(stage) + GRACE_SECONDS, SWEEP_BATCH_SIZE
                )
                for r in stuck:
                    resends = int(r["metadata"].get("watchdog_resends", 0))
                    if resends >= ctx.settings.task_max_attempts:
                        row = await repo.load(r["id"])
                        assert row is not None
                        error = TransientStageError(
                            f"The {stage} stage did not finish after {resends + 1} attempts "
                            "(worker lost or task dropped)."
                        )
                        result.dispatches += await SPECS[stage].fail(
                            repo, ctx, row, error, "watchdog"
                        )
                        result.details["failed"] += 1
                    else:
                        await sql.note_resend(s, r["id"])
                        result.dispatches.append(Dispatch(stage, r["id"]))
                        result.details["resent"] += 1
            if len(stuck) < SWEEP_BATCH_SIZE:
                break
    await _rescue_uploads(ctx, result)
    result.changed = result.details["resent"] + result.details["failed"]
    return result


async def _rescue_uploads(ctx: Context, result: JobResult) -> None:
    """Bulk upload jobs are rows too: re-send the task of one that sat queued (its message
    was lost) or whose run died; the task's claim makes a duplicate harmless."""
    from pipeline.bulk_upload import STALE_CLAIM

    async with ctx.uow() as s:
        ids = await sql.stuck_upload_jobs(
            s, UPLOAD_QUEUED_SECONDS, STALE_CLAIM.total_seconds(), SWEEP_BATCH_SIZE
        )
    result.tasks += [("ops.bulk_upload", job_id) for job_id in ids]
    result.details["resent"] += len(ids)


async def expire_clarifications(ctx: Context, now: datetime) -> JobResult:
    result = JobResult("clarification_expiry")
    for _ in range(MAX_BATCHES_PER_RUN):
        async with ctx.uow() as s:
            repo = Repository(s)
            ids = await sql.expired_clarifications(s, CLARIFICATION_TTL_SECONDS, SWEEP_BATCH_SIZE)
            for request_id in ids:
                await repo.transition(
                    request_id,
                    Status.needs_clarification,
                    Status.failed,
                    error_message="clarification expired",
                    metadata={"failed_stage": "nlu", "error_kind": "clarification_expired"},
                )
            result.changed += len(ids)
        if len(ids) < SWEEP_BATCH_SIZE:
            break
    return result
