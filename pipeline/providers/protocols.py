"""What each provider does, as small Protocols. Implementations are chosen by settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pipeline.catalog import Catalog, InterestInfo, TopicInfo
from pipeline.lesson import Lesson

T = TypeVar("T")


@dataclass(frozen=True)
class TopicOption:
    topic_id: str
    title: str
    confidence: float


@dataclass(frozen=True)
class Understanding:
    """What NLU made of a query. `topic_id` is None when it needs a clarification."""

    topic_id: str | None
    confidence: float
    interest_id: str | None  # an interest named in the query, if any
    options: list[TopicOption] = field(default_factory=list)
    question: str | None = None  # the clarification question shown to the student


class TopicResolver(Protocol):
    async def understand(self, query: str, catalog: Catalog) -> Understanding: ...


class ScriptWriter(Protocol):
    async def write(self, topic: TopicInfo, interest: InterestInfo, style: str) -> Lesson: ...


@dataclass(frozen=True)
class SpokenSentence:
    """When one sentence of the narration is heard: captions and slides follow it."""

    text: str
    paragraph: int  # which paragraph of the narration (parts are separated by a blank line)
    start_seconds: float
    end_seconds: float


@dataclass(frozen=True)
class Audio:
    path: Path  # a local file the caller owns
    mime_type: str  # audio/mpeg or audio/ogg
    extension: str  # "mp3" or "opus"
    duration_seconds: float
    # Who spoke it: provider, and for a service its voice and the characters sent.
    provenance: dict[str, Any] = field(default_factory=dict)
    # Every sentence spoken, in order, inside [0, duration_seconds].
    sentences: tuple[SpokenSentence, ...] = ()


class SpeechSynthesizer(Protocol):
    async def synthesize(self, text: str, workdir: Path) -> Audio:
        """Speak `text` (paragraphs separated by blank lines), sentence by sentence."""
        ...


@dataclass(frozen=True)
class Video:
    path: Path  # MP4 (H.264 + AAC), 1280x720
    thumbnail_path: Path  # JPEG
    duration_seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)


class VideoRenderer(Protocol):
    async def render(
        self, lesson: Lesson, audio: Path, sentences: Sequence[SpokenSentence], workdir: Path
    ) -> Video:
        """The lesson over `audio`, its pictures following when each sentence is said."""
        ...


class ObjectStorage(Protocol):
    """Objects addressed by key (`content/{cache_key}/audio.mp3`); locations are URLs
    (`file:///…` or `gs://bucket/…`) that the database stores."""

    async def put_file(self, key: str, path: Path, content_type: str) -> str: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> str: ...

    async def get_bytes(self, location: str) -> bytes: ...

    async def download(self, location: str, path: Path) -> None: ...

    async def exists(self, location: str) -> bool: ...

    async def size(self, location: str) -> int: ...

    async def delete(self, location: str) -> bool:
        """Remove the object; False if there was none (deleting twice is not an error)."""
        ...

    def signed_url(self, location: str) -> str: ...

    def location_for(self, key: str) -> str:
        """The location an object stored under `key` has (ValueError for a bad key)."""
        ...


class ProviderGuard(Protocol):
    """Admission for the calls to an external provider: a circuit breaker and a rate
    limit per provider, shared by every worker (workers/guard.py keeps them in Redis).
    `call` raises ProviderDeferred when the provider cannot take the call yet; the
    call's own TransientStageErrors count towards opening the breaker."""

    async def call(self, provider: str, fn: Callable[[], Awaitable[T]]) -> T: ...

    def count(self, provider: str, measure: str, amount: int) -> None:
        """What a call used: input_tokens, output_tokens or characters (for metrics)."""
        ...


class NoGuard:
    """No breaker, no limit: in-process use (tests, the CLI) and the offline providers."""

    async def call(self, provider: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await fn()

    def count(self, provider: str, measure: str, amount: int) -> None:
        pass


class ArchiveWarehouse(Protocol):
    """Where archived rows are loaded for analytics (BigQuery), beside the archive."""

    async def load(self, table: str, archive_key: str, data: bytes) -> str: ...


@dataclass(frozen=True)
class SafetyVerdict:
    safe: bool
    reason: str | None = None  # a sentence for error_message; never quotes the input
    category: str | None = None  # the harm category declined (pipeline.safety's names)


class SafetyGate(Protocol):
    def check_query(self, query: str) -> SafetyVerdict: ...

    def check_lesson(self, lesson: Lesson) -> SafetyVerdict: ...
