"""Scratch folders: where a stage keeps files no one needs once it ends (a narration
before it is stored, the audio the video stage reads, the video being encoded).

They live on a memory file system where there is one (/dev/shm). On a disk, every file
created there waited on the journal that the stored files' fsyncs commit: with instant
providers, the state machine ran at 0.56 of the CAS chain with them on disk and at 0.66
in memory (bench/pipeline_bench.py; README, "Performance").

A stage's folder is named after its process, so that a folder a killed process left (a
hard time limit kills a pool child) is removed when a later process opens the same root:
in memory it would otherwise hold RAM until the machine restarts. So a root belongs to
one machine (one container): a process id means nothing on another."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import structlog

from pipeline.settings import Settings

log = structlog.get_logger("vividly.scratch")

MEMORY_FS = Path("/dev/shm")


def scratch_root(settings: Settings) -> Path:
    """SCRATCH_DIR if set, else a folder of this user's on the memory file system, else
    WORKDIR/scratch; made if missing, and cleared of what dead processes left in it."""
    fallback = Path(settings.workdir) / "scratch"
    if settings.scratch_dir:
        root = Path(settings.scratch_dir)
    elif MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK | os.X_OK):
        root = MEMORY_FS / f"vividly-scratch-{os.getuid()}"
        # Anyone may create names in /dev/shm: a name taken before us (a symlink, another
        # user's folder) is not used, or lesson media would go where that user chose.
        if not _private_folder(root):
            log.warning("scratch folder not private to this user; using WORKDIR/scratch")
            root = fallback
    else:
        root = fallback
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_orphans(root)
    return root


def _private_folder(path: Path) -> bool:
    """Whether `path` is (or, made now, becomes) a real folder of this user's, 0700."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return True


def scratch_folder(root: Path) -> tempfile.TemporaryDirectory[str]:
    """A new folder in `root` for one stage's files, removed when the stage leaves it."""
    return tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-", dir=root)


def remove_orphans(root: Path) -> int:
    """Remove the folders in `root` whose process has ended; how many went (one that
    could not be removed is left for the next process that opens the root)."""
    removed = 0
    for entry in root.iterdir():
        pid, dash, _ = entry.name.partition("-")
        if dash and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
