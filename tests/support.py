"""Test helpers: scratch PostgreSQL databases, migrations, seed.

Every test database is created here with a unique name and dropped afterwards, so tests
never touch a developer's data. Settings come from the environment like the app's:
TEST_PG_ADMIN_URL (a libpq URL to an existing database with CREATEDB rights) and
TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def libpq_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def asyncpg_url(dbname: str) -> str:
    return libpq_url(dbname).replace("postgresql://", "postgresql+asyncpg://", 1)


@contextmanager
def scratch_database(prefix: str = "vividly_test") -> Iterator[str]:
    """Create an empty database; yield its name; drop it (closing stray connections)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(dbname: str, revision: str = "head") -> None:
    from db import migrate as m

    m.upgrade(asyncpg_url(dbname), revision)


def run_seed(dbname: str) -> None:
    import asyncio

    from db.seed import seed
    from db.session import create_engine, create_sessionmaker, unit_of_work

    async def go() -> None:
        engine = create_engine(asyncpg_url(dbname))
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                await seed(session)
        finally:
            await engine.dispose()

    asyncio.run(go())


def connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(dbname), autocommit=True)
