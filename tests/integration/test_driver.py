"""Units of work and statements sent by asyncpg on SQLAlchemy's pooled connections
(db/session.py, db/driver.py), on a real PostgreSQL: a transaction commits or rolls back
as one, SQLAlchemy's own statements and savepoints run inside it, a cancelled one never
goes back to the pool, and a connection the server ended is not lent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import driver as driver_module
from db.driver import LAZY_WHEN_ALONE, Sql, driver
from db.session import create_engine, single_statements, unit_of_work
from db.transient import is_transient_db_error
from tests.support import asyncpg_url, libpq_url

_INSERT = Sql("INSERT INTO driver_t (k, v) VALUES (:k, :v)")
_COUNT = Sql("SELECT count(*) FROM driver_t WHERE k = :k")
_BACKEND = Sql("SELECT pg_backend_pid()")
# What the commit of a lease-only statement will do, read inside that statement.
_COMMIT_MODE = Sql(f"SELECT current_setting('synchronous_commit') WHERE {LAZY_WHEN_ALONE}")
_SETTING = Sql("SELECT current_setting('synchronous_commit')")


@pytest.fixture
async def engine(empty_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(asyncpg_url(empty_db))
    async with single_statements(engine) as s:
        await Sql("CREATE TABLE driver_t (k text, v int)").run(s)
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine, k: str) -> int:
    async with single_statements(engine) as s:
        return int(await _COUNT.value(s, {"k": k}))


async def test_a_unit_of_work_commits_both_kinds_of_statement_together(engine: AsyncEngine) -> None:
    async with unit_of_work(engine) as s:
        await _INSERT.run(s, {"k": "a", "v": 1})
        await s.execute(text("INSERT INTO driver_t VALUES ('a', 2)"))
        async with s.begin_nested():  # a savepoint, as the bulk importer takes per row
            await _INSERT.run(s, {"k": "a", "v": 3})
        assert driver(s).is_in_transaction()
    assert await count(engine, "a") == 3


async def test_an_error_rolls_back_everything_the_unit_of_work_wrote(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine) as s:
            await _INSERT.run(s, {"k": "b", "v": 1})
            await s.execute(text("INSERT INTO driver_t VALUES ('b', 2)"))
            raise RuntimeError("the stage failed")
    assert await count(engine, "b") == 0


async def test_a_cancelled_unit_of_work_leaves_no_transaction_on_a_pooled_connection(
    engine: AsyncEngine,
) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with unit_of_work(engine) as s:
            await _INSERT.run(s, {"k": "c", "v": 1})
            started.set()
            await Sql("SELECT pg_sleep(30)").run(s)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await count(engine, "c") == 0
    for _ in range(3):  # every connection the pool lends is outside any transaction
        async with single_statements(engine) as s:
            assert not driver(s).is_in_transaction()
            await _INSERT.run(s, {"k": "c", "v": 2})
    assert await count(engine, "c") == 3


async def driver_as_is(conn: AsyncConnection) -> asyncpg.Connection:
    return driver(conn)


async def terminate(dbname: str, pid: int) -> None:
    admin = await asyncpg.connect(libpq_url(dbname))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):  # the signal is asynchronous: wait for the backend to be gone
            gone = "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)"
            if await admin.fetchval(gone, pid):
                return
            await asyncio.sleep(0.01)
    finally:
        await admin.close()


async def test_a_connection_the_server_ended_is_invalidated_not_lent_again(
    engine: AsyncEngine, empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with single_statements(engine) as s:
        victim = await _BACKEND.value(s)
    await terminate(empty_db, victim)
    # As when the client has not read the server's goodbye yet: the statement fails.
    monkeypatch.setattr(driver_module, "live_driver", driver_as_is)
    with pytest.raises(Exception) as failed:
        async with single_statements(engine) as s:
            await _COUNT.value(s, {"k": "d"})
    monkeypatch.undo()
    assert is_transient_db_error(failed.value)  # the task waits and tries again
    async with single_statements(engine) as s:
        assert await _BACKEND.value(s) != victim
        assert await _COUNT.value(s, {"k": "d"}) == 0


async def test_rows_come_back_with_jsonb_decoded_and_counts_from_the_command_tag(
    engine: AsyncEngine,
) -> None:
    async with unit_of_work(engine) as s:
        row = await Sql("SELECT CAST(:doc AS jsonb) AS doc, CAST(:n AS int) AS n").row(
            s, {"doc": '{"a": [1, 2]}', "n": 7}
        )
        assert row is not None and row["doc"] == {"a": [1, 2]} and row["n"] == 7
        for v in range(4):
            await _INSERT.run(s, {"k": "e", "v": v})
        assert await Sql("UPDATE driver_t SET v = 0 WHERE k = :k").run(s, {"k": "e"}) == 4


async def test_a_connection_closed_while_pooled_is_opened_again_before_use(
    engine: AsyncEngine, empty_db: str
) -> None:
    """After a PostgreSQL restart every pooled connection is dead: none of them fails a
    statement, in a unit of work or alone."""
    async with unit_of_work(engine) as a, single_statements(engine) as b:
        victims = [await _BACKEND.value(a), await _BACKEND.value(b)]
        pooled = [driver(a), driver(b)]
    for pid in victims:
        await terminate(empty_db, pid)
    for _ in range(500):  # the client reads the server's goodbye on its loop
        if all(pg.is_closed() for pg in pooled):
            break
        await asyncio.sleep(0.01)
    async with unit_of_work(engine) as a, single_statements(engine) as b:
        assert await _BACKEND.value(a) not in victims
        assert await _BACKEND.value(b) not in victims
        await _INSERT.run(a, {"k": "f", "v": 1})
    assert await count(engine, "f") == 1


async def test_a_lease_only_statement_commits_lazily_alone_and_durably_in_a_transaction(
    engine: AsyncEngine,
) -> None:
    async with single_statements(engine) as s:
        assert await _COMMIT_MODE.value(s) == "off"
        assert await _SETTING.value(s) == "on"  # for that statement only, not the session
    async with unit_of_work(engine) as s:
        assert await _COMMIT_MODE.value(s) == "on"
        await _INSERT.run(s, {"k": "d", "v": 1})
        assert await _SETTING.value(s) == "on"  # the transaction still commits durably
