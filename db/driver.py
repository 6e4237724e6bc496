"""Statements sent by asyncpg itself, on the connection SQLAlchemy's pool lent: the same
connection, transaction and type codecs (jsonb in and out as SQLAlchemy sets them up),
without SQLAlchemy's execution path.

Why: the stage path sends about 26 statements per cache miss. Through SQLAlchemy's
`AsyncConnection.execute` a `text()` statement costs ~120 µs of a pool child's CPU
against ~55 µs sent by asyncpg, and a transaction's BEGIN + COMMIT ~270 µs more
(measured 2026-12-07; see the README's performance section). The SQL is the same plain
text with `:name` parameters as `text()` takes, numbered once at import.

Connections: the pool stays SQLAlchemy's (one engine per process). A connection that
fails under a statement sent here is invalidated, as SQLAlchemy does with its own, so
the pool never lends it again; one the server closed while it sat in the pool is opened
again before use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

import asyncpg
import structlog
from asyncpg import Record
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["LAZY_WHEN_ALONE", "Record", "Sql", "driver", "live_driver"]

log = structlog.get_logger("vividly.db")

# SQLAlchemy's own syntax for a bound parameter in text(): `:name`, not `::type`.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_NO_PARAMS: Mapping[str, Any] = {}


def _session_ended(sqlstate: object) -> bool:
    """A connection exception, or the server shutting down or not taking this session."""
    return isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
    )


def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a checked-out SQLAlchemy connection."""
    return cast(asyncpg.Connection, conn.sync_connection.connection.driver_connection)  # type: ignore[union-attr]  # set once the connection started, as every store's is


async def live_driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection, opened again if the server closed it while it sat in the
    pool (a restart): after one, no statement fails on a connection already known dead."""
    pg = driver(conn)
    for _ in range(_MAX_DEAD):  # each dead one found goes; the pool lends the next
        if not pg.is_closed():
            break
        log.warning("database connection reopened", reason="closed by the server while pooled")
        await conn.invalidate()
        pg = cast(asyncpg.Connection, (await conn.get_raw_connection()).driver_connection)
    return pg


# More than a process's pool holds (db/session.py: 2 + 3 overflow).
_MAX_DEAD = 8

# A condition (`AND` it into the WHERE that finds the row) for a statement that only
# moves a lease: a claim, a renewal. Sent alone (autocommit), the statement commits
# without waiting for its WAL flush, ~120 µs a statement here (bench/stage_times.py);
# inside a transaction it leaves that transaction's commit as it is. `:alone` is filled
# in by Sql. Why that is safe: PostgreSQL may lose only the last such commits, and only
# if it crashes itself (a killed worker loses nothing), and a lost lease is one that
# never was: the holder's next renewal or its guarded completion finds it gone and drops
# the work, and the watchdog sends the request's message again (SPEC rules 3 and 4).
# Transitions, failures and everything else commit durably.
LAZY_WHEN_ALONE = """set_config('synchronous_commit',
    CASE WHEN :alone THEN 'off' ELSE current_setting('synchronous_commit') END, true) IS NOT NULL"""


class Sql:
    """One statement: its text with `$n` placeholders and the parameter names in order
    (a name used twice is one parameter)."""

    __slots__ = ("names", "sql")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        self.sql = _BIND.sub(number, sql)
        self.names = tuple(names)

    async def rows(
        self, conn: AsyncConnection, params: Mapping[str, Any] = _NO_PARAMS
    ) -> list[Record]:
        return cast(list[Record], await self._send(conn, "fetch", params))

    async def row(
        self, conn: AsyncConnection, params: Mapping[str, Any] = _NO_PARAMS
    ) -> Record | None:
        return cast(Record | None, await self._send(conn, "fetchrow", params))

    async def value(self, conn: AsyncConnection, params: Mapping[str, Any] = _NO_PARAMS) -> Any:
        return await self._send(conn, "fetchval", params)

    async def run(self, conn: AsyncConnection, params: Mapping[str, Any] = _NO_PARAMS) -> int:
        """Send it for its effect; the rows it changed (from the command tag)."""
        tag = await self._send(conn, "execute", params)
        count = str(tag).rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def _send(self, conn: AsyncConnection, method: str, params: Mapping[str, Any]) -> Any:
        pg = await live_driver(conn)
        args = [params[n] if n != "alone" else not pg.is_in_transaction() for n in self.names]
        try:
            return await getattr(pg, method)(self.sql, *args)
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            await conn.invalidate()
            raise
        except asyncpg.PostgresError as e:
            if pg.is_closed() or _session_ended(getattr(e, "sqlstate", None)):
                await conn.invalidate()  # the server ended the session (a restart, a terminate)
            raise
