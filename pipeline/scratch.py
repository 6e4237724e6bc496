"""Scratch folders: where a stage keeps files no one needs once it ends (a narration
before it is stored, the audio the video stage reads, the video being encoded).

They live on a memory file system where there is one (/dev/shm). On a disk, every file
created there waited its turn in the journal that the lesson files' fsyncs commit: with
instant providers that cost the state machine a fifth of its throughput
(bench/pipeline_bench.py; README, "Speed").

A stage's folder is named after its process, so that a folder a killed process left (a
hard time limit kills a pool child) is removed when a later process opens the same root:
in memory it would otherwise hold RAM until the machine restarts."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pipeline.settings import Settings

MEMORY_FS = Path("/dev/shm")


def scratch_root(settings: Settings) -> Path:
    """SCRATCH_DIR if set, else a folder of this user's on the memory file system, else
    WORKDIR/scratch; made if missing, and cleared of what dead processes left in it."""
    if settings.scratch_dir:
        root = Path(settings.scratch_dir)
    elif MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK | os.X_OK):
        root = MEMORY_FS / f"vividly-scratch-{os.getuid()}"
    else:
        root = Path(settings.workdir) / "scratch"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_orphans(root)
    return root


def scratch_folder(root: Path) -> tempfile.TemporaryDirectory[str]:
    """A new folder in `root` for one stage's files, removed when the stage leaves it."""
    return tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-", dir=root)


def remove_orphans(root: Path) -> int:
    """Remove the folders in `root` whose process has ended; how many."""
    removed = 0
    for entry in root.iterdir():
        pid, dash, _ = entry.name.partition("-")
        if dash and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
