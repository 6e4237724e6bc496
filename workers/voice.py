"""The voice process of a worker that narrates with Piper: started by the worker's main
process before it forks the pool, started again whenever it exits, stopped after the pool
at a warm shutdown (pipeline/providers/voice_process.py says why it exists).

It runs in a session of its own, so a signal to the worker's process group (a warm
shutdown's SIGTERM, a terminal's SIGINT) does not cut off the narrations the pool is
finishing; it ends when its stdin closes, i.e. when the worker and every child that
inherited the pipe are gone, however they ended: a SIGKILLed worker leaves no voice behind.

    python -m workers.voice ADDRESS
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid

import structlog

from pipeline.settings import get_settings

log = structlog.get_logger("vividly.voice")

RESTART_SECONDS = 1.0
STOP_SECONDS = 10.0
# How a voice process is told apart from the pool children among the worker's own.
MODULE = "workers.voice"


def new_address() -> str:
    """An abstract unix socket (pipeline/providers/voice_process.py socket_path)."""
    return f"@vividly-voice-{uuid.uuid4().hex}"


class VoiceProcess:
    """Keeps one voice process running at `address` until `stop`."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="voice", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def pid(self) -> int | None:
        """The running voice process's, or None between an exit and its restart."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", MODULE, self.address],
                    stdin=subprocess.PIPE,
                    start_new_session=True,
                )
            code = self._proc.wait()
            if self._stopping.wait(RESTART_SECONDS):
                return
            log.warning("the voice process exited; starting it again", exit_code=code)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is None or proc.stdin is None:
            return
        proc.stdin.close()
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_running: VoiceProcess | None = None


def start() -> None:
    """Start this worker's voice process and point the pool children it will fork at it
    (they read VOICE_ADDRESS into their settings)."""
    global _running
    _running = VoiceProcess(new_address())
    _running.start()
    os.environ["VOICE_ADDRESS"] = _running.address
    get_settings.cache_clear()  # read again, with the address, by each child
    log.info("voice process started")


def stop() -> None:
    if _running is not None:
        _running.stop()


async def _until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    closed = loop.create_future()

    def readable() -> None:
        if not os.read(0, 4096) and not closed.done():
            loop.remove_reader(0)
            closed.set_result(None)

    loop.add_reader(0, readable)
    await closed


async def _serve(address: str) -> None:
    from pipeline.providers.factory import local_voice
    from pipeline.providers.voice_process import serve

    await serve(local_voice(get_settings()), address, asyncio.ensure_future(_until_stdin_closes()))


def main() -> None:
    from pipeline.providers.heap import limit_heaps
    from workers.logs import configure_logging

    limit_heaps()
    configure_logging()
    asyncio.run(_serve(sys.argv[1]))


if __name__ == "__main__":
    main()
