"""Async engine and unit-of-work sessions. One engine per process (see workers/runtime.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Small pool: a prefork child runs one task at a time; stages hold no connection while
# they do provider work, so two connections cover claim + a concurrent read.
POOL_SIZE = 2
POOL_MAX_OVERFLOW = 3


def create_engine(url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    return create_async_engine(
        # No pre-ping: it costs a round trip per checkout on the hot path; a dropped
        # connection surfaces as a transient error and the task retries (workers/tasks.py).
        url,
        pool_size=pool_size,
        max_overflow=POOL_MAX_OVERFLOW,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit on normal exit, roll back on error; callers only flush."""
    async with factory() as session, session.begin():
        yield session
