"""The retry policy, one value for every task (stages, jobs, ops): how many attempts,
how long between them, and what each kind of failure means.

Layers (STYLE principle 7): a provider may retry a quick idempotent call itself (the
speech provider: 3 engine runs, tenacity); across attempts the task layer backs off and
tries again, `max_attempts` in all per stage (so at most max_attempts x 3 engine runs);
then the request fails on its row with a sentence. A database or broker that is away
says nothing about the request: it is waited out with the same backoff and never counts
as an attempt, so a PostgreSQL restart or failover fails nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from db.transient import is_transient_db_error
from pipeline.errors import PermanentStageError, TransientStageError


class Verdict(StrEnum):
    retry = "retry"  # transient: another attempt, counted
    wait = "wait"  # infrastructure away (database, broker): try again, not counted
    fail = "fail"  # permanent: straight to failed
    bug = "bug"  # unclassified: fail with the exception's type only (text may hold input)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 60.0
    transient: tuple[type[BaseException], ...] = (TransientStageError, TimeoutError)
    permanent: tuple[type[BaseException], ...] = (PermanentStageError,)
    infrastructure: tuple[type[BaseException], ...] = field(default=())

    def classify(self, exc: BaseException) -> Verdict:
        if isinstance(exc, self.permanent):
            return Verdict.fail
        if isinstance(exc, self.infrastructure) or is_transient_db_error(exc):
            return Verdict.wait
        if isinstance(exc, self.transient):
            return Verdict.retry
        return Verdict.bug

    def backoff_seconds(self, attempt: int) -> float:
        """Exponential backoff with jitter: attempt 1 waits up to base, 2 up to 2*base…,
        never more than the cap."""
        exponent = min(max(attempt, 1) - 1, 32)
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2.0**exponent)
        return random.uniform(0.5, 1.0) * ceiling

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
