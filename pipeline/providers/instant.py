"""Instant stand-ins for speech and video: no media work at all.

For benchmarks of the pipeline machinery and for tests that count calls; the objects
they produce are placeholders, not playable media.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.context import Providers
from pipeline.lesson import Lesson
from pipeline.providers.protocols import Audio, SpokenSentence, Video
from pipeline.settings import Settings

PLACEHOLDER_SECONDS = 1.0


class InstantSpeech:
    async def synthesize(self, text: str, workdir: Path) -> Audio:
        path = workdir / "narration.mp3"
        path.write_bytes(b"placeholder narration")
        return Audio(path, "audio/mpeg", "mp3", PLACEHOLDER_SECONDS)


class InstantVideo:
    async def render(
        self, lesson: Lesson, audio: Path, sentences: Sequence[SpokenSentence], workdir: Path
    ) -> Video:
        video, thumb = workdir / "lesson.mp4", workdir / "thumbnail.jpg"
        video.write_bytes(b"placeholder video")
        thumb.write_bytes(b"placeholder thumbnail")
        return Video(video, thumb, PLACEHOLDER_SECONDS, {"placeholder": True})


def build_instant(settings: Settings) -> Providers:
    """The embedded providers with instant speech and video: PROVIDER_FACTORY=
    pipeline.providers.instant:build_instant (benchmarks of the pipeline machinery)."""
    from dataclasses import replace

    from pipeline.providers.factory import build_default

    return replace(build_default(settings), speech=InstantSpeech(), video=InstantVideo())
