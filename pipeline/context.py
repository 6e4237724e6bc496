"""What a stage needs, built once per worker process (see workers/runtime.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.repository import Repository
from db.session import unit_of_work
from pipeline.providers.protocols import (
    Catalog,
    ObjectStorage,
    SafetyGate,
    ScriptWriter,
    SpeechSynthesizer,
    TopicResolver,
    VideoRenderer,
)
from pipeline.settings import Settings

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


@dataclass
class Context:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    providers: Providers
    workdir: Path
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_at: float = 0.0

    def uow(self):  # type: ignore[no-untyped-def]
        return unit_of_work(self.sessions)

    async def warm_up(self) -> None:
        """Load the catalog and let the resolver index it now, not on a student's request
        (the semantic index takes a few seconds to build)."""
        warm_up = getattr(self.providers.resolver, "warm_up", None)
        if warm_up is not None:
            await warm_up(await self.catalog())

    async def catalog(self) -> Catalog:
        if self._catalog is None or time.monotonic() - self._catalog_at > CATALOG_TTL_SECONDS:
            async with self.uow() as s:
                self._catalog = await Repository(s).catalog()
            self._catalog_at = time.monotonic()
        return self._catalog
