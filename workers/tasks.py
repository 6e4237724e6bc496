"""Celery tasks of the stages: a few lines each around pipeline/. Arguments are ids only."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Any

import redis
import structlog
from celery import Task
from opentelemetry.trace import SpanKind, Status, StatusCode

from db.requests import Claim, Lease
from pipeline import runner
from pipeline.dispatch import Dispatch
from pipeline.errors import LeaseLost, StageError, TransientStageError
from pipeline.retry import RetryPolicy, Verdict
from pipeline.runner import StageSpec
from pipeline.stages import SPECS
from pipeline.stages.limits import HARD_LIMITS, TIME_LIMITS
from pipeline.states import STAGE_FOR_STATUS, Stage
from pipeline.states import Status as PipelineStatus
from workers import metrics, tracing
from workers.app import app, consumed_queues, task_name
from workers.client import enqueue, send
from workers.policy import retry_policy, vividly_task
from workers.routing import runs_here
from workers.runtime import Runtime, get_runtime

log = structlog.get_logger("vividly.tasks")


@dataclass(frozen=True)
class Settled:
    """How one delivery ended: for metrics, what to send, and when to try again."""

    outcome: str
    kind: str = "none"
    dispatches: list[Dispatch] = field(default_factory=list)
    retry_in: float | None = None
    why: str = ""
    error_type: str | None = None
    found: PipelineStatus | None = None  # a skipped delivery: the status it found
    handed: Claim | None = None  # the next stage's claim, the lease handed over to it


def execute(task: Task, stage: Stage, request_id: str) -> None:
    """One delivery of a stage's task: run it; on failure, ask the retry policy what the
    error means and settle it on the row (retry, fail, or wait for the database). A next
    stage of the request that this worker would take anyway, and whose hard time limit
    fits in what is left of this message's soft one, runs here too (`runs_here`)."""
    rt = get_runtime()
    lease = Lease(task.request.id or f"local:{request_id}", task.request.retries)
    # A stage run in this delivery must end before the message's soft limit could fire.
    deadline = time.monotonic() + TIME_LIMITS[stage][0]
    _deliver(task, rt, stage, request_id, lease, deadline, tracing.context_from(task.request))


def _deliver(
    task: Task,
    rt: Runtime,
    stage: Stage,
    request_id: str,
    lease: Lease,
    deadline: float,
    message: Any = None,
    claimed: Claim | None = None,
) -> None:
    """Run a stage in its span, then send what it decided. Without `message` (the trace
    context of the task's message) the stage continues the delivery of the one before
    it: same lease (handed over by that stage's completion: `claimed`), its own soft time
    limit, and its retry a message of its own task."""
    continued = message is None

    def hand_over(next_stage: Stage) -> bool:
        # Asked at the completing transition: from then on the next stage is this
        # delivery's to run, whatever time is left when it starts.
        nexts = [Dispatch(next_stage, request_id)]
        left = deadline - time.monotonic()
        return runs_here(stage, request_id, nexts, _consumed(), left, HARD_LIMITS) is not None

    with tracing.tracer.start_as_current_span(
        f"stage {stage}",
        context=message,
        kind=SpanKind.INTERNAL if continued else SpanKind.CONSUMER,
        attributes={"vividly.request_id": request_id, "vividly.stage": str(stage)},
    ) as span:
        span.set_attribute("vividly.continued", continued)
        policy = retry_policy(rt.context.settings)
        limit = TIME_LIMITS[stage][0] if continued else None
        settled = _execute(
            task, rt, SPECS[stage], policy, stage, request_id, lease, limit, hand_over, claimed
        )
        span.set_attribute("vividly.outcome", settled.outcome)
        if settled.outcome == "failed":
            span.set_status(Status(StatusCode.ERROR, settled.kind))
        if settled.retry_in is not None:
            log.info(
                settled.why,
                request_id=request_id,
                stage=str(stage),
                countdown_s=round(settled.retry_in, 2),
                error_type=settled.error_type,
            )
            if continued:
                enqueue(Dispatch(stage, request_id), countdown=settled.retry_in)
                return
            raise task.retry(countdown=settled.retry_in)
        # Sent inside the span: the next stage's message carries this span's context.
        if settled.handed is not None:
            handed = STAGE_FOR_STATUS[settled.handed.row.status]
            send(d for d in settled.dispatches if d != Dispatch(handed, request_id))
            _deliver(task, rt, handed, request_id, lease, deadline, claimed=settled.handed)
            return
        nexts = settled.dispatches
        if settled.found in STAGE_FOR_STATUS:
            # This message came back (its worker died) after its stage had completed: the
            # stage it ran next in the same delivery lost its process too, and nothing
            # else would send it before the watchdog. Its claim (same message, so at once,
            # a crash counted) takes it up again; a live lease of another worker refuses it.
            nexts = [Dispatch(STAGE_FOR_STATUS[settled.found], request_id)]
        left = deadline - time.monotonic()
        here = runs_here(stage, request_id, nexts, _consumed(), left, HARD_LIMITS)
        send(d for d in settled.dispatches if d is not here)
        if here is not None:
            _deliver(task, rt, here.stage, request_id, lease, deadline)


@functools.cache
def _consumed() -> frozenset[str]:
    """The queues this worker consumes: set before the pool forks, the same for life."""
    return frozenset(consumed_queues())


def _execute(
    task: Task,
    rt: Runtime,
    spec: StageSpec[Any],
    policy: RetryPolicy,
    stage: Stage,
    request_id: str,
    lease: Lease,
    limit: float | None = None,
    hand_over: runner.HandOver | None = None,
    claimed: Claim | None = None,
) -> Settled:
    started = time.perf_counter()
    settled = Settled("failed")
    try:
        work = runner.run_stage(
            spec, rt.context, request_id, lease, hand_over=hand_over, claimed=claimed
        )
        run = rt.run(work if limit is None else asyncio.wait_for(work, limit))
        settled = Settled(
            run.outcome, run.error_kind, list(run), found=run.found, handed=run.handed
        )
        if "cache" in run.notes:
            metrics.record_cache(run.notes["cache"])
    except LeaseLost:
        settled = Settled("stale")
        log.info(
            "stage abandoned: another worker took the request over",
            request_id=request_id,
            stage=str(stage),
            outcome="stale",
        )
    except Exception as e:
        settled = _settle(rt, spec, request_id, lease, policy, e, task.request.retries)
    finally:
        metrics.record_stage(stage, settled.outcome, settled.kind, time.perf_counter() - started)
    return settled


def _settle(
    rt: Runtime,
    spec: StageSpec[Any],
    request_id: str,
    lease: Lease,
    policy: RetryPolicy,
    error: Exception,
    retries: int,
) -> Settled:
    """A failed delivery, settled on the row under its lease: a counted retry, a failure,
    or (the database or broker being away, now or while settling) an uncounted wait."""
    verdict = policy.classify(error)
    error_type = type(error).__name__
    try:
        if verdict is Verdict.retry:
            stage_error = (
                error
                if isinstance(error, StageError)
                else TransientStageError(f"{error_type} in the {spec.stage} stage")
            )
            decision, dispatches, delay = rt.run(
                runner.retry_or_fail(spec, rt.context, request_id, lease, stage_error, policy)
            )
            if decision == "retry":
                why = "stage retry scheduled"
                return Settled("retry", retry_in=delay, why=why, error_type=error_type)
            if decision == "exhausted":
                return Settled("failed", "exhausted", dispatches)
            if decision == "cancelled":
                return Settled("cancelled", "cancelled", dispatches)
            return Settled("stale")
        if verdict is not Verdict.wait:
            if verdict is Verdict.bug:
                log.exception("stage crashed", request_id=request_id, stage=str(spec.stage))
            kind = "permanent" if verdict is Verdict.fail else "internal"
            failure = runner.as_stage_error(error)
            dispatches = rt.run(
                runner.fail_stage(spec, rt.context, request_id, lease, failure, kind)
            )
            return Settled("failed", kind, dispatches)
    except Exception as again:
        if policy.classify(again) is not Verdict.wait:
            raise
        error_type = type(again).__name__
    # Nothing is known or recorded about the request, so nothing is counted against it;
    # the row keeps its status and the task tries again later.
    return Settled(
        "retry",
        "infrastructure",
        retry_in=policy.backoff_seconds(retries + 1),
        why="stage waits for the database",
        error_type=error_type,
    )


def _stage_task(stage: Stage) -> Task:
    soft, hard = TIME_LIMITS[stage]

    @vividly_task(task_name(stage), soft_time_limit=soft, time_limit=hard)
    def stage_task(self: Task, request_id: str) -> None:
        execute(self, stage, request_id)

    return stage_task


nlu = _stage_task(Stage.nlu)
cache_check = _stage_task(Stage.cache_check)
script = _stage_task(Stage.script)
audio = _stage_task(Stage.audio)
video = _stage_task(Stage.video)


@app.task(name="ops.noop", acks_late=True)
def noop(counter_key: str | None = None) -> None:
    """Does nothing (health checks; the bare-chain baseline of bench/). With a counter
    key, increments it in the broker's Redis so a caller can see the chain finish."""
    if counter_key:
        _broker_redis().incr(counter_key)


@functools.cache
def _broker_redis() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url)
