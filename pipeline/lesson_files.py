"""The files beside a lesson's media, in its folder `content/{cache_key}/`: captions
(WebVTT) and a transcript from the narration's own timing, the timings themselves (the
video stage builds the slides on them), and `lesson.html`, a page with the player, the
captions track, the transcript and the check question, all linked relatively so the
folder opens as it is, from storage or behind a static server.

The seed's `generated_content` has no column for them: their locations are kept in
`generation_metadata["narration"]`.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline import captions
from pipeline.cache import CAPTIONS, PAGE, TIMINGS, TRANSCRIPT, object_key
from pipeline.concurrency import side_by_side
from pipeline.errors import PermanentStageError
from pipeline.lesson import Lesson
from pipeline.lesson_page import lesson_page
from pipeline.providers.protocols import ObjectStorage, SpokenSentence
from pipeline.providers.spoken import estimated_sentences


async def store_narration_files(
    storage: ObjectStorage,
    key: str,
    lesson: Lesson,
    sentences: tuple[SpokenSentence, ...],
    duration_seconds: float,
    audio_name: str,
    audio_type: str,
) -> dict[str, Any]:
    """Write captions, transcript, timings and an audio-only page; their locations."""
    if not sentences:  # a voice that does not time its sentences
        sentences = estimated_sentences(lesson.narration(), duration_seconds)
    cues = captions.cues(sentences, duration_seconds)
    vtt = captions.webvtt(cues).encode()
    text = captions.transcript(lesson.narration_parts(), lesson.title).encode()
    # Written side by side: each is a durable write (an fsync, or a GCS upload) of its own.
    urls = await side_by_side(
        storage.put_bytes(object_key(key, CAPTIONS), vtt, "text/vtt"),
        storage.put_bytes(object_key(key, TRANSCRIPT), text, "text/plain; charset=utf-8"),
        storage.put_bytes(object_key(key, TIMINGS), timings_json(sentences), "application/json"),
        store_page(storage, key, lesson, audio_name, audio_type),
    )
    names = ("captions_url", "transcript_url", "timings_url", "lesson_page_url")
    return {**dict(zip(names, urls, strict=True)), "caption_cues": len(cues)}


async def store_page(
    storage: ObjectStorage, key: str, lesson: Lesson, media: str, media_type: str
) -> str:
    poster = "thumbnail.jpg" if media_type.startswith("video/") else None
    page = lesson_page(lesson, media=media, media_type=media_type, poster=poster)
    return await storage.put_bytes(object_key(key, PAGE), page.encode(), "text/html")


async def load_sentences(
    storage: ObjectStorage, narration: dict[str, Any], lesson: Lesson, duration_seconds: float
) -> tuple[SpokenSentence, ...]:
    """The sentence timings the audio stage stored; estimated for content made before
    there were any (its audio is still the same)."""
    url = narration.get("timings_url")
    if url:
        try:
            return parse_timings(await storage.get_bytes(url))
        except PermanentStageError:  # gone (a transient error is retried as usual)
            pass
        except (ValueError, KeyError, TypeError):  # unreadable: the audio is still good
            pass
    return estimated_sentences(lesson.narration(), duration_seconds)


def timings_json(sentences: tuple[SpokenSentence, ...]) -> bytes:
    return json.dumps(
        [
            {
                "text": s.text,
                "paragraph": s.paragraph,
                "start": round(s.start_seconds, 3),
                "end": round(s.end_seconds, 3),
            }
            for s in sentences
        ]
    ).encode()


def parse_timings(data: bytes) -> tuple[SpokenSentence, ...]:
    return tuple(
        SpokenSentence(str(s["text"]), int(s["paragraph"]), float(s["start"]), float(s["end"]))
        for s in json.loads(data)
    )
