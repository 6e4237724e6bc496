"""The pipeline API wired to Celery, for API services and the CLI."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.api import PipelineAPI
from pipeline.dispatch import Dispatch
from pipeline.providers.protocols import ObjectStorage
from workers.app import app, task_name

log = structlog.get_logger("vividly.dispatch")


def enqueue(dispatch: Dispatch) -> None:
    """Send a stage's task; called only after the transaction that decided it committed.

    The row is the record and the broker only says "work is waiting": if the broker
    cannot take the message now (Redis restarting), the request keeps its status and the
    watchdog dispatches it again once the message is found missing. So a failed send is
    logged, never raised into a caller whose transaction has already committed."""
    try:
        app.send_task(task_name(dispatch.stage), args=[dispatch.request_id])
    except Exception as e:
        log.warning(
            "dispatch deferred to the watchdog",
            request_id=dispatch.request_id,
            stage=str(dispatch.stage),
            error_type=type(e).__name__,
        )


def send(dispatches: Iterable[Dispatch]) -> None:
    for d in dispatches:
        enqueue(d)


def pipeline_api(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStorage | None = None
) -> PipelineAPI:
    from pipeline.settings import get_settings

    return PipelineAPI(sessions, enqueue, storage, get_settings().max_query_chars)
