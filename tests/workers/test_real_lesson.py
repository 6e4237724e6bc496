"""A lesson with the real offline media providers, watched at the broker and in the logs."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import av
import pytest

from pipeline.captions import parse_webvtt
from pipeline.lesson import Lesson
from pipeline.providers.spoken import probe_audio_seconds
from tests import fakes
from tests.browser import inspect_lesson_page, static_server
from tests.integration.test_media import MIN_SPEECH_RMS, longest_still_seconds, rms_of_audio
from tests.workers.helpers import ID, BrokerTap, content, fresh_topic, message_bodies, row, settle

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_2"
MARKER = "zorblaxian"  # a word no topic matches, to find the query anywhere it leaks


def local_path(url: str) -> Path:
    return Path(urlparse(url).path)


async def test_real_lesson_is_watchable_and_nothing_leaks(api, worker, tmp_path) -> None:
    fakes.set_media("real")
    topic_id, query = fresh_topic()
    query = f"{query} {MARKER}"
    with BrokerTap() as tap:
        rid = await api.submit_request(STUDENT, query)
        r = await settle(rid, within=90)
    assert r["status"] == "completed", r["error_message"]
    c = content(r["generated_content_id"])
    assert c["content_type"] == "vivid_learning"

    video = local_path(c["video_url"])
    assert video.stat().st_size == c["file_size_bytes"]
    with av.open(str(video)) as f:
        stream = f.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 1280, 720)
        probed = f.duration / av.time_base
    assert abs(probed - c["duration_seconds"]) < 1.0  # duration_seconds is whole seconds
    assert 60 <= probed <= 180
    assert rms_of_audio(video) > MIN_SPEECH_RMS
    assert local_path(c["audio_url"]).suffix == ".mp3"
    assert local_path(c["thumbnail_url"]).read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG

    # Only ids crossed the broker; no query text, name or e-mail in messages or logs.
    bodies = message_bodies(tap.commands)
    # Task messages are [args, kwargs, embed]; the rest are monitoring events.
    tasks = [b for b in bodies if isinstance(b, list) and b and isinstance(b[0], list)]
    assert sum(b[0] == [rid] for b in tasks) >= 4  # nlu (and cache_check), script, audio, video
    # Every task message (this request's and any other still in flight) is one id.
    assert [b for b in tasks if not (ID.fullmatch(str(b[0][0])) and len(b[0]) == 1)] == []
    assert all(b[1] == {} for b in tasks)
    secrets = [MARKER, query, "Ben", "demo_student_2@demo.vividly.invalid"]
    broker = "\n".join(tap.commands + [json.dumps(b) for b in bodies])
    logs = worker.log_text()
    for text in secrets:
        pattern = re.compile(rf"\b{re.escape(text)}\b")
        assert not pattern.search(broker), f"{text!r} reached the broker"
        assert not pattern.search(logs), f"{text!r} reached the worker log"
    assert rid in logs and row(rid)["original_query"] == query
    # Object paths carry the cache key only.
    assert MARKER not in c["video_url"] and topic_id not in c["video_url"]

    # Narrated by the piper voice, captioned from its own timing (cues of at most 7 s and
    # 2 x 42 characters, inside the audio), with a transcript and a lesson page.
    metadata = c["generation_metadata"]
    assert metadata["speech"]["provider"] == "piper"
    view = await api.get_request(rid)
    audio_seconds = probe_audio_seconds(local_path(c["audio_url"]))
    cues = parse_webvtt(local_path(view["captions_url"]).read_text())
    assert len(cues) == metadata["narration"]["caption_cues"]
    assert len(cues) >= audio_seconds / 7
    for cue in cues:
        assert 0 <= cue.start_seconds < cue.end_seconds <= audio_seconds + 0.001
        assert cue.end_seconds - cue.start_seconds <= 7.0
        assert 1 <= len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines)
    assert [c.start_seconds for c in cues] == sorted(c.start_seconds for c in cues)
    lesson = Lesson.model_validate_json(local_path(c["script_url"]).read_bytes())
    transcript = local_path(view["transcript_url"]).read_text()
    assert lesson.title in transcript and lesson.recap in transcript
    page = local_path(view["lesson_page_url"])
    assert page.parent == video.parent and MARKER not in page.read_text()
    with av.open(str(video)) as f:
        assert f.streams.subtitles[0].codec_context.name == "mov_text"
    assert longest_still_seconds(video) <= 8.0

    # The page in a real browser, served as storage would serve the folder.
    screenshot = Path(os.environ.get("TEST_ARTIFACTS", tmp_path)) / "real_lesson_page.png"
    with static_server(page.parent) as base:
        facts = await asyncio.to_thread(inspect_lesson_page, base + page.name, screenshot)
    assert facts.media_tag == "video" and facts.played
    assert facts.duration_seconds == pytest.approx(probed, abs=0.2)
    assert facts.cue_count == len(cues) and facts.first_cue_text == cues[0].text.replace(
        " ", "\n", 0
    )
    right = lesson.check_question.options[lesson.check_question.answer_index]
    assert facts.answer_hidden_before and right in facts.answer_text
    assert screenshot.read_bytes().startswith(b"\x89PNG")
