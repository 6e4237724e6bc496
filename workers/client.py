"""The pipeline API wired to Celery, for API services and the CLI: `VividlyClient`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import structlog
from kombu.connection import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from db.events import StatusEvent, StatusListener
from db.session import create_engine
from pipeline.api import PipelineAPI
from pipeline.dispatch import Dispatch
from pipeline.progress import RESYNC_SECONDS, follow
from pipeline.providers.protocols import ObjectStorage
from pipeline.views import RequestEvent, RequestView
from workers.app import app, task_name

log = structlog.get_logger("vividly.dispatch")


def enqueue(
    dispatch: Dispatch, connection: Connection | None = None, countdown: float | None = None
) -> None:
    """Send a stage's task (due in `countdown` seconds: a retry); called only after the
    transaction that decided it committed.

    The row is the record and the broker only says "work is waiting": if the broker
    cannot take the message now (Redis restarting), the request keeps its status and the
    watchdog dispatches it again once the message is found missing. So a failed send is
    logged, never raised into a caller whose transaction has already committed."""
    try:
        app.send_task(
            task_name(dispatch.stage),
            args=[dispatch.request_id],
            connection=connection,
            countdown=countdown,
        )
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


def pipeline_api(engine: AsyncEngine, storage: ObjectStorage | None = None) -> PipelineAPI:
    from pipeline.settings import get_settings

    return PipelineAPI(engine, enqueue, storage, get_settings().max_query_chars)


class VividlyClient:
    """The pipeline for an API service, in one object that owns its database engine, its
    broker connection and its status-event listener:

        async with VividlyClient() as vividly:             # or VividlyClient(db_url, broker_url)
            request_id = await vividly.submit(student_id, "why is the sky blue?")
            async for event in vividly.events(request_id):  # ends at completed / failed
                ...

    URLs default to the settings (DATABASE_URL, REDIS_URL)."""

    def __init__(
        self,
        database_url: str | None = None,
        broker_url: str | None = None,
        *,
        resync_seconds: float = RESYNC_SECONDS,
    ) -> None:
        from pipeline.settings import get_settings

        settings = get_settings()
        self._database_url = database_url or settings.database_url
        self._broker_url = broker_url or settings.redis_url
        self._max_query_chars = settings.max_query_chars
        self._resync_seconds = resync_seconds
        self._engine: AsyncEngine | None = None
        self._broker: Connection | None = None
        self._listener: StatusListener | None = None
        self._api: PipelineAPI | None = None

    async def __aenter__(self) -> VividlyClient:
        from pipeline.providers.factory import open_storage
        from pipeline.settings import get_settings
        from workers import tracing

        tracing.configure(get_settings().trace_exporter, "vividly-api")
        self._engine = create_engine(self._database_url)
        self._broker = app.connection_for_write(self._broker_url)
        self._listener = StatusListener(_libpq_url(self._database_url))
        self._api = PipelineAPI(
            self._engine,
            self._enqueue,
            open_storage(get_settings()),
            self._max_query_chars,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._listener is not None:
            await self._listener.close()
        if self._broker is not None:
            self._broker.release()
        if self._engine is not None:
            await self._engine.dispose()
        self._api = self._listener = self._broker = self._engine = None

    @property
    def api(self) -> PipelineAPI:
        if self._api is None:
            raise RuntimeError("use VividlyClient in `async with`")
        return self._api

    async def submit(
        self,
        student_id: str,
        query: str,
        *,
        interest_id: str | None = None,
        style: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        return await self.api.submit_request(student_id, query, interest_id, style, idempotency_key)

    async def clarify(
        self, request_id: str, *, topic_id: str | None = None, answer: str | None = None
    ) -> str:
        return await self.api.clarify(request_id, topic_id, answer)

    async def get(self, request_id: str, *, sign: bool = False) -> RequestView:
        return RequestView.model_validate(await self.api.get_request(request_id, sign=sign))

    async def retry(self, request_id: str) -> str:
        """Re-open a failed request at the stage that failed; that stage's name."""
        return str(await self.api.retry_request(request_id))

    async def cancel(self, request_id: str) -> RequestView:
        """Cancel a request in progress (it ends `failed`, "Cancelled.", `cancelled` set);
        a RequestError for one already completed or failed."""
        return RequestView.model_validate(await self.api.cancel_request(request_id))

    async def events(self, request_id: str) -> AsyncIterator[RequestEvent]:
        """The request's current state, then each committed status change, until it is
        completed or failed; a dropped connection resubscribes and resynchronises."""
        if self._listener is None:
            raise RuntimeError("use VividlyClient in `async with`")

        async def current() -> StatusEvent:
            view = await self.get(request_id)
            return StatusEvent(view.id, None, view.status, datetime.now(UTC), view.content)

        async for event in follow(request_id, self._listener, current, self._resync_seconds):
            yield RequestEvent(**vars(event))

    def _enqueue(self, dispatch: Dispatch) -> None:
        enqueue(dispatch, self._broker)


def _libpq_url(url: str) -> str:
    """postgresql+asyncpg://… as asyncpg.connect takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
