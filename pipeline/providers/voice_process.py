"""One voice for all the narrating processes of a worker, in a process of its own.

Piper in a pool child costs it ~140 MiB (onnxruntime, the voice's activations and its
mapped weights) on top of the ~110 MiB every child holds; one voice process per worker
keeps that once, whatever the worker's concurrency, and the children speak through it
over a unix socket. The worker starts it and starts it again should it die
(workers/voice.py); a child that finds it gone fails the stage with a transient error,
and the stage is retried like any other that lost its provider. One that is there but
does not answer (paused, stuck) is killed by the child that waited on it, so the worker
starts it again instead of every narration waiting on it in turn.

Frames, both ways: a header (status, n) then n bytes. The server's first frame is
(OK, sample rate) with nothing after it; each request is (SPEAK, n) and n bytes of UTF-8
text; each answer is (OK, n) and n bytes of float32 little-endian samples, or an error
status and n bytes of a message that names the failure, never the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import NamedTuple, Protocol

import numpy as np
import structlog

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.spoken import Samples, SpeakOne

log = structlog.get_logger("vividly.voice")

_FRAME = struct.Struct("!BI")
OK, SPEAK, PERMANENT, TRANSIENT = 0, 1, 2, 3
# A sentence is a few hundred bytes; anything near this is not narration.
MAX_SENTENCE_BYTES = 64 * 1024
# The voice loads on its first connection (a second or two, more on a machine's very
# first lesson, which writes the mapped model) and speaks a sentence in well under a
# second; a child may wait behind its siblings' sentences too. Past this, it is hung.
ANSWER_SECONDS = 60.0
# How long a child waits for a voice process that is being started again.
CONNECT_SECONDS = 10.0
CONNECT_RETRY_SECONDS = 0.05


class VoiceSession(NamedTuple):
    sample_rate: int
    speak: SpeakOne


class Voice(Protocol):
    """Where sentences are spoken: in this process or in the worker's voice process."""

    def session(self) -> AbstractAsyncContextManager[VoiceSession]: ...


class VoiceClient:
    """A Voice that speaks in the voice process listening at `address`."""

    def __init__(
        self,
        address: str,
        connect_seconds: float = CONNECT_SECONDS,
        answer_seconds: float = ANSWER_SECONDS,
    ) -> None:
        self._address = address
        self._connect_seconds = connect_seconds
        self._answer_seconds = answer_seconds

    @asynccontextmanager
    async def session(self) -> AsyncIterator[VoiceSession]:
        reader, writer = await self._connect()
        voice_pid, voice_uid = _peer(writer)
        if voice_uid != os.getuid():  # a name taken by another user while ours restarted
            writer.close()
            raise TransientStageError("the voice process's address is held by another user")

        async def receive(n: int) -> bytes:
            try:
                return await asyncio.wait_for(reader.readexactly(n), self._answer_seconds)
            except TimeoutError as e:
                _stop_hung(voice_pid, self._answer_seconds)
                raise TransientStageError("the voice process did not answer in time") from e
            except (OSError, asyncio.IncompleteReadError) as e:
                raise TransientStageError("the voice process stopped answering") from e

        async def answer() -> bytes:
            status, n = _FRAME.unpack(await receive(_FRAME.size))
            if status != OK:
                raise _error(status, await receive(n))
            return await receive(n)

        async def speak(sentence: str) -> Samples:
            text = sentence.encode()
            if len(text) > MAX_SENTENCE_BYTES:
                raise PermanentStageError("a sentence of the narration is too long to speak")
            try:
                writer.write(_FRAME.pack(SPEAK, len(text)) + text)
                await writer.drain()
            except OSError as e:
                raise TransientStageError("the voice process stopped answering") from e
            return np.frombuffer(await answer(), "<f4").astype(np.float32)

        try:
            status, rate = _FRAME.unpack(await receive(_FRAME.size))
            if status != OK:
                raise _error(status, await receive(rate))
            yield VoiceSession(rate, speak)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        deadline = asyncio.get_running_loop().time() + self._connect_seconds
        while True:
            try:
                return await asyncio.open_unix_connection(socket_path(self._address))
            except OSError as e:  # not listening yet: the worker is starting it again
                if asyncio.get_running_loop().time() > deadline:
                    raise TransientStageError("the voice process is not answering") from e
                await asyncio.sleep(CONNECT_RETRY_SECONDS)


def _stop_hung(pid: int, waited: float) -> None:
    """A voice process that is alive but does not answer (paused, or stuck in the voice)
    would fail every narration of the worker in turn: it is killed, and the worker starts
    it again (workers/voice.py)."""
    if pid in (0, os.getpid()):
        return  # served from this very process: nothing to restart
    log.warning("voice process killed: it did not answer", pid=pid, waited_s=waited)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def socket_path(address: str) -> str:
    """ "@name" is the abstract socket "name" (Linux: nothing on disk to clean up or to
    collide with), written so because a NUL byte cannot go in argv or the environment."""
    return "\0" + address[1:] if address.startswith("@") else address


def _error(status: int, payload: bytes) -> Exception:
    message = payload.decode(errors="replace")
    if status == PERMANENT:
        return PermanentStageError(message)
    return TransientStageError(message)


async def serve(voice: Voice, address: str, until: asyncio.Future[None]) -> None:
    """Answer connections at `address` until `until` is done. A peer of another user is
    refused: an abstract socket has no file permissions to keep others out."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if _peer(writer)[1] == os.getuid():
                await _converse(voice, reader, writer)
            else:
                log.warning("refused a connection from another user")
        except (OSError, asyncio.IncompleteReadError):
            pass  # the child went away (killed, or its stage cancelled): nothing to answer
        finally:
            writer.close()

    server = await asyncio.start_unix_server(answer, socket_path(address))
    log.info("voice process serving")
    async with server:
        await until


async def _converse(
    voice: Voice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            session = await stack.enter_async_context(voice.session())
        except Exception as e:  # the voice could not load: say why, and hang up
            writer.write(_failure(e))
            await writer.drain()
            return
        writer.write(_FRAME.pack(OK, session.sample_rate))
        while True:
            kind, n = _FRAME.unpack(await reader.readexactly(_FRAME.size))
            if kind != SPEAK or n > MAX_SENTENCE_BYTES:
                writer.write(_failure(PermanentStageError("the voice process got a bad request")))
                await writer.drain()
                return
            sentence = (await reader.readexactly(n)).decode()
            try:
                samples = await session.speak(sentence)
            except Exception as e:
                writer.write(_failure(e))
            else:
                data = np.ascontiguousarray(samples, "<f4").tobytes()
                writer.write(_FRAME.pack(OK, len(data)) + data)
            await writer.drain()


def _failure(e: Exception) -> bytes:
    """Our own errors say what failed and carry no input; anything else is named by its
    type only, as its text might quote the sentence."""
    if isinstance(e, PermanentStageError):
        status, message = PERMANENT, str(e)
    elif isinstance(e, TransientStageError):
        status, message = TRANSIENT, str(e)
    else:
        log.warning("the voice failed on a sentence", error_type=type(e).__name__)
        status, message = TRANSIENT, f"the voice failed on a sentence ({type(e).__name__})"
    text = message.encode()
    return _FRAME.pack(status, len(text)) + text


_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


def _peer(writer: asyncio.StreamWriter) -> tuple[int, int]:
    """The pid and uid of the process at the other end of a unix socket."""
    sock: socket.socket = writer.get_extra_info("socket")
    pid, uid, _ = _CREDENTIALS.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    )
    return int(pid), int(uid)
