"""Narration with espeak-ng: a local, offline voice. The WAV it writes is encoded to MP3 here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.protocols import Audio

DEFAULT_EXECUTABLE = "espeak-ng"
DEFAULT_VOICE = "en-us"
# espeak's default 175 words a minute feels rushed for students; 165 stays close to the
# ~160 that Lesson.estimated_seconds assumes.
DEFAULT_WORDS_PER_MINUTE = 165
# espeak-ng synthesizes far faster than real time (0.1 s for a 90 s lesson), so a process
# still running after this long is stuck, not busy.
SYNTH_TIMEOUT_SECONDS = 60.0
# Quick in-provider retries for a crashed or stuck process; Celery retries the whole stage
# on top of these. The factory passes Settings.provider_attempts.
DEFAULT_ATTEMPTS = 3
RETRY_WAIT_FIRST_SECONDS = 0.5  # then doubling, up to RETRY_WAIT_MAX_SECONDS
RETRY_WAIT_MAX_SECONDS = 4.0
# Speech only: 64 kbps mono MP3 is clear and keeps a 3 minute lesson under 1.5 MB.
MP3_BIT_RATE = 64_000
# LAME's quality 7 ("fast, ok quality": no noise shaping) encodes twice as fast as the default
# 3 (0.6 s against 1.2 s for 90 s); at 64 kbps on a synthetic voice the difference is slight.
MP3_COMPRESSION_LEVEL = 7

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
        if not text.strip():
            raise PermanentStageError("there is no narration text to speak")
        workdir.mkdir(parents=True, exist_ok=True)
        wav = workdir / "narration.wav"
        mp3 = workdir / "narration.mp3"
        # Only the subprocess is retried: encoding a good WAV fails the same way every time.
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=RETRY_WAIT_FIRST_SECONDS, max=RETRY_WAIT_MAX_SECONDS),
            retry=retry_if_exception_type(TransientStageError),
            reraise=True,
        ):
            with attempt:
                await self._run_espeak(text, wav)
        try:
            duration = await asyncio.to_thread(_wav_to_mp3, wav, mp3)
        except (av.FFmpegError, OSError) as e:
            raise TransientStageError("could not encode the narration to MP3") from e
        finally:
            wav.unlink(missing_ok=True)
        return Audio(mp3, "audio/mpeg", "mp3", duration, {"provider": "espeak"})

    async def _run_espeak(self, text: str, wav: Path) -> None:
        wav.unlink(missing_ok=True)  # a killed earlier attempt may have left half a file
        # The text goes in on stdin, never in argv, so it does not show up in `ps`.
        args = ["-v", self._voice, "-s", str(self._words_per_minute), "-w", str(wav), "--stdin"]
        try:
            proc = await asyncio.create_subprocess_exec(
                self._executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                # Not kept: nothing in the stage's error may come from the student's text,
                # and the exit status is what tells a crash from a timeout.
                stderr=asyncio.subprocess.DEVNULL,
            )
        except (FileNotFoundError, PermissionError) as e:
            raise PermanentStageError(_MISSING_ENGINE) from e
        try:
            async with asyncio.timeout(self._timeout_seconds):
                await proc.communicate(text.encode("utf-8"))
        except TimeoutError as e:
            raise TransientStageError("speech engine timed out") from e
        finally:
            # On a timeout, or when the task itself is cancelled, no espeak is left behind.
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise TransientStageError(f"speech engine exited with status {proc.returncode}")
        if not wav.exists() or wav.stat().st_size == 0:
            raise TransientStageError("speech engine wrote no audio file")


def _wav_to_mp3(wav: Path, mp3: Path) -> float:
    """Encode `wav` to a mono MP3 at the same sample rate; return the MP3's duration."""
    with av.open(str(wav)) as src, av.open(str(mp3), "w", format="mp3") as dst:
        in_stream = src.streams.audio[0]
        rate = in_stream.rate
        out_stream = dst.add_stream(
            "libmp3lame", rate=rate, options={"compression_level": str(MP3_COMPRESSION_LEVEL)}
        )
        out_stream.layout = "mono"
        out_stream.bit_rate = MP3_BIT_RATE
        # libmp3lame takes planar samples; espeak writes packed s16.
        resampler = av.AudioResampler(format="s16p", layout="mono", rate=rate)
        for frame in src.decode(in_stream):
            for out_frame in resampler.resample(frame):
                dst.mux(out_stream.encode(out_frame))
        for out_frame in resampler.resample(None):
            dst.mux(out_stream.encode(out_frame))
        dst.mux(out_stream.encode(None))
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
