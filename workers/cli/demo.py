"""`vividly demo`: the whole pipeline on one machine, with a progress display."""

from __future__ import annotations

import typer

from workers.cli.common import app, clear_errors, out

DEMO_QUERY = "how does newton's third law work in basketball?"
DEMO_STUDENT = "user_demo_student_1"


@app.command("demo")
def demo_command(
    query: str = typer.Argument(DEMO_QUERY, help="The question to turn into a lesson."),
    student: str = typer.Option(DEMO_STUDENT, "--student"),
    wait_seconds: float = typer.Option(180.0, "--timeout"),
    providers: str = typer.Option(
        "embedded",
        "--providers",
        help="embedded (offline), or google: Gemini and Cloud TTS, played by the local "
        "stand-ins of tests/google_standins.py (no account, no network).",
    ),
) -> None:
    """Migrate, seed, start a worker, submit a question and follow it to the end."""
    from workers.demo import run_demo

    if providers not in ("embedded", "google"):
        raise typer.BadParameter("choose embedded or google", param_hint="--providers")
    clear_errors(lambda: run_demo(query, student, wait_seconds, out, providers))
