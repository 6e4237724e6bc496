"""Narration with espeak-ng: a local, offline voice. The WAV it writes is encoded to MP3 here."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import numpy as np
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.protocols import Audio
from pipeline.providers.spoken import Samples, speak_in_sentences

DEFAULT_EXECUTABLE = "espeak-ng"
DEFAULT_VOICE = "en-us"
# espeak's default 175 words a minute feels rushed for students; 165 stays close to the
# ~160 that Lesson.estimated_seconds assumes.
DEFAULT_WORDS_PER_MINUTE = 165
# espeak-ng speaks a sentence in milliseconds, so a process still running after this long
# is stuck, not busy.
SYNTH_TIMEOUT_SECONDS = 30.0
# Quick in-provider retries for a crashed or stuck process; Celery retries the whole stage
# on top of these. The factory passes Settings.provider_attempts.
DEFAULT_ATTEMPTS = 3
RETRY_WAIT_FIRST_SECONDS = 0.5  # then doubling, up to RETRY_WAIT_MAX_SECONDS
RETRY_WAIT_MAX_SECONDS = 4.0
SAMPLE_RATE = 22_050  # what espeak-ng writes

_MISSING_ENGINE = "speech engine espeak-ng is not installed on this worker"


class EspeakSpeech:
    """SpeechSynthesizer backed by the espeak-ng command-line program."""

    def __init__(
        self,
        executable: str = DEFAULT_EXECUTABLE,
        voice: str = DEFAULT_VOICE,
        words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
        timeout_seconds: float = SYNTH_TIMEOUT_SECONDS,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self._executable = executable
        self._voice = voice
        self._words_per_minute = words_per_minute
        self._timeout_seconds = timeout_seconds
        self._attempts = attempts

    async def synthesize(self, text: str, workdir: Path) -> Audio:
        provenance = {"provider": "espeak"}
        return await speak_in_sentences(text, self._speak, SAMPLE_RATE, workdir, provenance)

    async def _speak(self, sentence: str) -> Samples:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=RETRY_WAIT_FIRST_SECONDS, max=RETRY_WAIT_MAX_SECONDS),
            retry=retry_if_exception_type(TransientStageError),
            reraise=True,
        ):
            with attempt:
                return _samples(await self._run_espeak(sentence))
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _run_espeak(self, sentence: str) -> bytes:
        # The text goes in on stdin, never in argv, so it does not show up in `ps`.
        args = ["-v", self._voice, "-s", str(self._words_per_minute), "--stdout", "--stdin"]
        try:
            proc = await asyncio.create_subprocess_exec(
                self._executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                # Not kept: nothing in the stage's error may come from the lesson's text,
                # and the exit status is what tells a crash from a timeout.
                stderr=asyncio.subprocess.DEVNULL,
            )
        except (FileNotFoundError, PermissionError) as e:
            raise PermanentStageError(_MISSING_ENGINE) from e
        try:
            async with asyncio.timeout(self._timeout_seconds):
                wav, _ = await proc.communicate(sentence.encode("utf-8"))
        except TimeoutError as e:
            raise TransientStageError("speech engine timed out") from e
        finally:
            # On a timeout, or when the task itself is cancelled, no espeak is left behind.
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise TransientStageError(f"speech engine exited with status {proc.returncode}")
        if not wav:
            raise TransientStageError("speech engine wrote no audio")
        return wav


def _samples(wav: bytes) -> Samples:
    """espeak's WAV (mono s16 at 22,050 Hz) as float samples. Written to a pipe, its
    header's sizes are unset, so the samples are everything after the data chunk's header."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            if reader.getframerate() != SAMPLE_RATE or reader.getsampwidth() != 2:
                raise TransientStageError("speech engine wrote an unexpected audio format")
        start = wav.index(b"data", 12) + 8
    except (wave.Error, EOFError, ValueError) as e:
        raise TransientStageError("speech engine wrote unreadable audio") from e
    pcm = np.frombuffer(wav[start : start + (len(wav) - start) // 2 * 2], np.int16)
    return pcm.astype(np.float32) / np.float32(32768.0)
