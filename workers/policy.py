"""The project's one task decorator and the retry policy every task shares."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.retry import RetryPolicy
from pipeline.settings import Settings
from workers.app import app

# Task arguments are ids (and flags): an ORM object, a dict of student data or a query
# text never crosses the broker.
_ARGUMENT_TYPES = (str, int, bool, type(None))


@lru_cache(maxsize=8)
def _policy(attempts: int, base: float, cap: float) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=attempts,
        backoff_base_seconds=base,
        backoff_cap_seconds=cap,
        # A soft time limit is a slow provider or dependency: worth another attempt.
        transient=(TransientStageError, TimeoutError, SoftTimeLimitExceeded, OSError),
        permanent=(PermanentStageError,),
        # The broker away is waited out like the database (db/errors.py).
        infrastructure=(kombu.exceptions.OperationalError, redis.exceptions.ConnectionError),
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return _policy(
        settings.task_max_attempts,
        settings.retry_backoff_base_seconds,
        settings.retry_backoff_max_seconds,
    )


class IdsOnlyTask(Task):
    """Refuses, at send time, arguments that are not plain ids."""

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        for value in [*(args or ()), *(kwargs or {}).values()]:
            if not isinstance(value, _ARGUMENT_TYPES):
                raise TypeError(f"{self.name} takes ids only, not a {type(value).__name__}")
        return super().apply_async(args, kwargs, **options)


def vividly_task(
    name: str, *, soft_time_limit: float, time_limit: float, **options: Any
) -> Callable[[Callable[..., Any]], Task]:
    """An explicit, stable task name; late acks and a requeue when the worker is lost
    (every task is idempotent: its row's compare-and-set decides); the time limits
    stated where the task is declared; the task bound, for retries."""

    def wrap(fn: Callable[..., Any]) -> Task:
        settings: dict[str, Any] = {
            "bind": True,
            "base": IdsOnlyTask,
            "acks_late": True,
            "reject_on_worker_lost": True,
            # The row counts a stage's attempts (TASK_MAX_ATTEMPTS) and decides when to
            # give up; Celery's own count (3 by default, whatever retry(max_retries=None)
            # suggests) would end a request waiting out a provider's breaker or rate limit.
            "max_retries": None,
            **options,
        }
        return app.task(
            name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **settings
        )(fn)

    return wrap
