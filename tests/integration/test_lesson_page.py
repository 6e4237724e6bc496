"""The lesson page in a real browser: a lesson folder as storage holds it, served over http.

A small real MP4 (H.264 + AAC, made with PyAV), real WebVTT captions and the page from
pipeline/lesson_page.py, opened in Debian's headless Chromium (tests/browser.py). Without
Chromium or Playwright the test is skipped on a developer machine, but fails in CI (CI
set), where a missing browser must not pass as green.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.lesson import Lesson
from pipeline.lesson_page import lesson_page
from tests.browser import inspect_lesson_page, missing_browser, static_server

MISSING = missing_browser()
pytestmark = pytest.mark.skipif(
    MISSING is not None and not os.environ.get("CI"),
    reason=f"no headless browser: {MISSING}",
)

SECONDS = 4.0
WIDTH, HEIGHT = 320, 240
FPS = 25
SAMPLE_RATE = 44_100
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Hostile characters in the title: the browser must show them as text.
TITLE = 'Why a straw looks "bent" in water <script>alert(1)</script> & why'
CUES = ["Light is slower in water than in air.", "The part that slows first turns the beam."]
CAPTIONS = f"""WEBVTT

00:00:00.000 --> 00:00:02.000
{CUES[0]}

00:00:02.000 --> 00:00:04.000
{CUES[1]}
"""


def make_lesson() -> Lesson:
    return Lesson.model_validate(
        {
            "title": TITLE,
            "topic_id": "physics.optics.refraction",
            "interest_id": "skateboarding",
            "style": "story",
            "grade_band": "9-12",
            "hook": "Ever rolled from concrete onto grass and felt your board swing sideways?",
            "sections": [
                {
                    "heading": "Light changes speed",
                    "narration": "Light travels slower through water than through air.",
                    "caption": CUES[0],
                },
                {
                    "heading": "Speed change means a turn",
                    "narration": "The side of the beam that enters the water first slows "
                    "first, so the beam turns.",
                    "caption": CUES[1],
                },
                {
                    "heading": "Your eyes are fooled",
                    "narration": "Your brain traces light back in straight lines.",
                    "caption": "The brain traces light back in straight lines.",
                },
            ],
            "recap": "Light bends when it changes speed, so the straw looks broken.",
            "check_question": {
                "question": "Why does the straw look bent?",
                "options": ["Glass is curved", "Light changes speed", "The water bends it"],
                "answer_index": 1,
            },
        }
    )


def write_mp4(path: Path) -> None:
    """SECONDS of 320x240 H.264 (a bar sweeping across) with an AAC 440 Hz tone."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # Baseline-compatible and no B-frames: the plainest H.264 any player decodes.
        video.options = {"profile": "baseline", "bf": "0"}
        audio = out.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        for i in range(int(SECONDS * FPS)):
            frame = np.full((HEIGHT, WIDTH, 3), 30, dtype=np.uint8)
            x = i * WIDTH // int(SECONDS * FPS)
            frame[:, x : x + 16] = (230, 120, 20)
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode())
        mux_tone(out, audio, chunk=1024)


def write_mp3(path: Path) -> None:
    """SECONDS of a 440 Hz tone as MP3: the audio-only lesson, before its video is ready."""
    with av.open(str(path), "w", format="mp3") as out:
        audio = out.add_stream("libmp3lame", rate=SAMPLE_RATE)
        audio.layout = "mono"
        mux_tone(out, audio, chunk=1152)


def mux_tone(out: av.container.OutputContainer, audio: av.AudioStream, chunk: int) -> None:
    """SECONDS of a 440 Hz tone into `audio`, `chunk` samples a frame (the encoder's size)."""
    for start in range(0, int(SECONDS * SAMPLE_RATE), chunk):
        t = np.arange(start, start + chunk) / SAMPLE_RATE
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        tone = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        tone.sample_rate, tone.pts, tone.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
        out.mux(audio.encode(tone))
    out.mux(audio.encode())


def lesson_folder(root: Path, *, video: bool) -> Lesson:
    """content/{cache_key}/ as storage holds it: media, captions, transcript and the page."""
    lesson = make_lesson()
    root.mkdir(parents=True, exist_ok=True)
    (root / "captions.vtt").write_text(CAPTIONS, encoding="utf-8")
    (root / "transcript.txt").write_text(lesson.narration(), encoding="utf-8")
    if video:
        write_mp4(root / "video.mp4")
        Image.new("RGB", (WIDTH, HEIGHT), (30, 30, 30)).save(root / "thumbnail.jpg", "JPEG")
        page = lesson_page(
            lesson, media="video.mp4", media_type="video/mp4", poster="thumbnail.jpg"
        )
    else:
        write_mp3(root / "audio.mp3")
        page = lesson_page(lesson, media="audio.mp3", media_type="audio/mpeg")
    (root / "lesson.html").write_text(page, encoding="utf-8")
    return lesson


def artifacts(tmp_path: Path) -> Path:
    return Path(os.environ.get("TEST_ARTIFACTS", tmp_path))


@pytest.mark.parametrize(
    ("video", "screenshot_name"),
    [(True, "lesson_page.png"), (False, "lesson_page_audio.png")],
    ids=["video", "audio-only"],
)
def test_lesson_page_plays_with_captions_and_reveals_the_answer(
    tmp_path: Path, video: bool, screenshot_name: str
) -> None:
    folder = tmp_path / "content" / "lesson-key"
    lesson = lesson_folder(folder, video=video)
    screenshot = artifacts(tmp_path) / screenshot_name

    with static_server(folder) as base:
        facts = inspect_lesson_page(base + "lesson.html", screenshot)

    assert facts.heading == TITLE  # escaped in the HTML, shown as the original text
    assert facts.media_tag == ("video" if video else "audio")
    assert facts.duration_seconds == pytest.approx(SECONDS, abs=0.15)
    assert facts.cue_count == 2
    assert facts.first_cue_text == CUES[0]
    assert facts.played
    if video:
        assert facts.video_frames_decoded and facts.video_frames_decoded > 0
    right = lesson.check_question.answer_index
    assert facts.answer_hidden_before
    assert facts.answer_text == f"B. {lesson.check_question.options[right]}"
    # Self-contained: only the folder's own files were asked for, and nothing complained.
    assert facts.requested_urls and all(u.startswith(base) for u in facts.requested_urls)
    assert facts.console_errors == []
    assert screenshot.is_file()
    assert screenshot.read_bytes().startswith(PNG_MAGIC)
