"""The `vividly` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from db.errors import DatabaseUnavailable, SchemaMissing
from db.migrate import UnknownRevision
from pipeline.errors import RequestError
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


async def with_api(fn):  # type: ignore[no-untyped-def]
    """Run fn(api) with a short-lived engine (one per CLI invocation)."""
    from db import migrate
    from db.session import create_engine, create_sessionmaker
    from pipeline.providers.storage import open_storage
    from workers.client import pipeline_api

    settings = get_settings()
    await migrate.require_schema(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await fn(pipeline_api(create_sessionmaker(engine), open_storage(settings)))
    finally:
        await engine.dispose()


@app.command("submit")
def submit_command(
    query: str = typer.Argument(..., help="The student's question."),
    student: str = typer.Option(..., "--student", help="The student's user id."),
    interest: str | None = typer.Option(None, "--interest", help="An interest id to use."),
    style: str | None = typer.Option(None, "--style", help="conversational, simpler, …"),
    wait: bool = typer.Option(False, "--wait", help="Follow it to a terminal/waiting status."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds --wait waits at most."),
) -> None:
    """Create a content request; prints its id as the last line."""

    async def go():  # type: ignore[no-untyped-def]
        return await with_api(lambda api: api.submit_request(student, query, interest, style))

    request_id = run(go)
    if wait:
        view = run(lambda: follow(request_id, timeout))
        out.print(f"{request_id} {view['status']}", highlight=False)
    out.print(request_id, highlight=False)


async def follow(request_id: str, max_seconds: float, on_change=None):  # type: ignore[no-untyped-def]
    """Poll the row until it is terminal or waiting for the student."""
    import time

    from pipeline.states import TERMINAL, WAITING, Status

    deadline = time.monotonic() + max_seconds
    last = None

    async def poll(api):  # type: ignore[no-untyped-def]
        nonlocal last
        while True:
            view = await api.get_request(request_id)
            if view["status"] != last:
                last = view["status"]
                if on_change:
                    on_change(view)
            if Status(view["status"]) in TERMINAL | WAITING or time.monotonic() > deadline:
                return view
            await asyncio.sleep(0.05)

    return await with_api(poll)


@app.command("status")
def status_command(
    request_id: str,
    json_output: bool = typer.Option(False, "--json", help="One JSON object."),
    sign: bool = typer.Option(False, "--sign", help="Add signed URLs for the objects."),
) -> None:
    """Show a request's status and outputs."""
    import json

    view = run(lambda: with_api(lambda api: api.get_request(request_id, sign=sign)))
    if json_output:
        print(json.dumps(view, default=str))
        return
    for k, v in view.items():
        if v is not None:
            out.print(f"[bold]{k}[/]: {v}", highlight=False)


@app.command("clarify")
def clarify_command(
    request_id: str,
    topic: str | None = typer.Option(None, "--topic", help="The chosen topic id."),
    answer: str | None = typer.Option(None, "--answer", help="A free-text answer."),
) -> None:
    """Answer a request waiting in needs_clarification."""
    status = run(lambda: with_api(lambda api: api.clarify(request_id, topic, answer)))
    out.print(f"{request_id} {status}", highlight=False)


@app.command("retry")
def retry_command(
    request_id: str | None = typer.Argument(None, help="One failed request."),
    stage: str | None = typer.Option(None, "--stage", help="All failed at this stage …"),
    since: str | None = typer.Option(None, "--since", help="… failed since (ISO time or 2h, 3d)."),
    limit: int = typer.Option(500, "--limit", help="At most this many requests."),
) -> None:
    """Re-open failed requests at the stage that failed, keeping earlier outputs."""
    if request_id is None and stage is None and since is None:
        err.print("[bold red]error:[/] give a request id, or --stage and/or --since")
        raise typer.Exit(2)
    if request_id is not None:
        stage_ = run(lambda: with_api(lambda api: api.retry_request(request_id)))
        out.print(f"{request_id} retrying from {stage_}", highlight=False)
        return
    cutoff = clear_errors(lambda: parse_since(since)) if since else None
    retried = run(lambda: with_api(lambda api: api.retry_failed(stage, cutoff, limit)))
    for rid, st in retried:
        out.print(f"{rid} retrying from {st}", highlight=False)
    out.print(f"{len(retried)} request(s) re-opened", highlight=False)


def parse_since(value: str):  # type: ignore[no-untyped-def]
    """An ISO timestamp, or a duration back from now: 90m, 2h, 3d."""
    import re
    from datetime import UTC, datetime, timedelta

    m = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(f"--since {value!r} is neither an ISO time nor like 2h or 3d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("worker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker_command(ctx: typer.Context) -> None:
    """Start a Celery worker: `vividly worker -Q video,audio,script,nlu -c 2` and so on."""
    from workers.app import QUEUES
    from workers.app import app as celery_app

    args = list(ctx.args)
    if not any(a == "-Q" or a.startswith(("-Q", "--queues")) for a in args):
        args += ["-Q", ",".join(QUEUES)]
    if not any(a.startswith(("-l", "--loglevel")) for a in args):
        args += ["--loglevel", "INFO"]
    celery_app.worker_main(["worker", *args])


DEMO_QUERY = "how does newton's third law work in basketball?"
DEMO_STUDENT = "user_demo_student_1"


@app.command("demo")
def demo_command(
    query: str = typer.Argument(DEMO_QUERY, help="The question to turn into a lesson."),
    student: str = typer.Option(DEMO_STUDENT, "--student"),
    wait_seconds: float = typer.Option(180.0, "--timeout"),
) -> None:
    """Migrate, seed, start a worker, submit a question and follow it to the end."""
    from workers.demo import run_demo

    clear_errors(lambda: run_demo(query, student, wait_seconds, out))


LOOPBACK = ("127.0.0.1", "::1", "localhost")
TRUTHY = ("y", "yes", "t", "true", "on", "1")  # what Flower's strtobool reads as true


@app.command("flower", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def flower_command(ctx: typer.Context) -> None:
    """Start Flower (workers, queues, tasks): `vividly flower --port=5555`. Listens on
    127.0.0.1 unless --address says otherwise; basic auth from FLOWER_BASIC_AUTH."""
    import os

    from workers.app import app as celery_app

    args = list(ctx.args)
    address = next((a.split("=", 1)[1] for a in args if a.startswith("--address=")), None)
    if address is None:
        address = os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"  # Flower's own default: all
        args.append(f"--address={address}")
    auth = get_settings().flower_basic_auth
    if auth and not any(a.startswith("--basic-auth") for a in args):
        # Through the environment Flower reads, so the password stays out of `ps`.
        os.environ["FLOWER_BASIC_AUTH"] = auth
    auth_on = bool(auth or os.environ.get("FLOWER_AUTH")) or any(
        a.startswith(("--basic-auth", "--auth")) for a in args
    )
    open_api = os.environ.get("FLOWER_UNAUTHENTICATED_API", "").lower() in TRUTHY
    if open_api and not auth_on and address not in LOOPBACK:
        err.print(
            "[bold red]error:[/] FLOWER_UNAUTHENTICATED_API opens Flower's API (which can "
            f"also run and revoke tasks) to anyone who can reach {address}: use it on a "
            "loopback address only, or set FLOWER_BASIC_AUTH.",
            highlight=False,
        )
        raise typer.Exit(1)
    raise typer.Exit(celery_app.start(["flower", *args]) or 0)


def main() -> None:
    app()


# Ops commands (beat, jobs, failed) register themselves on `app`.
from workers import cli_ops  # noqa: E402, F401

if __name__ == "__main__":
    # Run the imported module's app (the one cli_ops registered its commands on), not
    # this __main__ copy.
    from workers.cli import main as _main

    _main()
