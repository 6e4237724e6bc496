"""What a stage needs, built once per worker process (see workers/runtime.py)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.catalog import CatalogStore
from db.session import single_statements, unit_of_work
from pipeline.catalog import Catalog
from pipeline.dispatch import Dispatch
from pipeline.providers.protocols import (
    ArchiveWarehouse,
    ObjectStorage,
    SafetyGate,
    ScriptWriter,
    SpeechSynthesizer,
    TopicResolver,
    VideoRenderer,
)
from pipeline.scratch import scratch_folder
from pipeline.settings import Settings
from pipeline.states import Stage

# Topics and interests change rarely; a worker re-reads them at most this often.
CATALOG_TTL_SECONDS = 60.0


@dataclass
class Providers:
    resolver: TopicResolver
    writer: ScriptWriter
    speech: SpeechSynthesizer
    video: VideoRenderer
    storage: ObjectStorage
    safety: SafetyGate
    archive: ObjectStorage  # retention archives: apart from the content students see
    warehouse: ArchiveWarehouse | None = None  # BigQuery loads of the archives, if set


class QueueProbe(Protocol):
    """What the broker says about a stage's queue (implemented in workers/, on Redis)."""

    def oldest_sent_at(self, stage: Stage) -> float | None:
        """When the oldest message waiting in the stage's queue was sent (epoch
        seconds), None if the queue is empty; raises if the broker cannot be read."""
        ...


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    providers: Providers
    scratch: Path  # where stages make their temporary folders (pipeline/scratch.py)
    # Set in worker processes: the broker's queues (for the watchdog) and a way to send
    # tasks right after a transaction commits (for jobs that dispatch batch by batch).
    queues: QueueProbe | None = None
    enqueue: Callable[[Sequence[Dispatch]], None] | None = None
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_at: float = 0.0

    def uow(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return unit_of_work(self.engine)

    def scratch_folder(self) -> tempfile.TemporaryDirectory[str]:
        """A folder for one stage's temporary files, removed when the stage leaves it."""
        return scratch_folder(self.scratch)

    def statements(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """Statements that each commit alone (db.session.single_statements)."""
        return single_statements(self.engine)

    async def warm_up(self) -> None:
        """Load the catalog and let the resolver index it now, not on a student's request
        (the semantic index takes a few seconds to build)."""
        warm_up = getattr(self.providers.resolver, "warm_up", None)
        if warm_up is not None:
            await warm_up(await self.catalog())

    async def catalog(self) -> Catalog:
        if self._catalog is None or time.monotonic() - self._catalog_at > CATALOG_TTL_SECONDS:
            async with self.uow() as s:
                self._catalog = await CatalogStore(s).load()
            self._catalog_at = time.monotonic()
        return self._catalog
