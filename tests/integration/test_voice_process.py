"""A worker's voice process (workers/voice.py) with the real Piper voice: it speaks as the
voice does in the child itself, is started again when it dies, and ends when told to."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import TransientStageError
from pipeline.providers.factory import local_voice
from pipeline.providers.voice_process import VoiceClient
from pipeline.settings import get_settings
from tests.support import wait_for
from workers.voice import VoiceProcess, new_address

SENTENCE = "Momentum is the product of mass and velocity."


@pytest.fixture
def voice_process() -> Iterator[VoiceProcess]:
    process = VoiceProcess(new_address())
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def speak(address: str, sentence: str) -> tuple[int, np.ndarray]:
    async with VoiceClient(address).session() as (rate, say):
        return rate, await say(sentence)


async def test_it_speaks_exactly_as_the_voice_in_this_process(
    voice_process: VoiceProcess,
) -> None:
    rate, samples = await speak(voice_process.address, SENTENCE)
    async with local_voice(get_settings()).session() as (local_rate, say):
        expected = await say(SENTENCE)
    assert rate == local_rate == 22_050
    np.testing.assert_array_equal(samples, expected)


async def test_a_killed_voice_process_is_started_again(voice_process: VoiceProcess) -> None:
    first = wait_for(lambda: voice_process.pid, 10)
    _, before = await speak(voice_process.address, SENTENCE)
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: voice_process.pid not in (None, first) and voice_process.pid, 15)
    _, after = await speak(voice_process.address, SENTENCE)  # waits for it to listen
    assert second != first
    np.testing.assert_array_equal(after, before)


async def test_a_voice_process_that_stops_answering_is_killed_and_started_again(
    voice_process: VoiceProcess,
) -> None:
    paused = wait_for(lambda: voice_process.pid, 10)
    await speak(voice_process.address, SENTENCE)  # loaded: the next answer is quick
    os.kill(paused, signal.SIGSTOP)
    try:
        with pytest.raises(TransientStageError, match="did not answer in time"):
            async with VoiceClient(voice_process.address, answer_seconds=1).session() as s:
                await s.speak(SENTENCE)
        wait_for(lambda: voice_process.pid not in (None, paused), 15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(paused, signal.SIGCONT)
    _, samples = await speak(voice_process.address, SENTENCE)
    assert len(samples) > 0


def test_stop_ends_it(voice_process: VoiceProcess) -> None:
    pid = wait_for(lambda: voice_process.pid, 10)
    voice_process.stop()
    assert voice_process.pid is None
    assert not Path(f"/proc/{pid}").exists()
