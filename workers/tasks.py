"""Celery tasks of the stages: a few lines each around pipeline/. Arguments are ids only."""

from __future__ import annotations

import functools
import time
from typing import NoReturn

import redis
import structlog
from celery import Task

from db.repository import Lease
from pipeline import runner
from pipeline.errors import LeaseLost, StageError, TransientStageError
from pipeline.retry import Verdict
from pipeline.stages import SPECS
from pipeline.states import Stage
from workers import metrics
from workers.app import app, task_name
from workers.client import send
from workers.policy import retry_policy, vividly_task
from workers.runtime import get_runtime

log = structlog.get_logger("vividly.tasks")


def execute(task: Task, stage: Stage, request_id: str) -> None:
    """One delivery of a stage's task: run it; on failure, ask the retry policy what the
    error means and settle it on the row (retry, fail, or wait for the database)."""
    rt = get_runtime()
    ctx = rt.context
    policy = retry_policy(ctx.settings)
    spec = SPECS[stage]
    lease = Lease(task.request.id or f"local:{request_id}", task.request.retries)
    started = time.perf_counter()
    outcome, kind, dispatches = "failed", "none", []
    try:
        try:
            run = rt.run(runner.run_stage(spec, ctx, request_id, lease))
            outcome, kind, dispatches = run.outcome, run.error_kind, list(run)
            if "cache" in run.notes:
                metrics.record_cache(run.notes["cache"])
        except LeaseLost:
            outcome = "stale"
            log.info(
                "stage abandoned: another worker took the request over",
                request_id=request_id,
                stage=str(stage),
                outcome="stale",
            )
        except Exception as e:
            verdict = policy.classify(e)
            if verdict is Verdict.wait:
                raise
            if verdict is Verdict.retry:
                error = (
                    e
                    if isinstance(e, StageError)
                    else TransientStageError(f"{type(e).__name__} in the {stage} stage")
                )
                decision, dispatches, delay = rt.run(
                    runner.retry_or_fail(spec, ctx, request_id, lease, error, policy)
                )
                if decision == "retry":
                    outcome = "retry"
                    _retry_later(task, "stage retry scheduled", delay, request_id, stage, e)
                outcome, kind = (
                    ("failed", "exhausted") if decision == "exhausted" else ("stale", "none")
                )
            else:
                if verdict is Verdict.bug:
                    log.exception("stage crashed", request_id=request_id, stage=str(stage))
                kind = "permanent" if verdict is Verdict.fail else "internal"
                dispatches = rt.run(
                    runner.fail_stage(spec, ctx, request_id, lease, runner.as_stage_error(e), kind)
                )
    except Exception as e:
        if policy.classify(e) is not Verdict.wait:
            raise
        # The database (or broker) is away: nothing is known or recorded about the request,
        # so nothing is counted against it. Try again later; the row keeps its status.
        outcome, kind = "retry", "infrastructure"
        delay = policy.backoff_seconds(task.request.retries + 1)
        _retry_later(task, "stage waits for the database", delay, request_id, stage, e)
    finally:
        metrics.record_stage(stage, outcome, kind, time.perf_counter() - started)
    send(dispatches)


def _retry_later(
    task: Task, event: str, delay: float, request_id: str, stage: Stage, error: Exception
) -> NoReturn:
    log.info(
        event,
        request_id=request_id,
        stage=str(stage),
        countdown_s=round(delay, 2),
        error_type=type(error).__name__,
    )
    raise task.retry(countdown=delay, max_retries=None) from None


def _stage_task(stage: Stage) -> Task:
    from pipeline.stages.limits import TIME_LIMITS

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
