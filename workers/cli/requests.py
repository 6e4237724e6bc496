"""`vividly submit|status|clarify|retry`: what an API service would do, by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from workers.cli.common import app, clear_errors, err, out, parse_since, run, with_api

if TYPE_CHECKING:
    from pipeline.api import PipelineAPI


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

    async def go() -> str:
        return await with_api(lambda api: api.submit_request(student, query, interest, style))

    request_id = run(go)
    if wait:
        view = run(lambda: follow(request_id, timeout))
        out.print(f"{request_id} {view['status']}", highlight=False)
    out.print(request_id, highlight=False)


async def follow(
    request_id: str,
    max_seconds: float,
    on_change: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll the row until it is terminal or waiting for the student."""
    import time

    from pipeline.states import TERMINAL, WAITING, Status

    deadline = time.monotonic() + max_seconds
    last = None

    async def poll(api: PipelineAPI) -> dict[str, Any]:
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


@app.command("cancel")
def cancel_command(request_id: str) -> None:
    """Cancel a request in progress: it ends failed, "Cancelled." (at once, or at the
    worker's next heartbeat)."""
    view = run(lambda: with_api(lambda api: api.cancel_request(request_id)))
    state = "cancelled" if view["cancelled"] else "cancel requested"
    out.print(f"{request_id} {view['status']} ({state})", highlight=False)


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
