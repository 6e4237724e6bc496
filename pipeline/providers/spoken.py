"""Narration spoken sentence by sentence: the offline voices synthesise each sentence on
its own, so the time span of every sentence is known exactly (captions and slides follow
it); the spans are laid end to end with short pauses and the whole is encoded to MP3."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.heap import return_freed_memory
from pipeline.providers.protocols import Audio, SpokenSentence

Samples = npt.NDArray[np.float32]  # mono, in [-1, 1]
Pcm = npt.NDArray[np.int16]
SpeakOne = Callable[[str], Awaitable[Samples]]

# A breath between sentences and a longer one between the lesson's parts: without them the
# voices run sentences together, and a student needs the beat to take a point in.
SENTENCE_PAUSE_SECONDS = 0.25
PARAGRAPH_PAUSE_SECONDS = 0.7
# Speech only: 64 kbps mono MP3 is clear and keeps a 3 minute lesson under 1.5 MB.
MP3_BIT_RATE = 64_000
# LAME's quality 7 ("fast, ok quality": no noise shaping) encodes twice as fast as the
# default 3; at 64 kbps on speech the difference is slight.
MP3_COMPRESSION_LEVEL = 7

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def split_sentences(text: str) -> list[tuple[int, str]]:
    """(paragraph, sentence) for each sentence of `text`, paragraphs separated by a blank
    line; a sentence ends at . ! or ? followed by space."""
    sentences: list[tuple[int, str]] = []
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for number, paragraph in enumerate(paragraphs):
        flat = " ".join(paragraph.split())
        sentences.extend((number, s.strip()) for s in _SENTENCE_END.split(flat) if s.strip())
    return sentences


async def speak_in_sentences(
    text: str, speak_one: SpeakOne, rate: int, workdir: Path, provenance: dict[str, Any]
) -> Audio:
    """Speak each sentence with `speak_one`, join them with pauses, write narration.mp3."""
    sentences = split_sentences(text)
    if not sentences:
        raise PermanentStageError("there is no narration text to speak")
    workdir.mkdir(parents=True, exist_ok=True)
    pieces: list[Pcm] = []  # 16-bit from the start: half the memory of a lesson's floats
    spans: list[tuple[int, str, int, int]] = []  # paragraph, text, first and end sample
    position = 0
    for index, (paragraph, sentence) in enumerate(sentences):
        if index:
            pause = PARAGRAPH_PAUSE_SECONDS if paragraph != sentences[index - 1][0] else 0.0
            gap = np.zeros(round((pause or SENTENCE_PAUSE_SECONDS) * rate), np.int16)
            pieces.append(gap)
            position += len(gap)
        samples = to_pcm(await speak_one(sentence))
        pieces.append(samples)
        spans.append((paragraph, sentence, position, position + len(samples)))
        position += len(samples)
    mp3 = workdir / "narration.mp3"
    try:
        duration = await asyncio.to_thread(encode_mp3, pieces, rate, mp3)
    except (av.FFmpegError, OSError) as e:
        raise TransientStageError("could not encode the narration to MP3") from e
    finally:
        del pieces
        return_freed_memory()  # a lesson's samples and the encoder's buffers (heap.py)
    spoken = tuple(
        SpokenSentence(text, paragraph, min(start / rate, duration), min(end / rate, duration))
        for paragraph, text, start, end in spans
    )
    return Audio(mp3, "audio/mpeg", "mp3", duration, provenance, spoken)


def estimated_sentences(text: str, duration_seconds: float) -> tuple[SpokenSentence, ...]:
    """Spans shared out by characters, for a voice that does not say when each sentence
    is spoken (a service speaking many sentences per request)."""
    sentences = split_sentences(text)
    total = sum(len(s) for _, s in sentences) or 1
    spans, spoken = [], 0
    for paragraph, sentence in sentences:
        start = spoken / total * duration_seconds
        spoken += len(sentence)
        spans.append(SpokenSentence(sentence, paragraph, start, spoken / total * duration_seconds))
    return tuple(spans)


def to_pcm(samples: Samples) -> Pcm:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def encode_mp3(pieces: list[Pcm], rate: int, mp3: Path) -> float:
    """Encode mono 16-bit pieces, one after the other, to MP3; return the MP3's duration,
    counted from samples."""
    with av.open(str(mp3), "w", format="mp3") as dst:
        stream = dst.add_stream(
            "libmp3lame", rate=rate, options={"compression_level": str(MP3_COMPRESSION_LEVEL)}
        )
        stream.layout = "mono"
        stream.bit_rate = MP3_BIT_RATE
        position = 0
        for pcm in pieces:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16p", layout="mono")
            frame.sample_rate, frame.pts = rate, position
            position += len(pcm)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return probe_audio_seconds(mp3)


def probe_audio_seconds(path: Path) -> float:
    """Duration of the first audio stream, counted from decoded samples.

    The container's own figure for an MP3 is an estimate from the bit rate; counting samples
    is exact and takes milliseconds for a few minutes of speech.
    """
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        if samples == 0:
            raise PermanentStageError("the narration audio is empty")
        return samples / stream.rate
