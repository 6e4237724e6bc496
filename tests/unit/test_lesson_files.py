"""The files beside a lesson's media, on local storage (no services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import captions
from pipeline.lesson_files import load_sentences, store_narration_files
from pipeline.providers.protocols import SpokenSentence
from pipeline.providers.storage import LocalStorage
from tests.unit.test_slide_timeline import LESSON

SPOKEN = (
    SpokenSentence("Ever rolled from concrete onto grass?", 0, 0.0, 2.0),
    SpokenSentence("Your board swings sideways.", 0, 2.2, 4.0),
)


async def store(storage: LocalStorage, key: str) -> dict[str, Any]:
    return await store_narration_files(storage, key, LESSON, SPOKEN, 4.5, "audio.mp3", "audio/mpeg")


async def test_captions_transcript_timings_and_page_are_written_beside_the_audio(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    files = await store_narration_files(
        storage, "k" * 64, LESSON, SPOKEN, 4.5, "audio.mp3", "audio/mpeg"
    )
    folder = tmp_path / "content" / ("k" * 64)
    assert sorted(p.name for p in folder.iterdir()) == [
        "captions.vtt",
        "lesson.html",
        "timings.json",
        "transcript.txt",
    ]
    cues = captions.parse_webvtt((folder / "captions.vtt").read_text())
    assert [c.text for c in cues] == [s.text for s in SPOKEN] and files["caption_cues"] == 2
    assert "<audio" in (folder / "lesson.html").read_text()
    assert (await load_sentences(storage, files, LESSON, 4.5)) == SPOKEN


async def test_timings_that_are_gone_or_unreadable_are_estimated(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    files = await store_narration_files(
        storage, "j" * 64, LESSON, SPOKEN, 4.5, "audio.mp3", "audio/mpeg"
    )
    timings = tmp_path / "content" / ("j" * 64) / "timings.json"
    timings.write_text("{not json")
    unreadable = await load_sentences(storage, files, LESSON, 60.0)
    timings.unlink()
    gone = await load_sentences(storage, files, LESSON, 60.0)
    for spans in (unreadable, gone):
        assert len(spans) > len(SPOKEN) and spans[-1].end_seconds == 60.0
