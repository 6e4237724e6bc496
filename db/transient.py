"""Which database failures are the database's, not the statement's: worth another try.

A PostgreSQL restart, a failover, `pg_terminate_backend` or a proxy's idle timeout reach
SQLAlchemy as a plain `DBAPIError` (the asyncpg dialect maps only integrity errors), so
the class alone says little: the SQLSTATE and the invalidated connection say the rest.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# SQLSTATE classes and codes a later attempt may get past.
_TRANSIENT_CLASSES = ("08",)  # connection exception
_TRANSIENT_PREFIXES = ("57P",)  # operator intervention: admin/crash shutdown, cannot connect now
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization failure
        "40P01",  # deadlock detected
        "53300",  # too many connections
        "55P03",  # lock not available (lock_timeout)
        "57014",  # query canceled (statement_timeout)
        "25P03",  # idle-in-transaction session timeout
    }
)


def _transient_sqlstate(code: object) -> bool:
    if not isinstance(code, str):
        return False
    return (
        code in _TRANSIENT_SQLSTATES
        or code[:2] in _TRANSIENT_CLASSES
        or code.startswith(_TRANSIENT_PREFIXES)
    )


def is_transient_db_error(exc: BaseException) -> bool:
    """True for failures of the database connection or server rather than of the
    statement (which would fail the same way again)."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return _transient_sqlstate(getattr(exc, "sqlstate", None))
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        if _transient_sqlstate(getattr(exc.orig, "sqlstate", None)):
            return True
        cause = getattr(exc.orig, "__cause__", None)
        return cause is not None and cause is not exc and is_transient_db_error(cause)
    return False
