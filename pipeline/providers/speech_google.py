"""Google Cloud Text-to-Speech narration (google-cloud-texttospeech): the narration split
at sentence boundaries into requests under the API's 5,000-byte input limit, each
synthesised as MP3 with the voice and speaking rate of the settings, the parts joined
into one MP3 (MPEG frames concatenate) whose duration is measured from its samples.

Failure semantics as for Gemini: timeouts, 429 and 5xx are transient (retried by the
task layer), 400 and other 4xx permanent. Only the lesson's narration is sent: catalog
facts and the interest's analogies, never a student's words or identity.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import texttospeech

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.protocols import Audio, NoGuard, ProviderGuard
from pipeline.providers.spoken import estimated_sentences, probe_audio_seconds

MAX_REQUEST_BYTES = 5000
REQUEST_TIMEOUT_SECONDS = 20.0  # per request, below the audio stage's 55 s soft limit
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Voice:
    name: str = "en-US-Neural2-F"
    language_code: str = "en-US"
    speaking_rate: float = 1.0


def chunks(text: str, limit: int = MAX_REQUEST_BYTES) -> list[str]:
    """The text in pieces of at most `limit` UTF-8 bytes, cut between sentences (a
    sentence longer than the limit is cut between words)."""
    parts = [
        part
        for sentence in _SENTENCE.split(text.strip())
        for part in (_pack(sentence.split(), limit) if _size(sentence) > limit else [sentence])
    ]
    return _pack(parts, limit)


def _pack(parts: list[str], limit: int) -> list[str]:
    """Consecutive parts joined by spaces, as many to a piece as fit in `limit` bytes."""
    pieces: list[str] = []
    for part in parts:
        if pieces and _size(f"{pieces[-1]} {part}") <= limit:
            pieces[-1] = f"{pieces[-1]} {part}"
        else:
            pieces.append(part)
    return pieces


def _size(text: str) -> int:
    return len(text.encode())


def strip_id3(mp3: bytes) -> bytes:
    """The MP3 without a leading ID3v2 tag (10-byte header, syncsafe size)."""
    if len(mp3) < 10 or mp3[:3] != b"ID3":
        return mp3
    size = (mp3[6] << 21) | (mp3[7] << 14) | (mp3[8] << 7) | mp3[9]
    footer = 10 if mp3[5] & 0x10 else 0
    return mp3[10 + size + footer :]


class GoogleSpeech:
    PROVIDER = "google_tts"

    def __init__(self, client: Any, voice: Voice) -> None:
        self._client = client
        self.voice = voice
        self.guard: ProviderGuard = NoGuard()

    def use_guard(self, guard: ProviderGuard) -> None:
        """The worker's breaker and rate limit (workers/guard.py), for every request."""
        self.guard = guard

    async def synthesize(self, text: str, workdir: Path) -> Audio:
        parts = chunks(text)
        mp3s = []
        for part in parts:

            async def one(text: str = part) -> bytes:
                return await asyncio.to_thread(self._synthesize, text)

            mp3s.append(await self.guard.call(self.PROVIDER, one))
            self.guard.count(self.PROVIDER, "characters", len(part))
        # MPEG frames concatenate; a tag at the head of a later part would sit mid-stream.
        audio = b"".join([mp3s[0], *(strip_id3(m) for m in mp3s[1:])])
        path = workdir / "narration.mp3"
        path.write_bytes(audio)
        seconds = await asyncio.to_thread(probe_audio_seconds, path)
        provenance = {
            "provider": self.PROVIDER,
            "voice": self.voice.name,
            "characters": sum(len(p) for p in parts),
        }
        # Spans shared out by characters. Cloud TTS can say when each SSML <mark> is
        # reached (timepoints, v1beta1): with a mark per sentence they would be exact.
        sentences = estimated_sentences(text, seconds)
        return Audio(path, "audio/mpeg", "mp3", seconds, provenance, sentences)

    def _synthesize(self, text: str) -> bytes:
        try:
            response = self._client.synthesize_speech(
                input=texttospeech.SynthesisInput(text=text),
                voice=texttospeech.VoiceSelectionParams(
                    language_code=self.voice.language_code, name=self.voice.name
                ),
                audio_config=texttospeech.AudioConfig(
                    audio_encoding=texttospeech.AudioEncoding.MP3,
                    speaking_rate=self.voice.speaking_rate,
                ),
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except (
            api_exceptions.ServerError,
            api_exceptions.TooManyRequests,
            api_exceptions.DeadlineExceeded,
            api_exceptions.RetryError,
            ConnectionError,
        ) as e:
            raise TransientStageError(
                f"text-to-speech is unavailable ({type(e).__name__})"
            ) from None
        except api_exceptions.GoogleAPICallError as e:
            raise PermanentStageError(
                f"text-to-speech refused the narration (HTTP {e.code})"
            ) from None
        return bytes(response.audio_content)


def open_google_speech(voice: Voice, api_endpoint: str | None = None) -> GoogleSpeech:
    """REST transport (the async client speaks only gRPC); calls run in worker threads."""
    if api_endpoint:  # a local stand-in: no credentials to find
        from google.auth.credentials import AnonymousCredentials

        client = texttospeech.TextToSpeechClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth
            client_options={"api_endpoint": api_endpoint},
        )
    else:
        client = texttospeech.TextToSpeechClient(transport="rest")
    return GoogleSpeech(client, voice)
