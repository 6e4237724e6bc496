"""Alembic driven from code, with the failures a newcomer hits turned into clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

import migrations
from db.errors import DatabaseUnavailable, SchemaMissing

# What connecting can raise: socket errors, asyncpg's own errors, SQLAlchemy's wrappers.
CONNECT_ERRORS = (OSError, DBAPIError, asyncpg.PostgresError)

MIGRATIONS_DIR = Path(migrations.__file__).parent


class UnknownRevision(Exception):
    """No migration has that revision id."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _check_revision(cfg: Config, revision: str) -> None:
    if revision in ("head", "heads", "base") or revision.startswith(("-", "+")):
        return
    try:
        ScriptDirectory.from_config(cfg).get_revision(revision)
    except CommandError as e:
        raise UnknownRevision(f"unknown revision {revision!r}") from e


async def _ensure_database(url: str) -> None:
    """Create the target database when the server is up but the database is not there."""
    target = make_url(url)
    probe = create_async_engine(target)
    try:
        async with probe.connect():
            return
    except CONNECT_ERRORS as e:
        if "does not exist" not in str(e):
            raise DatabaseUnavailable(f"cannot reach the database at {_safe(url)}: {e}") from e
    finally:
        await probe.dispose()
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except CONNECT_ERRORS as e:
        raise DatabaseUnavailable(f"cannot create database {target.database!r}: {e}") from e
    finally:
        await admin.dispose()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def upgrade(url: str, revision: str = "head") -> None:
    cfg = alembic_config(url)
    _check_revision(cfg, revision)
    asyncio.run(_ensure_database(url))
    _run(command.upgrade, cfg, revision, url)


def downgrade(url: str, revision: str = "-1") -> None:
    cfg = alembic_config(url)
    _check_revision(cfg, revision)
    _run(command.downgrade, cfg, revision, url)


def _run(fn: Callable[[Config, str], None], cfg: Config, revision: str, url: str) -> None:
    try:
        fn(cfg, revision)
    except CommandError as e:
        raise UnknownRevision(str(e)) from e
    except (*CONNECT_ERRORS, OperationalError) as e:
        raise DatabaseUnavailable(f"database error at {_safe(url)}: {e}") from e


async def current_revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    except CONNECT_ERRORS as e:
        raise DatabaseUnavailable(f"cannot reach the database at {_safe(url)}: {e}") from e
    finally:
        await engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


async def require_schema(url: str) -> None:
    """Raise SchemaMissing unless the database is migrated to head."""
    rev = await current_revision(url)
    if rev is None:
        raise SchemaMissing(
            f"the database at {_safe(url)} has no Vividly schema: run `vividly db upgrade` first"
        )
    if rev != head_revision():
        raise SchemaMissing(
            f"the database at {_safe(url)} is at revision {rev}, not {head_revision()}: "
            "run `vividly db upgrade`"
        )
