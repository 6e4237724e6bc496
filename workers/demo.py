"""`vividly demo`: the whole pipeline on one machine, with a live progress display."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from db import migrate
from pipeline.settings import get_settings
from pipeline.states import TERMINAL, Status
from pipeline.views import CONTENT_LOCATIONS
from workers.localworker import LocalWorker, running


def run_demo(
    query: str, student: str, wait_seconds: float, out: Console, providers: str = "embedded"
) -> None:
    from db.seed import seed_database

    settings = get_settings()
    out.rule("[bold]Vividly demo")
    out.print("1. migrating the database …")
    migrate.upgrade(settings.database_url)
    out.print("2. loading the topic catalog and a demo school …")
    report = asyncio.run(seed_database(settings.database_url))
    out.print(f"   {report.total} rows written")
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if providers == "google":
            env |= stack.enter_context(google_standins(out))
        out.print("3. starting a Celery worker …")
        stack.enter_context(running(LocalWorker(Path("var/demo-worker.log"), env=env)))
        view = _submit_and_follow(query, student, wait_seconds, out)
    show_result(view, out)
    if Status(view["status"]) not in TERMINAL or view["status"] == Status.failed:
        raise SystemExit(1)


@contextlib.contextmanager
def google_standins(out: Console) -> Iterator[dict[str, str]]:
    """The Google providers' settings, pointed at local stand-ins of Gemini and Cloud
    TTS (tests/google_standins.py: in a checkout of the repository, not in the image)."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "tests" / "google_standins.py").exists():
        raise SystemExit(
            "error: --providers google needs the stand-ins in tests/google_standins.py; "
            "run the demo from a checkout of the repository"
        )
    sys.path.insert(0, str(checkout))  # the console script's path does not hold it
    from tests.google_standins import GoogleStandIns

    standins = GoogleStandIns()
    out.print(f"   Gemini and Cloud TTS stand-ins at {standins.url}")
    try:
        yield {
            "NLU_PROVIDER": "gemini",
            "SCRIPT_PROVIDER": "gemini",
            "SPEECH_PROVIDER": "google",
            "GEMINI_API_KEY": "demo",
            "GEMINI_BASE_URL": standins.url,
            "TTS_API_ENDPOINT": standins.url,
        }
        out.print(
            f"   the stand-ins answered {len(standins.gemini_calls)} Gemini and "
            f"{len(standins.tts_calls)} text-to-speech call(s)"
        )
    finally:
        standins.close()


def _submit_and_follow(
    query: str, student: str, wait_seconds: float, out: Console
) -> dict[str, Any]:
    from workers.cli.common import run, with_api
    from workers.cli.requests import follow

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
    return run(lambda: with_api(lambda api: api.get_request(request_id)))


def show_result(view: dict[str, Any], out: Console) -> None:
    table = Table(title=f"request {view['id']}: {view['status']}", show_lines=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    described = ("topic_id", "interest_id", "style", "cache_hit", "content_type")
    for key in (*described, "duration_seconds", *CONTENT_LOCATIONS, "error_message"):
        if view.get(key) is not None:
            table.add_row(key, str(view[key]))
    out.print(table)
    if view.get("lesson_page_url"):
        # Chromium refuses a captions track from file://; any static server serves the folder.
        out.print(f"   the lesson page: [bold]{view['lesson_page_url']}[/]", highlight=False)
