"""One way to run a Celery worker on this machine: `vividly demo`, bench/ and the tests.

A prefork `celery worker` subprocess in its own process group (so a test can SIGKILL or
SIGSTOP all of it), its output in a log file, ready when it answers a ping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from workers.routing import QUEUES
from workers.voice import MODULE as VOICE_MODULE

READY_SECONDS = 60.0
STOP_SECONDS = 20.0


class LocalWorker:
    def __init__(
        self,
        log_path: Path,
        *,
        queues: Sequence[str] = QUEUES,
        concurrency: int = 2,
        env: Mapping[str, str] | None = None,
        include: Sequence[str] = (),
        cwd: Path | None = None,
        name_prefix: str = "local",
    ) -> None:
        self.log_path = log_path
        self.queues, self.concurrency, self.include = tuple(queues), concurrency, include
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.name = f"{name_prefix}-{uuid.uuid4().hex[:6]}@{os.uname().nodename}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "celery", "-A", "workers.app", "worker",
            "-P", "prefork", "-c", str(self.concurrency), "-Q", ",".join(self.queues),
            "--without-gossip", "--without-mingle", "-l", "INFO", "-n", self.name,
        ]  # fmt: skip
        for module in self.include:
            cmd += ["-I", module]
        return cmd

    def start(self) -> None:
        """Launch, and return once the worker consumes (or raise with its log's tail)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_SECONDS
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the worker did not start ({self.log_path}):\n{tail}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        # Celery logs "<name> ready." at INFO once it consumes; a worker whose LOG_LEVEL
        # hides it is asked over the broker instead.
        if b" ready." in self.log_path.read_bytes():
            return True
        if self.env.get("LOG_LEVEL", "INFO").upper() not in ("INFO", "DEBUG"):
            from workers.app import app

            return bool(app.control.ping(destination=[self.name], timeout=0.3))
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """The pids of the pool children, from /proc."""
        return [pid for pid in self._offspring() if not _is_voice(pid)]

    def voice_process(self) -> int | None:
        """The pid of the worker's voice process (workers/voice.py), if it runs one."""
        return next((pid for pid in self._offspring() if _is_voice(pid)), None)

    def _offspring(self) -> list[int]:
        """Every thread's children: the voice process is its supervising thread's."""
        if self.proc is None or not self.alive():
            return []
        pids = []
        for path in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            try:
                pids += [int(x) for x in path.read_text().split()]
            except OSError:
                pass  # a thread that has just ended
        return pids

    def signal_all(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the main process and its pool children: no goodbye."""
        if self.proc is not None and self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.alive():
            stop_group(self.proc)


def _is_voice(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return VOICE_MODULE.encode() in argv


def stop_group(proc: subprocess.Popen[bytes], timeout: float = STOP_SECONDS) -> None:
    """SIGTERM a process group (resumed first: a paused process cannot stop), SIGKILL it
    if it has not gone in time."""
    try:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        proc.wait(10)


@contextmanager
def running(worker: LocalWorker) -> Iterator[LocalWorker]:
    """The worker, started, and stopped when the block ends."""
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


class Memory(NamedTuple):
    """A process's memory in MiB, from /proc: resident (VmRSS); the part of it that is
    pages of files (RssFile: libraries, a model mapped from its file), which every process
    mapping the same file shares and the kernel may drop and read again; its own pages
    (Private_Dirty: pages it wrote that no other process shares, which the kernel cannot
    drop); and its proportional share (Pss: each shared page divided among the processes
    that hold it, what the machine pays for this one)."""

    rss: float = 0.0
    files: float = 0.0
    private: float = 0.0
    pss: float = 0.0


def memory_mib(pid: int) -> Memory:
    kib: dict[str, int] = {}
    for name in ("status", "smaps_rollup"):
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            field, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                kib[field] = int(value.split()[0])
    return Memory(
        kib.get("VmRSS", 0) / 1024,
        kib.get("RssFile", 0) / 1024,
        kib.get("Private_Dirty", 0) / 1024,
        kib.get("Pss", 0) / 1024,
    )
