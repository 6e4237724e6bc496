"""Lesson media on this machine: narration and video time per minute, for each offline voice.

    .venv/bin/python bench/lesson_media.py [--lessons 6] [--heaps N]

Writes template lessons for the first topics of the catalog (no database, no broker),
narrates each with Piper and espeak-ng, renders its video, and prints the medians:
seconds of work per minute of audio or video, and this process's peak memory. The
espeak-ng figure is the baseline measured in the same run. `--heaps N` limits this process
to N glibc heaps first, as worker processes are (pipeline/providers/heap.py MALLOC_ARENAS).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

from db.seed import seed_catalog
from pipeline.providers.factory import local_voice
from pipeline.providers.heap import limit_heaps
from pipeline.providers.protocols import SpeechSynthesizer
from pipeline.providers.script_template import TemplateScriptWriter
from pipeline.providers.speech_espeak import EspeakSpeech
from pipeline.providers.speech_piper import PiperSpeech
from pipeline.providers.video_slides import SlideVideoRenderer
from pipeline.settings import get_settings


async def main(lessons: int) -> None:
    catalog = seed_catalog()
    topics = [t for t in catalog.topics.values() if t.is_leaf][:lessons]
    interests = list(catalog.interests.values())
    writer, renderer = TemplateScriptWriter(), SlideVideoRenderer()
    piper = PiperSpeech(local_voice(get_settings()))
    voices: dict[str, SpeechSynthesizer] = {"piper": piper, "espeak": EspeakSpeech()}
    speech: dict[str, list[float]] = {name: [] for name in voices}
    render: list[float] = []
    minutes = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for n, topic in enumerate(topics):
            lesson = await writer.write(topic, interests[n % len(interests)], "conversational")
            for name, voice in voices.items():
                started = time.perf_counter()
                audio = await voice.synthesize(lesson.narration(), Path(tmp) / name)
                speech[name].append((time.perf_counter() - started) / audio.duration_seconds * 60)
                if name == "piper":
                    started = time.perf_counter()
                    video = await renderer.render(
                        lesson, audio.path, audio.sentences, Path(tmp) / "video"
                    )
                    render.append((time.perf_counter() - started) / video.duration_seconds * 60)
                    minutes += video.duration_seconds / 60
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(topics)} lessons, {minutes:.1f} minutes of video")
    for name, figures in speech.items():
        print(f"narration, {name:6}: {statistics.median(figures):5.2f} s per minute of audio")
    ratio = statistics.median(speech["piper"]) / statistics.median(speech["espeak"])
    print(f"piper / espeak: {ratio:.1f}x")
    print(f"video render:     {statistics.median(render):5.2f} s per minute of video")
    print(f"peak memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=6)
    parser.add_argument("--heaps", type=int, default=0, help="glibc heaps (0: glibc's own)")
    args = parser.parse_args()
    if args.heaps:
        limit_heaps(args.heaps)
    asyncio.run(main(args.lessons))
