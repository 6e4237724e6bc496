"""`vividly demo`: the whole pipeline on one machine, with a live progress display."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from db import migrate
from pipeline.settings import get_settings
from pipeline.states import TERMINAL, Status
from workers.localworker import LocalWorker, running


def run_demo(query: str, student: str, wait_seconds: float, out: Console) -> None:
    from db.seed import seed_database
    from workers.cli.common import run, with_api
    from workers.cli.requests import follow

    settings = get_settings()
    out.rule("[bold]Vividly demo")
    out.print("1. migrating the database …")
    migrate.upgrade(settings.database_url)
    out.print("2. loading the topic catalog and a demo school …")
    report = asyncio.run(seed_database(settings.database_url))
    out.print(f"   {report.total} rows written")
    out.print("3. starting a Celery worker …")
    with running(LocalWorker(Path("var/demo-worker.log"))):
        started = time.monotonic()
        out.print(f"4. submitting for {student}: [italic]{query}[/]")
        request_id = run(lambda: with_api(lambda api: api.submit_request(student, query)))
        out.print(f"   request id: [bold]{request_id}[/]")

        def on_change(view: dict[str, Any]) -> None:
            out.print(f"   {time.monotonic() - started:6.2f} s  [cyan]{view['status']}[/]")

        view = run(lambda: follow(request_id, wait_seconds, on_change))
        if view["status"] == Status.needs_clarification:
            options = view["clarification"]["options"]
            out.print(f"   the pipeline asks: {view['clarification']['question']}")
            for o in options:
                out.print(f"     - {o['topic_id']}: {o['title']}")
            chosen = options[0]["topic_id"]
            out.print(f"   the demo answers with the first option, {chosen}")
            run(lambda: with_api(lambda api: api.clarify(request_id, topic_id=chosen)))
            view = run(lambda: follow(request_id, wait_seconds, on_change))
        view = run(lambda: with_api(lambda api: api.get_request(request_id)))
    show_result(view, out)
    if Status(view["status"]) not in TERMINAL or view["status"] == Status.failed:
        raise SystemExit(1)


def show_result(view: dict[str, Any], out: Console) -> None:
    table = Table(title=f"request {view['id']}: {view['status']}", show_lines=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key in (
        "topic_id",
        "interest_id",
        "style",
        "cache_hit",
        "content_type",
        "duration_seconds",
        "script_url",
        "audio_url",
        "video_url",
        "thumbnail_url",
        "error_message",
    ):
        if view.get(key) is not None:
            table.add_row(key, str(view[key]))
    out.print(table)
