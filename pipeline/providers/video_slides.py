"""Lesson video as slides that move with the narration: the scenes of the timeline
(slide_timeline) drawn by slide_pictures, a progress bar, the captions as a soft subtitle
track, and the check question's answer after the narration; PyAV encodes H.264 + AAC
(+ mov_text) in-process."""

from __future__ import annotations

import asyncio
import heapq
import struct
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.subtitles.stream import SubtitleStream
from av.video.frame import PictureType
from PIL import Image

from pipeline import captions
from pipeline.errors import TransientStageError
from pipeline.lesson import Lesson
from pipeline.providers.heap import return_freed_memory
from pipeline.providers.protocols import SpokenSentence, Video
from pipeline.providers.slide_pictures import HEIGHT, WIDTH, SlidePainter
from pipeline.providers.slide_timeline import Scene, timeline, video_seconds

# The pictures change only at scenes and progress ticks, so few frames are needed: 5 a
# second puts each change within 0.2 s of its word. x264's time grows with the frame count
# even for repeated pictures.
FPS = 5
# The progress bar moves once a second: smooth enough to read, and each move is one more
# picture to convert and encode.
PROGRESS_TICK_FRAMES = FPS
# Half size is plenty for a list thumbnail and keeps it around 25 KB.
THUMBNAIL_SIZE = (640, 360)
THUMBNAIL_QUALITY = 85
# x264: `ultrafast` is ~2.5x quicker than `veryfast` here, and its ~3x larger files are still
# small. `stillimage` suits flat slides. `forced-idr` makes the keyframe forced at each
# scene a real seek point. No B-frames, so packets come out in presentation order and the
# last one out is the last picture (its duration is stretched to the end of the sound).
X264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "stillimage",
    "forced-idr": "1",
    "bframes": "0",
    "crf": "23",
}
# Speech only, mono: 64 kbps AAC is plenty. The `fast` coder is 3x quicker than the default
# `twoloop`.
AAC_BIT_RATE = 64_000
AAC_OPTIONS = {"aac_coder": "fast"}
# mov_text (3GPP timed text) is the subtitle format MP4 players know; ffmpeg's encoder
# insists on an ASS header, although the samples themselves are plain text.
_SUBTITLE_TIME_BASE = Fraction(1, 1000)
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 1280\nPlayResY: 720\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,36,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    b"Effect, Text\n"
)


class SlideVideoRenderer:
    """VideoRenderer: a title slide, one slide per section, a recap and the question, each
    building up as it is spoken."""

    async def render(
        self, lesson: Lesson, audio: Path, sentences: Sequence[SpokenSentence], workdir: Path
    ) -> Video:
        workdir.mkdir(parents=True, exist_ok=True)
        video_path = workdir / "lesson.mp4"
        thumbnail_path = workdir / "thumbnail.jpg"
        try:
            # Drawing and encoding (a few seconds for a long lesson) run off the event loop.
            scenes, duration = await asyncio.to_thread(
                _encode, lesson, sentences, audio, video_path, thumbnail_path
            )
        except (av.FFmpegError, OSError) as e:
            raise TransientStageError("could not encode the lesson video") from e
        finally:
            return_freed_memory()
        return Video(
            path=video_path,
            thumbnail_path=thumbnail_path,
            duration_seconds=duration,
            metadata={
                "width": WIDTH,
                "height": HEIGHT,
                "fps": FPS,
                "codec": "h264",
                "audio_codec": "aac",
                "subtitle_codec": "mov_text",
                "slides": len(lesson.sections) + 3,
                "scenes": scenes,
            },
        )


# -- encoding (runs in a worker thread) ----------------------------------------------------


def _encode(
    lesson: Lesson,
    sentences: Sequence[SpokenSentence],
    audio: Path,
    video_path: Path,
    thumbnail_path: Path,
) -> tuple[int, float]:
    """Write the MP4 and the thumbnail; return the scene count and the MP4's duration."""
    audio_frames, sample_rate, narration_samples = _decode_audio(audio)
    narration_seconds = narration_samples / sample_rate
    scenes = timeline(lesson, sentences, narration_seconds)
    total_seconds = video_seconds(narration_seconds)
    # Silence after the narration while the question waits for its answer.
    audio_frames.extend(_silence(narration_samples, total_seconds, sample_rate))
    total_samples = round(total_seconds * sample_rate)
    frame_count = max(1, round(total_seconds * FPS))

    painter = SlidePainter(lesson)
    cover = next((s for s in reversed(scenes) if s.slide == 0), scenes[0])
    thumb = painter.with_progress(painter.draw(cover), 0.0)
    thumb.resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS).save(
        thumbnail_path, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True
    )
    cues = captions.cues(sentences, narration_seconds)

    with av.open(str(video_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # Video timestamps count audio samples, so the last picture can be held to the exact
        # sample the sound ends on: the two streams then have the same duration.
        video.codec_context.time_base = Fraction(1, sample_rate)
        sound = out.add_stream("aac", rate=sample_rate, options=AAC_OPTIONS)
        sound.layout = "mono"
        sound.bit_rate = AAC_BIT_RATE
        subtitles = out.add_stream("mov_text")
        subtitles.codec_context.subtitle_header = _ASS_HEADER
        subtitles.codec_context.time_base = _SUBTITLE_TIME_BASE
        subtitles.time_base = _SUBTITLE_TIME_BASE
        subtitles.metadata["language"] = "eng"
        # Interleave by time so a player streaming from a signed URL gets sound and picture
        # together instead of all video first.
        packets = heapq.merge(
            _video_packets(video, painter, scenes, frame_count, sample_rate, total_samples),
            _audio_packets(sound, audio_frames),
            _subtitle_packets(subtitles, cues),
            key=_packet_seconds,
        )
        for packet in packets:
            out.mux(packet)
    return len(scenes), probe_video_seconds(video_path)


def _decode_audio(audio: Path) -> tuple[list[av.AudioFrame], int, int]:
    """The narration as mono float-planar frames (what the AAC encoder takes), its rate and
    its length in samples."""
    with av.open(str(audio)) as src:
        stream = src.streams.audio[0]
        rate = stream.rate
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        frames = [f for frame in src.decode(stream) for f in resampler.resample(frame)]
        frames.extend(resampler.resample(None))
    # Fresh timestamps in samples from zero: decoded MP3 frames carry the demuxer's time base
    # (1/14112000) and start after the encoder delay, which would misplace the AAC packets.
    pts = 0
    for frame in frames:
        frame.pts, frame.time_base = pts, Fraction(1, rate)
        pts += frame.samples
    return frames, rate, pts


def _silence(start: int, total_seconds: float, rate: int) -> list[av.AudioFrame]:
    frames, pts, end = [], start, round(total_seconds * rate)
    while pts < end:
        n = min(rate, end - pts)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, n), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
        frames.append(frame)
        pts += n
    return frames


def _video_packets(
    stream: av.VideoStream,
    painter: SlidePainter,
    scenes: list[Scene],
    frame_count: int,
    sample_rate: int,
    total_samples: int,
) -> Iterator[av.Packet[Any]]:
    """One picture per scene and progress tick, drawn when it is due and dropped after it,
    so a long lesson holds one slide in memory, not all of them."""

    def pts(index: int) -> int:
        return round(index * sample_rate / FPS)

    last_pts = pts(frame_count - 1)

    def timed(packets: list[av.Packet[Any]]) -> list[av.Packet[Any]]:
        for packet in packets:
            is_last = packet.pts == last_pts
            packet.duration = total_samples - last_pts if is_last else pts(1)
        return packets

    starts = [min(round(s.start_seconds * FPS), frame_count - 1) for s in scenes]
    ends = [*starts[1:], frame_count]
    for scene, start, end in zip(scenes, starts, ends, strict=True):
        if end <= start:
            continue  # shorter than a frame: the next scene covers it
        slide = painter.draw(scene)
        index = start
        while index < end:
            tick_end = min(end, (index // PROGRESS_TICK_FRAMES + 1) * PROGRESS_TICK_FRAMES)
            picture = painter.with_progress(slide, index / frame_count)
            # Convert each picture to YUV once and send it for all its frames.
            frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")  # type: ignore[no-untyped-call]  # PyAV stub
            for i in range(index, tick_end):
                frame.pts = pts(i)
                frame.pict_type = PictureType.I if i == start else PictureType.NONE
                yield from timed(stream.encode(frame))
            index = tick_end
    yield from timed(stream.encode(None))


def _subtitle_packets(
    stream: SubtitleStream, cues: Sequence[captions.Cue]
) -> Iterator[av.Packet[Any]]:
    """mov_text samples: a 16-bit big-endian length, then the UTF-8 text."""
    for cue in cues:
        text = "\n".join(cue.lines).encode()
        packet = av.Packet(struct.pack(">H", len(text)) + text)
        start = round(cue.start_seconds * 1000)
        packet.pts = packet.dts = start
        packet.duration = max(1, round(cue.end_seconds * 1000) - start)
        packet.time_base = _SUBTITLE_TIME_BASE
        packet.stream = stream
        yield packet


def _audio_packets(stream: av.AudioStream, frames: list[av.AudioFrame]) -> Iterator[av.Packet[Any]]:
    for frame in frames:
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _packet_seconds(packet: av.Packet[Any]) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float((ts or 0) * packet.time_base)


def probe_video_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        if container.duration is None:
            raise TransientStageError("the encoded video has no duration")
        return container.duration / av.time_base
