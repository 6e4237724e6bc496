"""Async engine and units of work. One engine per process (see workers/runtime.py).

A unit of work is a Core connection (AsyncConnection), not an ORM session: every store
sends SQL statements and reads rows, and none needs an identity map or a flush. The
session's own work per statement (its execution path, its connection and transaction
bookkeeping, its close) was 17% of a pool child's CPU on the hot path (measured by
bench/pipeline_bench.py in the closing note of issue 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from db.driver import live_driver


class SessionSettings(Protocol):
    database_url: str
    db_statement_timeout_ms: int
    db_lock_timeout_ms: int
    db_idle_in_transaction_timeout_ms: int


# Small pool: a prefork child runs one task at a time; stages hold no connection while
# they do provider work, so two connections cover claim + a concurrent read.
POOL_SIZE = 2
POOL_MAX_OVERFLOW = 3


def create_engine(
    url: str,
    *,
    pool_size: int = POOL_SIZE,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    idle_in_transaction_timeout_ms: int | None = None,
) -> AsyncEngine:
    """The process's engine. The timeouts (0 or None: the server's default) are set on
    every connection by the server, so a hung statement, a lock wait or a transaction
    left open by a dead coroutine ends on its own (SPEC rule 6)."""
    server_settings = {
        name: str(ms)
        for name, ms in (
            ("statement_timeout", statement_timeout_ms),
            ("lock_timeout", lock_timeout_ms),
            ("idle_in_transaction_session_timeout", idle_in_transaction_timeout_ms),
        )
        if ms
    }
    return create_async_engine(
        # No pre-ping: it costs a round trip per checkout on the hot path; a dropped
        # connection surfaces as a transient error and the task retries (db/errors.py).
        url,
        pool_size=pool_size,
        max_overflow=POOL_MAX_OVERFLOW,
        # A database error never carries a bound value (a student's query) into a log,
        # a traceback or a Celery task-failed event.
        hide_parameters=True,
        connect_args={"server_settings": server_settings} if server_settings else {},
    )


def engine_for(settings: SessionSettings) -> AsyncEngine:
    """The engine of a worker process or client, with the timeouts its settings name."""
    return create_engine(
        settings.database_url,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
    )


@asynccontextmanager
async def single_statements(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement commits on its own (autocommit). For work made
    of statements each atomic alone (a claim, a lease renewal, one compare-and-set), it
    saves the BEGIN and COMMIT round trips of a transaction: two of three per statement."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction: committed on normal exit, rolled back on error.

    asyncpg opens and ends it on the connection (~130 µs of CPU against ~400 through
    SQLAlchemy's, db/driver.py). SQLAlchemy sees an autocommit connection, so statements
    it sends (and its savepoints) run inside this transaction as they would in its own."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        pg = await live_driver(conn)
        try:
            async with pg.transaction():
                yield conn
        finally:
            # A transaction still open here was interrupted while it ended (a cancelled
            # COMMIT): the connection must never go back to the pool with it.
            if not pg.is_closed() and pg.is_in_transaction():
                await conn.invalidate()
