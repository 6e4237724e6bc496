"""PostgreSQL advisory locks and per-transaction limits: a job runs once at a time, a
cache key's single-flight decisions are serialised, a maintenance batch cannot hang.

One idiom: plain SQL sent by asyncpg (db/driver.py).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from db.driver import Sql

_TRY_JOB = Sql("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))")
_RELEASE_JOB = Sql("SELECT pg_advisory_unlock(hashtextextended(:k, 0))")
_CACHE_KEY = Sql("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")


def _job_key(job: str) -> dict[str, str]:
    return {"k": f"vividly-job:{job}"}


class Locks:
    def __init__(self, conn: AsyncConnection) -> None:
        self.s = conn

    async def try_job(self, job: str) -> bool:
        """A session-level lock per job, held across the job's batches: a second
        concurrent run (another beat host, a manual run) gets False."""
        return bool(await _TRY_JOB.value(self.s, _job_key(job)))

    async def release_job(self, job: str) -> None:
        await _RELEASE_JOB.run(self.s, _job_key(job))

    async def cache_key(self, cache_key: str) -> None:
        """Serialise every decision about one cache key until the transaction ends."""
        await _CACHE_KEY.run(self.s, {"k": cache_key})

    async def bound_transaction(self, lock_ms: int, statement_ms: int) -> None:
        """Tighter limits for one maintenance transaction: a row lock held by someone
        else or a slow statement ends this batch (the next sweep tries again)."""
        await Sql(f"SET LOCAL lock_timeout = {int(lock_ms)}").run(self.s)
        await Sql(f"SET LOCAL statement_timeout = {int(statement_ms)}").run(self.s)
