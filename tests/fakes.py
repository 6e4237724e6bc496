"""Providers for worker processes under test: the embedded providers (or instant
stand-ins), wrapped to count calls and to fail on demand.

The test process and the worker processes share a control directory (VIVIDLY_FAKE_DIR):
- calls/<provider>: one line per call (appended; counted by tests);
- fail/<provider>: "transient N" fails the first N calls, "transient always" or
  "permanent" fails every call, "crash" raises RuntimeError in every call, "slow S"
  sleeps S seconds in every call;
- media: "real" uses espeak-ng and the PyAV renderer, anything else the instant stand-ins.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from pipeline.context import Providers
from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.factory import build_default
from pipeline.providers.instant import InstantSpeech, InstantVideo
from pipeline.providers.traced import Traced
from pipeline.settings import Settings


def control_dir() -> Path:
    return Path(os.environ["VIVIDLY_FAKE_DIR"])


def calls(name: str) -> int:
    path = control_dir() / "calls" / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def set_failure(name: str, spec: str | None) -> None:
    path = control_dir() / "fail" / name
    if spec is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(spec)


def set_media(mode: str) -> None:
    (control_dir() / "media").write_text(mode)


def reset() -> None:
    for sub in ("calls", "fail"):
        for f in (control_dir() / sub).glob("*"):
            f.unlink()
    set_media("instant")


def callers(name: str) -> list[int]:
    """The pids of the processes that made each call, in order."""
    path = control_dir() / "calls" / name
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _record(name: str) -> int:
    """Append a call record; returns how many calls came before this one."""
    before = calls(name)
    with open(control_dir() / "calls" / name, "a") as f:
        f.write(f"{os.getpid()}\n")
    return before


async def _maybe_fail(name: str, before: int, args: tuple[Any, ...]) -> None:
    path = control_dir() / "fail" / name
    if not path.exists():
        return
    spec = path.read_text().split()
    if spec[0] == "slow":  # take this long, then succeed: time to kill the worker
        await asyncio.sleep(float(spec[1]))
        return
    if spec[0] == "kill":
        ids = {getattr(a, "id", None) for a in args}
        if set(spec[1:]) <= ids:
            os.kill(os.getpid(), signal.SIGKILL)
        return
    if spec[0] == "crash":  # an unexpected exception: a bug, not a classified failure
        raise RuntimeError(f"{name} provider crashed (test)")
    if spec[0] == "permanent":
        raise PermanentStageError(f"{name} provider rejected the input (test)")
    if spec[1] == "always" or before < int(spec[1]):
        raise TransientStageError(f"{name} provider unavailable (test)")


def _real_media() -> bool:
    path = control_dir() / "media"
    return path.exists() and path.read_text().strip() == "real"


class Counted:
    """Wraps one provider method: record the call, maybe fail, then delegate."""

    def __init__(self, name: str, method: str, real: Any, instant: Any = None) -> None:
        self.name, self.method, self.real, self.instant = name, method, real, instant

    def __getattr__(self, attr: str) -> Any:
        if attr != self.method:
            return getattr(self.real, attr)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await _maybe_fail(self.name, _record(self.name), args)
            target = self.real if self.instant is None or _real_media() else self.instant
            return await getattr(target, attr)(*args, **kwargs)

        return call


def build(settings: Settings) -> Providers:
    for sub in ("calls", "fail"):
        (control_dir() / sub).mkdir(parents=True, exist_ok=True)
    p = build_default(settings)
    return Providers(
        resolver=Counted("nlu", "understand", p.resolver),
        writer=Counted("script", "write", p.writer),
        # The stand-ins are traced like the real ones (build_default traces those).
        speech=Counted("speech", "synthesize", p.speech, Traced("speech", InstantSpeech())),
        video=Counted("video", "render", p.video, Traced("video", InstantVideo())),
        storage=p.storage,
        safety=p.safety,
        archive=p.archive,
    )
