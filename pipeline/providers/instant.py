"""Instant stand-ins for speech and video: no media work at all.

For benchmarks of the pipeline machinery and for tests that count calls; the objects
they produce are placeholders, not playable media.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.lesson import Lesson
from pipeline.providers.protocols import Audio, Video

PLACEHOLDER_SECONDS = 1.0


class InstantSpeech:
    async def synthesize(self, text: str, workdir: Path) -> Audio:
        path = workdir / "narration.mp3"
        path.write_bytes(b"placeholder narration")
        return Audio(path, "audio/mpeg", "mp3", PLACEHOLDER_SECONDS)


class InstantVideo:
    async def render(self, lesson: Lesson, audio: Path, workdir: Path) -> Video:
        video, thumb = workdir / "lesson.mp4", workdir / "thumbnail.jpg"
        video.write_bytes(b"placeholder video")
        thumb.write_bytes(b"placeholder thumbnail")
        return Video(video, thumb, PLACEHOLDER_SECONDS, {"placeholder": True})
