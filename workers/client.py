"""The pipeline API wired to Celery, for API services and the CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.api import PipelineAPI
from pipeline.providers.protocols import ObjectStorage
from pipeline.runner import Dispatch
from workers.app import app, task_name


def enqueue(dispatch: Dispatch) -> None:
    app.send_task(task_name(dispatch.stage), args=[dispatch.request_id])


def pipeline_api(
    sessions: async_sessionmaker[AsyncSession], storage: ObjectStorage | None = None
) -> PipelineAPI:
    return PipelineAPI(sessions, enqueue, storage)
