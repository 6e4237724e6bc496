"""The retry policy as a value: each failure's meaning, backoff bounds, exhaustion."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from db.transient import is_transient_db_error
from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.retry import RetryPolicy, Verdict


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("bound values never shown")
        self.sqlstate = sqlstate


def dbapi_error(sqlstate: str, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, _Orig(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "sqlstate",
    ["08003", "08006", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03", "57014",
     "25P03"],
)  # fmt: skip
def test_database_failovers_and_lock_or_statement_timeouts_are_transient(sqlstate: str) -> None:
    assert is_transient_db_error(dbapi_error(sqlstate))
    assert RetryPolicy().classify(dbapi_error(sqlstate)) is Verdict.wait


@pytest.mark.parametrize("sqlstate", ["22021", "23505", "42P01", "42703"])
def test_errors_of_the_statement_itself_are_not(sqlstate: str) -> None:
    assert not is_transient_db_error(dbapi_error(sqlstate))
    assert RetryPolicy().classify(dbapi_error(sqlstate)) is Verdict.bug


def test_an_invalidated_connection_and_raw_asyncpg_disconnects_are_transient() -> None:
    assert is_transient_db_error(dbapi_error("XX000", invalidated=True))
    assert is_transient_db_error(asyncpg.ConnectionDoesNotExistError("gone"))
    assert is_transient_db_error(ConnectionRefusedError())


def test_provider_errors_are_classified_by_their_class() -> None:
    policy = RetryPolicy()
    assert policy.classify(TransientStageError()) is Verdict.retry
    assert policy.classify(PermanentStageError()) is Verdict.fail
    assert policy.classify(KeyError("x")) is Verdict.bug
    custom = RetryPolicy(infrastructure=(KeyError,))
    assert custom.classify(KeyError("x")) is Verdict.wait


def test_backoff_grows_with_jitter_and_stays_under_its_cap() -> None:
    policy = RetryPolicy(backoff_base_seconds=2, backoff_cap_seconds=60)
    for attempt, ceiling in ((1, 2), (2, 4), (3, 8), (6, 60), (40, 60)):
        waits = [policy.backoff_seconds(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1


def test_attempts_run_out_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=4)
    assert [policy.exhausted(n) for n in range(1, 6)] == [False, False, False, True, True]
