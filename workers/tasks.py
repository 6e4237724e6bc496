"""Celery tasks: a few lines each around pipeline/. Arguments are request ids only."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterable

import asyncpg
import redis
import sqlalchemy.exc
import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline import runner
from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.runner import Dispatch
from pipeline.stages import SPECS
from pipeline.states import Stage
from workers import metrics
from workers.app import app, task_name
from workers.runtime import get_runtime

log = structlog.get_logger("vividly.tasks")

# Worth another attempt: provider hiccups, time limits, and the database or network
# going away (a failover, a restarted server, a dropped pooled connection).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientStageError,
    SoftTimeLimitExceeded,
    OSError,
    ConnectionError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to base, 2 up to 2*base…"""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** (attempt - 1))


def send(dispatches: Iterable[Dispatch]) -> None:
    """Called only after the transaction that decided these tasks has committed."""
    for d in dispatches:
        app.send_task(task_name(d.stage), args=[d.request_id])


def execute(task: Task, stage: Stage, request_id: str) -> None:
    rt = get_runtime()
    settings = rt.context.settings
    spec = SPECS[stage]
    attempt = task.request.retries + 1
    token = task.request.id or request_id
    started = time.perf_counter()
    outcome, kind = "failed", "none"  # what the metrics record, whatever happens below
    try:
        run = rt.run(runner.run_stage(spec, rt.context, request_id, token, attempt))
        outcome, dispatches = run.outcome, list(run)
        if "cache" in run.notes:
            metrics.record_cache(run.notes["cache"])
    except PermanentStageError as e:
        kind = "permanent"
        dispatches = rt.run(runner.fail_stage(spec, rt.context, request_id, e, kind))
    except TRANSIENT_ERRORS as e:
        if attempt >= settings.task_max_attempts:
            kind = "exhausted"
            error = TransientStageError(
                f"{stage} stage still failing after {attempt} attempts: "
                f"{e if isinstance(e, TransientStageError) else type(e).__name__}"
            )
            dispatches = rt.run(runner.fail_stage(spec, rt.context, request_id, error, kind))
        else:
            outcome = "retry"
            rt.run(runner.note_retry(rt.context, request_id, token))
            delay = backoff_seconds(
                attempt, settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds
            )
            log.info(
                "stage retry scheduled",
                request_id=request_id,
                stage=str(stage),
                attempt=attempt,
                countdown_s=round(delay, 2),
                error_type=type(e).__name__,
            )
            raise task.retry(countdown=delay, max_retries=None) from None
    except Exception as e:  # an unclassified error is a bug: fail the request clearly
        log.exception("stage crashed", request_id=request_id, stage=str(stage))
        kind = "internal"
        error = runner.as_stage_error(e)
        dispatches = rt.run(runner.fail_stage(spec, rt.context, request_id, error, kind))
    finally:
        metrics.record_stage(stage, outcome, kind, time.perf_counter() - started)
    send(dispatches)


def _stage_task(stage: Stage):  # type: ignore[no-untyped-def]
    @app.task(name=task_name(stage), bind=True, acks_late=True, reject_on_worker_lost=True)
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
