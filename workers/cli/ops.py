"""Ops commands: `vividly worker|flower|beat|jobs|failed`."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import typer

from pipeline.settings import get_settings
from workers.cli.common import app, clear_errors, err, out, parse_since, run

if TYPE_CHECKING:
    from pipeline.jobs.base import JobResult

LOOPBACK = ("127.0.0.1", "::1", "localhost")
TRUTHY = ("y", "yes", "t", "true", "on", "1")  # what Flower's strtobool reads as true


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


jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
app.add_typer(jobs_app, name="jobs")


@app.command("beat", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat_command(ctx: typer.Context) -> None:
    """Start the beat scheduler (RedBeat: one active scheduler across hosts)."""
    from workers.app import app as celery_app

    args = list(ctx.args)
    if not any(a.startswith(("-l", "--loglevel")) for a in args):
        args += ["--loglevel", "INFO"]
    celery_app.start(["beat", "-S", "workers.beat:ResilientRedBeatScheduler", *args])


@jobs_app.command("list")
def jobs_list() -> None:
    """The jobs and their schedules."""
    from workers.schedule import beat_schedule

    for entry, spec in beat_schedule(get_settings().watchdog_period_seconds).items():
        out.print(f"{spec['task']:36} {entry:28} {spec['schedule']}", highlight=False)


@jobs_app.command("run")
def jobs_run(name: str) -> None:
    """Run one job now, in this process (the job's lock still applies)."""
    from db.session import engine_for
    from pipeline.context import Context
    from pipeline.jobs import registry, run_job
    from pipeline.providers.factory import build_providers
    from pipeline.scratch import scratch_root
    from workers.client import send
    from workers.logs import configure_logging

    if name not in registry():
        raise typer.BadParameter(f"unknown job; one of: {', '.join(sorted(registry()))}")
    configure_logging()
    settings = get_settings()

    async def go() -> JobResult:
        from db import migrate

        await migrate.require_schema(settings.database_url)
        engine = engine_for(settings)
        try:
            from workers.runtime import queue_probe

            ctx = Context(
                settings,
                engine,
                build_providers(settings),
                scratch_root(settings),
                queues=queue_probe(settings.redis_url),  # the watchdog reads queue ages
            )
            return await run_job(ctx, name)
        finally:
            await engine.dispose()

    result = run(go)
    send(result.dispatches)
    from workers.app import app as celery_app

    for task, arg in result.tasks:
        celery_app.send_task(task, args=[arg])
    if result.locked:
        out.print(f"{name}: another run holds the lock; nothing done")
    else:
        out.print(f"{name}: {result.changed} row(s) changed", highlight=False)


@app.command("failed")
def failed_command(
    stage: str | None = typer.Option(None, "--stage"),
    since: str | None = typer.Option(None, "--since", help="ISO time or 2h, 3d."),
    limit: int = typer.Option(1000, "--limit"),
    ids: bool = typer.Option(False, "--ids", help="List each request, not just the groups."),
) -> None:
    """Failed requests grouped by stage and error (ids only, never student text)."""
    from db.requests import RequestStore
    from db.session import create_engine, unit_of_work

    cutoff = clear_errors(lambda: parse_since(since)) if since else None

    async def go() -> list[dict[str, Any]]:
        engine = create_engine(get_settings().database_url)
        try:
            async with unit_of_work(engine) as s:
                return await RequestStore(s).failed(stage, cutoff, limit)
        finally:
            await engine.dispose()

    rows = run(go)
    groups = Counter((r["stage"] or "?", r["kind"] or "?", r["error_message"] or "") for r in rows)
    for (st, kind, message), n in groups.most_common():
        out.print(f"{n:6}  {st:12} {kind:22} {message}", highlight=False)
    if ids:
        for r in rows:
            out.print(f"{r['id']}  {r['stage']}  {r['updated_at']:%Y-%m-%d %H:%M}", highlight=False)
    out.print(f"{len(rows)} failed request(s)", highlight=False)


@app.command("usage")
def usage_command(
    since: str = typer.Option("7d", "--since", help="ISO time or 2h, 3d."),
) -> None:
    """Provider usage and estimated cost per district per day (lessons generated)."""
    from db.session import create_engine, unit_of_work
    from db.usage import DistrictUsage, usage_per_district_day

    cutoff = clear_errors(lambda: parse_since(since))

    async def go() -> list[DistrictUsage]:
        engine = create_engine(get_settings().database_url)
        try:
            async with unit_of_work(engine) as s:
                return await usage_per_district_day(s, cutoff)
        finally:
            await engine.dispose()

    rows = run(go)
    out.print(
        "day         district                 lessons  tokens in/out      tts chars  cost USD",
        highlight=False,
    )
    for r in rows:
        out.print(
            f"{r.day}  {r.district_id:24} {r.lessons_generated:7}  "
            f"{r.input_tokens:>8}/{r.output_tokens:<8}  {r.tts_characters:9}  "
            f"{r.estimated_cost_usd:8.4f}",
            highlight=False,
        )
    total = sum(r.estimated_cost_usd for r in rows)
    out.print(f"{len(rows)} district-day(s), estimated ${total:.4f}", highlight=False)


cache_app = typer.Typer(no_args_is_help=True, help="The lesson cache.")
app.add_typer(cache_app, name="cache")


@cache_app.command("purge")
def cache_purge(
    topic: str | None = typer.Option(None, "--topic"),
    interest: str | None = typer.Option(None, "--interest"),
    version: str | None = typer.Option(None, "--version", help="A content_version to retire."),
) -> None:
    """Take lessons out of the cache, so the next request for them generates anew. The
    rows stay (feedback and progress point at them), under a key no lookup uses."""
    from db.audit import AuditTrail
    from db.content import ContentStore
    from db.session import create_engine, unit_of_work

    if topic is None and interest is None and version is None:
        err.print("error: give at least one of --topic, --interest, --version")
        raise typer.Exit(1)

    async def go() -> list[str]:
        engine = create_engine(get_settings().database_url)
        try:
            async with unit_of_work(engine) as s:
                ids = await ContentStore(s).retire(
                    topic_id=topic, interest_id=interest, version=version
                )
                filters = {"topic_id": topic, "interest_id": interest, "version": version}
                await AuditTrail(s).record(
                    "cache.purge", "generated_content", None, {**filters, "ids": ids}
                )
                return ids
        finally:
            await engine.dispose()

    ids = run(go)
    out.print(f"{len(ids)} lesson(s) taken out of the cache", highlight=False)


review_app = typer.Typer(no_args_is_help=True, help="The content review gate.")
app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(limit: int = typer.Option(100, "--limit")) -> None:
    """Lessons flagged by students' reports, oldest first: never served until approved."""
    from db.content import ContentStore

    async def go() -> list[Any]:
        async with _session() as s:
            return await ContentStore(s).flagged(limit)

    rows = run(go)
    for r in rows:
        out.print(
            f"{r.id}  {r.topic_id}  {r.interest_id}  {r.style}  reports={r.reports}  "
            f"quality={r.quality_score}  flagged_at={r.flagged_at}",
            highlight=False,
        )
    out.print(f"{len(rows)} lesson(s) flagged", highlight=False)


@review_app.command("approve")
def review_approve(
    content_id: str, by: str | None = typer.Option(None, "--by", help="The reviewer's user id.")
) -> None:
    """Approve a lesson: it is served again, and requests waiting on it go on."""
    _review(content_id, "approved", by)


@review_app.command("flag")
def review_flag(
    content_id: str, by: str | None = typer.Option(None, "--by", help="The reviewer's user id.")
) -> None:
    """Flag a lesson: it is no longer served from the cache."""
    _review(content_id, "flagged", by)


def _review(content_id: str, status: str, by: str | None) -> None:
    from db.session import create_engine
    from pipeline import review
    from workers.client import send

    async def go() -> list[Any]:
        engine = create_engine(get_settings().database_url)
        try:
            return await review.review(engine, content_id, status, by)
        finally:
            await engine.dispose()

    dispatches = run(go)
    send(dispatches)
    out.print(
        f"{content_id} {status}; {len(dispatches)} waiting request(s) sent on", highlight=False
    )


@contextlib.asynccontextmanager
async def _session() -> AsyncIterator[Any]:
    from db.session import create_engine, unit_of_work

    engine = create_engine(get_settings().database_url)
    try:
        async with unit_of_work(engine) as s:
            yield s
    finally:
        await engine.dispose()


@app.command("doctor")
def doctor_command() -> None:
    """Check what the workers need: database (and its schema at head), broker, storage.
    One line each; exit status 1 when something is wrong."""
    from workers.health import readiness

    checks = run(lambda: readiness(get_settings()))
    for c in checks:
        mark = "[green]ok[/]" if c.ok else "[bold red]FAIL[/]"
        out.print(f"{mark:>20}  {c.name:9} {c.detail}", highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
