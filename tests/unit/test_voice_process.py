"""The voice process's conversation, with a stand-in voice: samples come back as spoken,
errors keep their kind and never the sentence, and a voice process that is not there or
hangs up is a transient failure, not a stuck stage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.spoken import Samples
from pipeline.providers.voice_process import (
    MAX_SENTENCE_BYTES,
    VoiceClient,
    VoiceSession,
    serve,
    socket_path,
)

RATE = 16_000
SECRET = "my name is Ben and I live on Elm Street."


class StandInVoice:
    """Speaks one sample per character; "permanent" and "crash" fail as their names say."""

    def __init__(self) -> None:
        self.sessions = self.closed = 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[VoiceSession]:
        self.sessions += 1

        async def speak(sentence: str) -> Samples:
            if sentence.startswith("permanent"):
                raise PermanentStageError("the voice cannot say this (stand-in)")
            if sentence.startswith("crash"):
                raise ValueError(f"cannot parse {sentence!r}")
            return np.linspace(-1, 1, len(sentence), dtype=np.float32)

        try:
            yield VoiceSession(RATE, speak)
        finally:
            self.closed += 1


def address() -> str:
    return f"@vividly-voice-test-{uuid.uuid4().hex}"


@asynccontextmanager
async def voice_process(voice: StandInVoice) -> AsyncIterator[str]:
    at, until = address(), asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(voice, at, until))
    try:
        yield at
    finally:
        until.set_result(None)
        await server


async def test_samples_and_rate_come_back_as_the_voice_spoke_them() -> None:
    voice = StandInVoice()
    async with voice_process(voice) as at:
        async with VoiceClient(at).session() as (rate, speak):
            first, second = await speak("Momentum."), await speak("Energy is conserved.")
    assert rate == RATE
    np.testing.assert_array_equal(first, np.linspace(-1, 1, 9, dtype=np.float32))
    assert first.dtype == np.float32 and len(second) == len("Energy is conserved.")
    assert (voice.sessions, voice.closed) == (1, 1)  # the child hung up: the session ended


async def test_errors_keep_their_kind_and_never_quote_the_sentence() -> None:
    async with voice_process(StandInVoice()) as at:
        async with VoiceClient(at).session() as (_, speak):
            with pytest.raises(PermanentStageError, match="cannot say this"):
                await speak("permanent " + SECRET)
            with pytest.raises(TransientStageError) as crashed:
                await speak("crash " + SECRET)
            assert "ValueError" in str(crashed.value) and "Ben" not in str(crashed.value)
            assert len(await speak("still answering")) == len("still answering")


async def test_a_sentence_too_long_to_be_narration_is_refused_before_it_is_sent() -> None:
    async with voice_process(StandInVoice()) as at:
        async with VoiceClient(at).session() as (_, speak):
            with pytest.raises(PermanentStageError, match="too long"):
                await speak("a" * (MAX_SENTENCE_BYTES + 1))


async def test_no_voice_process_is_a_transient_failure_once_the_wait_ends() -> None:
    client = VoiceClient(address(), connect_seconds=0.3)
    with pytest.raises(TransientStageError, match="not answering"):
        async with client.session():
            pass


async def test_a_voice_process_that_comes_up_late_is_waited_for() -> None:
    voice = StandInVoice()
    at, until = address(), asyncio.get_running_loop().create_future()

    async def start_late() -> None:
        await asyncio.sleep(0.3)
        await serve(voice, at, until)

    server = asyncio.create_task(start_late())
    async with VoiceClient(at, connect_seconds=5).session() as (_, speak):
        assert len(await speak("hello")) == 5
    until.set_result(None)
    await server


async def test_a_voice_process_that_dies_mid_answer_is_a_transient_failure() -> None:
    at = address()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(bytes([0]) + RATE.to_bytes(4, "big"))  # the hello, then death
        await reader.read(1)
        writer.transport.abort()

    server = await asyncio.start_unix_server(hang_up, socket_path(at))
    async with server:
        async with VoiceClient(at).session() as (_, speak):
            with pytest.raises(TransientStageError, match="stopped answering"):
                await speak("hello")


async def test_a_voice_that_cannot_load_says_why() -> None:
    class Missing(StandInVoice):
        @asynccontextmanager
        async def session(self) -> AsyncIterator[VoiceSession]:
            if self.sessions >= 0:  # always: a generator that never yields
                raise PermanentStageError("the piper voice is not installed on this worker")
            yield VoiceSession(RATE, None)  # type: ignore[arg-type]  # never reached

    async with voice_process(Missing()) as at:
        with pytest.raises(PermanentStageError, match="not installed"):
            async with VoiceClient(at).session():
                pass
