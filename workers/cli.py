"""The `vividly` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from db.errors import DatabaseUnavailable, SchemaMissing
from db.migrate import UnknownRevision
from pipeline.settings import get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Vividly content pipeline.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

T = TypeVar("T")

# Errors whose message is the whole story: print it, exit 1, no traceback.
CLEAR_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, SchemaMissing, UnknownRevision)


def clear_errors(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CLEAR_ERRORS as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return clear_errors(lambda: asyncio.run(coro_fn()))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Migrate the database up to REVISION (default: head); creates the database if missing."""
    from db import migrate

    url = get_settings().database_url
    clear_errors(lambda: migrate.upgrade(url, revision))
    out.print(f"database at revision {run(lambda: migrate.current_revision(url))}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument("-1")) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' removes everything)."""
    from db import migrate

    url = get_settings().database_url
    clear_errors(lambda: migrate.downgrade(url, revision))
    out.print(f"database at revision {run(lambda: migrate.current_revision(url))}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision ('none' when unmigrated)."""
    from db import migrate

    rev = run(lambda: migrate.current_revision(get_settings().database_url))
    out.print(rev or "none")


@app.command("seed")
def seed_command() -> None:
    """Load the topic catalog, interests and a demo school (idempotent)."""
    from db import migrate
    from db.seed import seed
    from db.session import create_engine, create_sessionmaker, unit_of_work

    url = get_settings().database_url

    async def go() -> None:
        await migrate.require_schema(url)
        engine = create_engine(url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                report = await seed(session)
        finally:
            await engine.dispose()
        details = ", ".join(f"{k} {v}" for k, v in report.written.items())
        out.print(f"seeded: {report.total} rows written ({details})")

    run(go)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
