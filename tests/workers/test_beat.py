"""Two beat hosts: RedBeat lets one schedule at a time; the other takes over on release."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support import REPO, TEST_ENV, wait_for


def start_beat(log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "beat", "--schedule", str(log) + ".db"],
        cwd=REPO,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )


def events(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def logged(log: Path, event: str) -> dict | None:
    return next((e for e in events(log) if e.get("event") == event), None)


def test_a_second_beat_waits_for_the_first_to_release_the_lock(pipeline_db: str) -> None:
    tag = uuid.uuid4().hex[:6]
    log_a, log_b = TEST_ENV.tmp / f"beat-a-{tag}.log", TEST_ENV.tmp / f"beat-b-{tag}.log"
    a = start_beat(log_a)
    b = None
    try:
        wait_for(lambda: logged(log_a, "beat: Acquired lock"), 30)
        b = start_beat(log_b)
        wait_for(lambda: logged(log_b, "beat: Starting..."), 30)
        a.send_signal(signal.SIGTERM)
        a.wait(30)
        released = logged(log_a, "beat: Releasing lock")
        acquired = wait_for(lambda: logged(log_b, "beat: Acquired lock"), 30)
        assert released is not None
        # B scheduled nothing while A held the lock.
        assert acquired["timestamp"] >= released["timestamp"]
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(30)
