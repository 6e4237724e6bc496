"""The memory figures the bench prints per worker kind (workers.localworker.memory_mib)."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from workers.localworker import memory_mib

MIB = 1024 * 1024


def test_own_pages_grow_with_what_the_process_writes() -> None:
    # Fresh pages of their own mapping: a heap block could reuse pages already counted.
    with mmap.mmap(-1, 40 * MIB) as block:
        before = memory_mib(os.getpid())
        for offset in range(0, len(block), mmap.PAGESIZE):
            block[offset] = 1
        after = memory_mib(os.getpid())
    assert after.private - before.private >= 35
    assert after.rss - before.rss >= 35
    assert after.files - before.files < 5


def _on_tmpfs(path: Path) -> bool:
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    best = max((m for m in mounts if str(path).startswith(m[1])), key=lambda m: len(m[1]))
    return best[2] == "tmpfs"


def test_pages_of_a_mapped_file_count_as_files_not_own(tmp_path: Path) -> None:
    if _on_tmpfs(tmp_path):
        pytest.skip("a tmpfs file's pages are shared memory, not pages of a file on disk")
    path = tmp_path / "weights.bin"
    with path.open("wb") as f:
        f.write(os.urandom(32 * MIB))
        os.fsync(f.fileno())  # its pages in the page cache are clean, as a model's on disk
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        before = memory_mib(os.getpid())
        _ = sum(mapped[i] for i in range(0, len(mapped), mmap.PAGESIZE))  # read every page
        after = memory_mib(os.getpid())
    assert after.files - before.files >= 28
    assert after.private - before.private < 5  # clean pages of a file: the kernel may drop them
    # Only this process maps it: its share is all of it.
    assert after.pss - before.pss >= 28
    assert 0 < after.private <= after.rss and 0 < after.pss <= after.rss + 1
