"""The watchdog: tells a lost request from a waiting one, and dispatches only the lost.

A request is worked on while a worker holds its lease (renewed every few seconds). It is
re-dispatched when

- its lease ran out without the claim completing or letting go: the worker died or
  froze. At once, whatever the stage's hard limit; the next claim counts the crash;
- or its task was sent longer ago than WATCHDOG_LOST_AFTER_SECONDS, nobody claimed it
  since, and its stage's queue holds no message at least as old: the message is gone
  (a Redis restart, a crash between commit and send).

A re-dispatch is not an attempt, and the watchdog never fails or degrades a request:
only a claim can (poison cap, attempts used up). A request that only waited — behind a
backlog, or for a paused worker — is therefore never failed for it.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from db.locks import Locks
from db.requests import RequestStore
from db.uploads import UploadStore
from pipeline import request_meta as M
from pipeline.context import Context
from pipeline.dispatch import Dispatch
from pipeline.jobs.base import SWEEP_BATCH_SIZE, JobResult, sweep
from pipeline.states import STAGE_FOR_STATUS, Stage, Status

log = structlog.get_logger("vividly.watchdog")

CLARIFICATION_TTL_SECONDS = 24 * 3600.0
# A queued upload is normally taken within seconds; after this its message is presumed lost.
UPLOAD_QUEUED_SECONDS = 10 * 60.0
# One sweep's transaction waits this long for a row lock or a statement, then gives up
# on that batch (the next sweep tries again).
SWEEP_LOCK_TIMEOUT_MS = 2_000
SWEEP_STATEMENT_TIMEOUT_MS = 15_000
# The broker could not be read: messages may be waiting there, so presume nothing lost.
_QUEUE_UNKNOWN = float("-inf")


async def run(ctx: Context, now: datetime) -> JobResult:
    result = JobResult("watchdog", details={"dead_lease": 0, "lost": 0, "waiting": 0})
    oldest: dict[Stage, float | None] = {}
    decided: list[Dispatch] = []

    def send_decided() -> None:
        # Sent right after the batch that decided them commits, not at the end of the
        # run: a run that fails later has lost nothing it already decided.
        if ctx.enqueue is not None:
            ctx.enqueue(decided)
        else:
            result.dispatches += decided
        result.changed += len(decided)
        decided.clear()

    for status, stage in STAGE_FOR_STATUS.items():

        async def batch(s: AsyncConnection, status: Status = status, stage: Stage = stage) -> int:
            await Locks(s).bound_transaction(SWEEP_LOCK_TIMEOUT_MS, SWEEP_STATEMENT_TIMEOUT_MS)
            requests = RequestStore(s)
            rows = await requests.unattended(
                status, ctx.settings.watchdog_lost_after_seconds, SWEEP_BATCH_SIZE
            )
            for r in rows:
                if r["dead_lease"]:
                    result.details["dead_lease"] += 1
                else:
                    if stage not in oldest:
                        oldest[stage] = _oldest_waiting(ctx, stage)
                    queued = oldest[stage]
                    if queued is not None and queued <= float(r["since"]):
                        result.details["waiting"] += 1  # its message is still queued
                        continue
                    result.details["lost"] += 1
                await requests.note_dispatched(r["id"], stage)
                decided.append(Dispatch(stage, r["id"]))
            # Rows left waiting would be selected again: a full batch of dispatches is
            # what says there may be more.
            return len(decided)

        await sweep(ctx, batch, committed=send_decided)
    if result.changed:
        log.info("requests re-dispatched", job="watchdog", **result.details)
    await _rescue_uploads(ctx, result)
    return result


def _oldest_waiting(ctx: Context, stage: Stage) -> float | None:
    if ctx.queues is None:
        return None
    try:
        return ctx.queues.oldest_sent_at(stage)
    except Exception as e:
        log.warning("watchdog: queue unreadable", stage=str(stage), error_type=type(e).__name__)
        return _QUEUE_UNKNOWN


async def _rescue_uploads(ctx: Context, result: JobResult) -> None:
    """Bulk upload jobs are rows too: re-send the task of one that sat queued (its message
    was lost) or whose run died; the task's claim makes a duplicate harmless."""
    from pipeline.uploads.importer import STALE_CLAIM

    async with ctx.uow() as s:
        ids = await UploadStore(s).stuck(
            UPLOAD_QUEUED_SECONDS, STALE_CLAIM.total_seconds(), SWEEP_BATCH_SIZE
        )
    result.tasks += [("ops.bulk_upload", job_id) for job_id in ids]
    result.details["uploads"] = len(ids)
    result.changed += len(ids)


async def expire_clarifications(ctx: Context, now: datetime) -> JobResult:
    async def batch(s: AsyncConnection) -> int:
        requests = RequestStore(s)
        ids = await requests.expired_clarifications(CLARIFICATION_TTL_SECONDS, SWEEP_BATCH_SIZE)
        for request_id in ids:
            await requests.transition(
                request_id,
                Status.needs_clarification,
                Status.failed,
                error_message="clarification expired",
                metadata={M.FAILED_STAGE: "nlu", M.ERROR_KIND: "clarification_expired"},
            )
        return len(ids)

    return JobResult("clarification_expiry", changed=await sweep(ctx, batch))
