"""What every `vividly` command shares: the Typer app, consoles, clear errors, run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from db.errors import DatabaseUnavailable, SchemaMissing
from db.migrate import UnknownRevision
from pipeline.errors import RequestError
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from pipeline.api import PipelineAPI

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
CLEAR_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    SchemaMissing,
    UnknownRevision,
    RequestError,
)


def clear_errors(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CLEAR_ERRORS as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return clear_errors(lambda: asyncio.run(coro_fn()))


async def with_api(fn: Callable[[PipelineAPI], Awaitable[T]]) -> T:
    """Run fn(api) with a short-lived engine (one per CLI invocation)."""
    from db import migrate
    from db.session import create_engine
    from pipeline.providers.factory import open_storage
    from workers.client import pipeline_api

    settings = get_settings()
    await migrate.require_schema(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await fn(pipeline_api(engine, open_storage(settings)))
    finally:
        await engine.dispose()


def parse_since(value: str) -> datetime:
    """An ISO timestamp, or a duration back from now: 90m, 2h, 3d."""
    import re
    from datetime import UTC, timedelta

    m = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(f"--since {value!r} is neither an ISO time nor like 2h or 3d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
