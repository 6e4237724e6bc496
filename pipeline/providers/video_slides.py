"""Lesson video as narrated slides: Pillow draws them, PyAV encodes H.264 + AAC in-process."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.video.frame import PictureType
from PIL import Image, ImageDraw, ImageFont

from pipeline.errors import TransientStageError
from pipeline.lesson import Lesson
from pipeline.providers.protocols import Video

WIDTH, HEIGHT = 1280, 720
# Slides are still pictures, so few frames are needed. 5 frames a second puts each slide
# change within 0.2 s of its place, far finer than the word-count timing itself. x264's time
# grows with the frame count even for repeated pictures: on two cores a 90 s lesson's video
# takes ~1 s at 5 fps and ~2 s at 10 fps.
FPS = 5
# Half size is plenty for a list thumbnail and keeps it around 25 KB.
THUMBNAIL_SIZE = (640, 360)
THUMBNAIL_QUALITY = 85
# x264: `ultrafast` is ~2.5x quicker than `veryfast` here, and its ~3x larger files are still
# small (~0.7 MB of video for 90 s). `stillimage` suits flat text slides. `forced-idr` makes
# the keyframe forced at each slide change a real seek point. No B-frames, so packets come
# out in presentation order and the last one out is the last picture (its duration is
# stretched to the end of the narration).
X264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "stillimage",
    "forced-idr": "1",
    "bframes": "0",
    "crf": "23",
}
# Speech only, mono: 64 kbps AAC is plenty. The `fast` coder is 3x quicker than the default
# `twoloop` (0.45 s against 1.5 s for 90 s of audio); its lower quality hardly matters for a
# synthetic voice.
AAC_BIT_RATE = 64_000
AAC_OPTIONS = {"aac_coder": "fast"}

MARGIN_PX = 80
BACKGROUND = (18, 32, 58)
ACCENT = (255, 183, 3)
TEXT = (245, 247, 250)
MUTED = (170, 182, 204)
# Font sizes in pixels for a 720-line slide, big enough to read on a phone.
TITLE_PX, HOOK_PX, HEADING_PX, BODY_PX, LABEL_PX, OPTION_PX, FOOTER_PX = 64, 34, 56, 40, 28, 30, 22
LINE_SPACING = 1.3  # line height as a multiple of the font size
ELLIPSIS = "…"


@dataclass(frozen=True)
class _Slide:
    image: Image.Image
    words: int  # narration words spoken while this slide is shown


class SlideVideoRenderer:
    """VideoRenderer that shows a title slide, one slide per section and a recap slide."""

    def __init__(self) -> None:
        # Pillow's bundled font (Aileron) scales when FreeType is available, so workers need
        # no system fonts.
        self._fonts = {px: ImageFont.load_default(size=px) for px in _font_sizes()}

    async def render(self, lesson: Lesson, audio: Path, workdir: Path) -> Video:
        workdir.mkdir(parents=True, exist_ok=True)
        video_path = workdir / "lesson.mp4"
        thumbnail_path = workdir / "thumbnail.jpg"
        # Drawing (~0.1 s) and encoding (~2 s for a 90 s lesson) both run off the event loop.
        slides = await asyncio.to_thread(self._draw_slides, lesson)
        count = len(slides)
        try:
            duration = await asyncio.to_thread(_encode, slides, audio, video_path, thumbnail_path)
        except (av.FFmpegError, OSError) as e:
            raise TransientStageError("could not encode the lesson video") from e
        finally:
            del slides
            _return_freed_memory()
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
                "slides": count,
            },
        )

    # -- drawing -----------------------------------------------------------------------

    def _draw_slides(self, lesson: Lesson) -> list[_Slide]:
        parts = lesson.narration_parts()
        # narration_parts(): hook, each section, recap, question. The last two share a slide.
        hook_words = _count_words(parts[0])
        section_words = [_count_words(p) for p in parts[1:-2]]
        recap_words = _count_words(parts[-2]) + _count_words(parts[-1])
        total = len(lesson.sections) + 2
        slides = [_Slide(self._title_slide(lesson), hook_words)]
        for number, (section, words) in enumerate(
            zip(lesson.sections, section_words, strict=True), start=2
        ):
            image = self._section_slide(section.heading, section.caption, number, total)
            slides.append(_Slide(image, words))
        slides.append(_Slide(self._recap_slide(lesson, total), recap_words))
        return slides

    def _title_slide(self, lesson: Lesson) -> Image.Image:
        image, draw = _canvas()
        width = WIDTH - 2 * MARGIN_PX
        title = _wrap(draw, lesson.title, self._fonts[TITLE_PX], width, max_lines=3)
        hook = _wrap(draw, _first_sentence(lesson.hook), self._fonts[HOOK_PX], width, max_lines=2)
        block = _block_height(title, TITLE_PX) + 40 + _block_height(hook, HOOK_PX)
        y = (HEIGHT - block) // 2
        y = _draw_lines(draw, title, self._fonts[TITLE_PX], y, TEXT, bold=True)
        draw.rectangle((MARGIN_PX, y + 12, MARGIN_PX + 160, y + 18), fill=ACCENT)
        _draw_lines(draw, hook, self._fonts[HOOK_PX], y + 40, MUTED)
        return image

    def _section_slide(self, heading: str, caption: str, number: int, total: int) -> Image.Image:
        image, draw = _canvas()
        width = WIDTH - 2 * MARGIN_PX
        y = _draw_lines(
            draw,
            _wrap(draw, heading, self._fonts[HEADING_PX], width, max_lines=2),
            self._fonts[HEADING_PX],
            MARGIN_PX,
            TEXT,
            bold=True,
        )
        draw.rectangle((MARGIN_PX, y + 12, MARGIN_PX + 120, y + 18), fill=ACCENT)
        body = _wrap(draw, caption, self._fonts[BODY_PX], width, max_lines=6)
        _draw_lines(draw, body, self._fonts[BODY_PX], y + 48, TEXT)
        self._footer(draw, number, total)
        return image

    def _recap_slide(self, lesson: Lesson, total: int) -> Image.Image:
        image, draw = _canvas()
        width = WIDTH - 2 * MARGIN_PX
        bottom = HEIGHT - MARGIN_PX
        y = _draw_lines(draw, ["Recap"], self._fonts[LABEL_PX], MARGIN_PX - 20, ACCENT)
        recap = _wrap(draw, lesson.recap, self._fonts[BODY_PX], width, max_lines=4)
        y = _draw_lines(draw, recap, self._fonts[BODY_PX], y + 8, TEXT)
        y = _draw_lines(draw, ["Check yourself"], self._fonts[LABEL_PX], y + 28, ACCENT)
        check = lesson.check_question
        question = _wrap(draw, check.question, self._fonts[BODY_PX], width, max_lines=2)
        y = _draw_lines(draw, question, self._fonts[BODY_PX], y + 8, TEXT, bold=True)
        # Options are shown (never the answer) as long as they fit above the footer.
        y += 8
        option_font = self._fonts[OPTION_PX]
        for letter, option in zip("ABCDE", check.options, strict=False):
            if y + _line_height(OPTION_PX) > bottom:
                break
            line = _wrap(draw, f"{letter}.  {option}", option_font, width, max_lines=1)
            y = _draw_lines(draw, line, option_font, y, MUTED)
        self._footer(draw, total, total)
        return image

    def _footer(self, draw: ImageDraw.ImageDraw, number: int, total: int) -> None:
        font = self._fonts[FOOTER_PX]
        label = f"{number} / {total}"
        x = WIDTH - MARGIN_PX - draw.textlength(label, font=font)
        draw.text((x, HEIGHT - MARGIN_PX // 2 - FOOTER_PX), label, font=font, fill=MUTED)


def _font_sizes() -> set[int]:
    return {TITLE_PX, HOOK_PX, HEADING_PX, BODY_PX, LABEL_PX, OPTION_PX, FOOTER_PX}


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    return image, ImageDraw.Draw(image)


def _count_words(text: str) -> int:
    return len(text.split())


def _first_sentence(text: str) -> str:
    for end in (". ", "? ", "! "):
        head, sep, _ = text.partition(end)
        if sep:
            text = head + sep.strip()
    return text.strip()


def _line_height(font_px: int) -> int:
    return round(font_px * LINE_SPACING)


def _block_height(lines: list[str], font_px: int) -> int:
    return len(lines) * _line_height(font_px)


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    y: int,
    fill: tuple[int, int, int],
    bold: bool = False,
) -> int:
    """Draw `lines` left-aligned from `y`; return the y just below them."""
    font_px = int(getattr(font, "size", BODY_PX))
    for line in lines:
        # The bundled font has no bold face; a one-pixel stroke in the text colour stands in.
        draw.text(
            (MARGIN_PX, y),
            line,
            font=font,
            fill=fill,
            stroke_width=1 if bold else 0,
            stroke_fill=fill,
        )
        y += _line_height(font_px)
    return y


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: int,
    max_lines: int,
) -> list[str]:
    """Greedy word wrap to `max_width` pixels; text beyond `max_lines` ends in an ellipsis."""

    def fits(candidate: str) -> bool:
        return draw.textlength(candidate, font=font) <= max_width

    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        # A single word wider than the slide (a URL, a long formula) is cut by characters.
        while not fits(word):
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    while last and not fits(last + ELLIPSIS):
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = last.rstrip(" ,;:.") + ELLIPSIS
    return kept


# -- encoding (runs in a worker thread) ----------------------------------------------------


_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if sys.platform == "linux" else None
)


def _return_freed_memory() -> None:
    """glibc keeps the heap a render freed (slide images, encoder buffers: ~100 MiB) for
    reuse; a video worker that renders now and then gives it back to the machine."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _encode(slides: list[_Slide], audio: Path, video_path: Path, thumbnail_path: Path) -> float:
    """Write the MP4 and the thumbnail; return the MP4's duration in seconds."""
    thumbnail = slides[0].image.resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    thumbnail.save(thumbnail_path, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)

    audio_frames, sample_rate = _decode_audio(audio)
    total_samples = sum(f.samples for f in audio_frames)
    frame_count = max(1, round(total_samples * FPS / sample_rate))
    starts = _slide_start_frames([s.words for s in slides], frame_count)

    with av.open(str(video_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # Video timestamps count audio samples, so the last picture can be held to the exact
        # sample the narration ends on: the two streams then have the same duration.
        video.codec_context.time_base = Fraction(1, sample_rate)
        sound = out.add_stream("aac", rate=sample_rate, options=AAC_OPTIONS)
        sound.layout = "mono"
        sound.bit_rate = AAC_BIT_RATE
        # Interleave by time so a player streaming from a signed URL gets sound and picture
        # together instead of all video first.
        packets = heapq.merge(
            _video_packets(video, slides, starts, frame_count, sample_rate, total_samples),
            _audio_packets(sound, audio_frames),
            key=_packet_seconds,
        )
        for packet in packets:
            out.mux(packet)
    return probe_video_seconds(video_path)


def _decode_audio(audio: Path) -> tuple[list[av.AudioFrame], int]:
    """The narration as mono float-planar frames (what the AAC encoder takes), and its rate."""
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
    return frames, rate


def _slide_start_frames(words: list[int], frame_count: int) -> list[int]:
    """First frame of each slide, so each slide's share of frames follows its narration."""
    weights = [max(w, 1) for w in words]  # every slide gets its turn, however short its part
    total = sum(weights)
    starts, spoken = [], 0
    for weight in weights:
        starts.append(round(spoken / total * frame_count))
        spoken += weight
    return starts


def _video_packets(
    stream: av.VideoStream,
    slides: list[_Slide],
    starts: list[int],
    frame_count: int,
    sample_rate: int,
    total_samples: int,
) -> Iterator[av.Packet[Any]]:
    def pts(index: int) -> int:
        return round(index * sample_rate / FPS)

    last_pts = pts(frame_count - 1)

    def timed(packets: list[av.Packet[Any]]) -> list[av.Packet[Any]]:
        for packet in packets:
            is_last = packet.pts == last_pts
            packet.duration = total_samples - last_pts if is_last else pts(1)
        return packets

    ends = [*starts[1:], frame_count]
    for slide, start, end in zip(slides, starts, ends, strict=True):
        # Convert each slide to YUV once and send the same picture for all its frames.
        frame = av.VideoFrame.from_image(slide.image).reformat(format="yuv420p")  # type: ignore[no-untyped-call]  # PyAV stub
        for index in range(start, end):
            frame.pts = pts(index)
            frame.pict_type = PictureType.I if index == start else PictureType.NONE
            yield from timed(stream.encode(frame))
    yield from timed(stream.encode(None))


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
