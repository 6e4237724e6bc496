"""Real narration and video: espeak-ng, Piper and PyAV, no stand-ins."""

from __future__ import annotations

import math
import shutil
import time
from array import array
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.captions import cues
from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.lesson import Lesson
from pipeline.providers.protocols import Audio, Video
from pipeline.providers.slide_pictures import HEIGHT, PROGRESS_PX
from pipeline.providers.slide_theme import CORRECT
from pipeline.providers.slide_timeline import video_seconds as video_seconds_for
from pipeline.providers.speech_espeak import EspeakSpeech
from pipeline.providers.spoken import split_sentences
from pipeline.providers.video_slides import THUMBNAIL_SIZE, SlideVideoRenderer

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)

# Quiet speech is around 0.05 RMS (full scale 1.0); digital silence is 0.
MIN_SPEECH_RMS = 0.01


def make_lesson() -> Lesson:
    """About 100 narration words across a hook, three sections, a recap and a question."""
    return Lesson(
        title="Why a straw looks bent in a glass of water",
        topic_id="physics.optics.refraction",
        interest_id="skateboarding",
        style="story",
        grade_band="6-8",
        subject="physics",
        interest_name="Skateboarding",
        hook="Ever rolled from smooth concrete onto grass and felt your board swing sideways?",
        sections=[
            {
                "heading": "Light changes speed",
                "narration": "Light travels fast through air but slower through water. "
                "When it crosses the surface, its speed changes right at the boundary.",
                "caption": "Light is slower in water than in air.",
            },
            {
                "heading": "Speed change means a turn",
                "narration": "Like your front wheels hitting grass first, the side of the "
                "light beam that enters the water first slows down first, so the beam turns.",
                "caption": "The part that slows first makes the beam turn toward the normal.",
            },
            {
                "heading": "Your eyes are fooled",
                "narration": "Your brain assumes light travels in straight lines, so it "
                "places the underwater part of the straw where it is not.",
                "caption": "The brain traces light back in straight lines.",
            },
        ],
        recap="Light bends when it changes speed between materials, and that bending makes "
        "the straw look broken.",
        check_question={
            "question": "Why does the straw look bent?",
            "options": ["Light changes speed", "The water bends the straw", "Glass is curved"],
            "answer_index": 0,
        },
    )


def rms_of_audio(path: Path) -> float:
    """Root mean square of the first audio stream, full scale 1.0."""
    total, count = 0.0, 0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        # Packed 16-bit mono makes each frame's first plane a plain array of samples.
        resampler = av.AudioResampler(format="s16", layout="mono", rate=stream.rate)
        for decoded in container.decode(stream):
            for frame in resampler.resample(decoded):
                samples = array("h", bytes(frame.planes[0])[: frame.samples * 2])
                total += sum(x * x for x in samples)
                count += len(samples)
    assert count > 0
    return math.sqrt(total / count) / 32768


@pytest.fixture(scope="module")
async def narration(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    workdir = tmp_path_factory.mktemp("speech")
    return await EspeakSpeech().synthesize(make_lesson().narration(), workdir)


@pytest.fixture(scope="module")
async def video(narration: Audio, tmp_path_factory: pytest.TempPathFactory) -> Video:
    workdir = tmp_path_factory.mktemp("video")
    return await SlideVideoRenderer().render(
        make_lesson(), narration.path, narration.sentences, workdir
    )


def test_lesson_is_about_100_words() -> None:
    assert 90 <= len(make_lesson().narration().split()) <= 110


def test_narration_is_an_mp3_of_speech(narration: Audio) -> None:
    assert narration.path.exists()
    assert narration.path.suffix == ".mp3"
    assert (narration.mime_type, narration.extension) == ("audio/mpeg", "mp3")
    assert 20 <= narration.duration_seconds <= 60
    with av.open(str(narration.path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        assert stream.channels == 1
    assert rms_of_audio(narration.path) > MIN_SPEECH_RMS
    assert list(narration.path.parent.iterdir()) == [narration.path]


def test_video_is_720p_h264_with_aac(video: Video, narration: Audio) -> None:
    assert video.path.exists()
    with av.open(str(video.path)) as container:
        assert "mp4" in container.format.name
        v = container.streams.video[0]
        a = container.streams.audio[0]
        assert (v.codec_context.width, v.codec_context.height) == (1280, 720)
        assert v.codec_context.name == "h264"
        assert v.codec_context.pix_fmt == "yuv420p"
        assert a.codec_context.name == "aac"
        assert v.duration is not None
        video_seconds = float(v.duration * v.time_base)
        container_seconds = container.duration / av.time_base
    # The question waits with a countdown, then shows its answer, after the narration.
    expected = video_seconds_for(narration.duration_seconds)
    assert video_seconds == pytest.approx(expected, abs=0.1)
    assert container_seconds == pytest.approx(expected, abs=0.1)
    assert video.duration_seconds == pytest.approx(expected, abs=0.1)
    assert video.metadata == {
        "width": 1280,
        "height": 720,
        "fps": video.metadata["fps"],
        "codec": "h264",
        "audio_codec": "aac",
        "subtitle_codec": "mov_text",
        "slides": 6,  # title, three sections, recap, question
        "scenes": video.metadata["scenes"],
    }
    # A scene for each caption cue at least: the slides build up as they are spoken.
    assert video.metadata["scenes"] >= len(cues(narration.sentences, narration.duration_seconds))


def test_narration_says_when_each_sentence_is_spoken(narration: Audio) -> None:
    lesson = make_lesson()
    assert [s.text for s in narration.sentences] == [
        t for _, t in split_sentences(lesson.narration())
    ]
    assert {s.paragraph for s in narration.sentences} == set(range(len(lesson.narration_parts())))
    previous_end = 0.0
    for sentence in narration.sentences:
        assert previous_end <= sentence.start_seconds < sentence.end_seconds
        previous_end = sentence.end_seconds
    assert previous_end <= narration.duration_seconds


def test_video_carries_the_captions_as_a_subtitle_track(video: Video, narration: Audio) -> None:
    expected = cues(narration.sentences, narration.duration_seconds)
    with av.open(str(video.path)) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == "mov_text"
        assert stream.metadata.get("language") == "eng"
        samples = [
            (float(p.pts * p.time_base), bytes(p)[2:].decode())
            for p in container.demux(stream)
            if p.size > 2 and p.pts is not None
        ]
    assert [text for _, text in samples] == ["\n".join(c.lines) for c in expected]
    assert [start for start, _ in samples] == pytest.approx(
        [c.start_seconds for c in expected], abs=0.002
    )


def longest_still_seconds(path: Path) -> float:
    """The longest time the picture above the progress bar (which moves every second on
    its own) stays unchanged, from frame differences of the decoded video."""
    still_since, longest, previous = 0.0, 0.0, None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            picture = frame.to_ndarray(format="gray")[: HEIGHT - PROGRESS_PX - 2].astype(int)
            if previous is not None and np.abs(picture - previous).max() > 32:
                still_since = t
            longest = max(longest, t - still_since)
            previous = picture
    return longest


def test_the_picture_changes_at_least_every_8_seconds(video: Video) -> None:
    assert longest_still_seconds(video.path) <= 8.0


def test_video_ends_on_the_answer(video: Video) -> None:
    """The last picture marks the right option in the answer colour; the question's first
    does not."""
    with av.open(str(video.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    green = np.array(CORRECT)

    def marked(rgb: np.ndarray) -> int:
        return int((np.abs(rgb.astype(int) - green).sum(axis=2) < 60).sum())

    assert marked(frames[-1]) > 2000
    asking = frames[-1 - 8 * 5]  # 8 s before the end: the question, no answer yet
    assert marked(asking) < 100


def test_video_sound_is_not_silent(video: Video) -> None:
    assert rms_of_audio(video.path) > MIN_SPEECH_RMS


def test_video_has_a_keyframe_per_slide(video: Video) -> None:
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        keyframes = [p for p in container.demux(stream) if p.size and p.is_keyframe]
    assert len(keyframes) >= 6


def test_thumbnail_is_a_jpeg(video: Video) -> None:
    with Image.open(video.thumbnail_path) as image:
        assert image.format == "JPEG"
        assert image.size == THUMBNAIL_SIZE
        image.load()


async def test_missing_espeak_is_permanent(tmp_path: Path) -> None:
    speech = EspeakSpeech(executable=str(tmp_path / "no-such-espeak-ng"))
    with pytest.raises(PermanentStageError) as raised:
        await speech.synthesize("Hello there.", tmp_path)
    assert raised.value.message == "speech engine espeak-ng is not installed on this worker"


def fake_espeak(tmp_path: Path, body: str) -> Path:
    """A stand-in executable that records its arguments and stdin, then runs `body`."""
    script = tmp_path / "fake-espeak"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> "{tmp_path}/argv"\ncat > "{tmp_path}/stdin"\n{body}\n'
    )
    script.chmod(0o755)
    return script


async def test_failing_espeak_is_retried_then_transient(tmp_path: Path) -> None:
    secret = "My teacher Ms Example said this about me"
    speech = EspeakSpeech(executable=str(fake_espeak(tmp_path, "exit 3")), attempts=3)
    with pytest.raises(TransientStageError) as raised:
        await speech.synthesize(secret, tmp_path / "work")
    assert raised.value.message == "speech engine exited with status 3"
    argv = (tmp_path / "argv").read_text().splitlines()
    assert len(argv) == 3  # three attempts
    assert all("Example" not in line and "--stdin" in line for line in argv)
    assert (tmp_path / "stdin").read_text() == secret


async def test_stuck_espeak_is_killed(tmp_path: Path) -> None:
    speech = EspeakSpeech(
        executable=str(fake_espeak(tmp_path, "exec sleep 30")), timeout_seconds=0.5, attempts=1
    )
    started = time.monotonic()
    with pytest.raises(TransientStageError, match="timed out"):
        await speech.synthesize("Hello there.", tmp_path / "work")
    assert time.monotonic() - started < 5
