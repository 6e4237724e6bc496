"""A stage's local writes land while its completion runs (pipeline/durability.py), on a
real file system: not visible before they land, fsynced before they are renamed, in the
order they were made with the first failure stopping the rest, discarded when the work
fails, and the completion never returns (so never commits) before they are in place."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.durability import deferred_writes
from pipeline.errors import TransientStageError
from pipeline.providers.storage import LocalStorage
from pipeline.runner import complete_durably


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def temp_files(folder: Path) -> list[str]:
    return [n for n in files(folder) if n.endswith(".tmp")]


async def test_deferred_writes_are_invisible_until_they_land_each_synced_before_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path)
    synced: set[int] = set()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.add(os.stat(fd).st_ino)

    def replace(src: str, dst: Path) -> None:
        assert os.stat(src).st_ino in synced, "renamed into place before its fsync"
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    folder = tmp_path / "content/k"
    with deferred_writes() as written:
        urls = await asyncio.gather(
            *(store.put_bytes(f"content/k/f{i}.txt", b"%d" % i, "text/plain") for i in range(3))
        )
    assert not await store.exists(urls[0])  # written, not yet in place
    assert len(temp_files(folder)) == 3
    landing = written.start_landing()
    assert landing is not None
    await landing
    assert [await store.get_bytes(u) for u in urls] == [b"0", b"1", b"2"]
    assert files(folder) == ["f0.txt", "f1.txt", "f2.txt"]


async def test_the_first_write_that_fails_stops_the_ones_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the video stage writes: its video, then the page that plays it. A page must
    never be in place pointing at a video that is not."""
    store = LocalStorage(tmp_path)
    real_replace = os.replace

    def replace(src: str, dst: Path) -> None:
        if str(dst).endswith("video.mp4"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with deferred_writes() as written:
        await store.put_bytes("content/k/thumbnail.jpg", b"jpg", "image/jpeg")
        await store.put_bytes("content/k/video.mp4", b"mp4", "video/mp4")
        await store.put_bytes("content/k/lesson.html", b"<video>", "text/html")
    with pytest.raises(TransientStageError):
        written.land_now()
    assert files(tmp_path / "content/k") == ["thumbnail.jpg"]  # no video, no page, no temp


async def test_work_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(RuntimeError), deferred_writes():
        await store.put_bytes("content/k/script.json", b"{}", "application/json")
        raise RuntimeError("the provider failed after the first file")
    assert files(tmp_path / "content/k") == []


async def test_outside_a_stage_a_put_is_in_place_when_it_returns(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    url = await store.put_bytes("content/k/page.html", b"<p>", "text/html")
    assert await store.get_bytes(url) == b"<p>"


class Spec:
    """A stage's completion that records what was in place while its statements ran."""

    def __init__(self, folder: Path, one_statement: bool) -> None:
        self.folder = folder
        self.completes_in_one_statement = one_statement
        self.seen: list[str] = []

    async def complete(self, repo: Any, ctx: Any, row: Any, result: Any) -> list[Any]:
        await asyncio.sleep(0)  # a round trip to the database
        self.seen = files(self.folder)
        return []


@pytest.mark.parametrize("one_statement", [False, True])
async def test_a_completion_returns_only_with_its_files_in_place(
    tmp_path: Path, one_statement: bool
) -> None:
    store = LocalStorage(tmp_path)
    spec = Spec(tmp_path / "content/k", one_statement)
    with deferred_writes() as written:
        await store.put_bytes("content/k/audio.mp3", b"mp3", "audio/mpeg")
    ctx = SimpleNamespace()
    await complete_durably(spec, ctx, None, None, None, written)  # type: ignore[arg-type]  # a stand-in stage
    assert files(tmp_path / "content/k") == ["audio.mp3"]
    if one_statement:  # one statement commits as it runs: the file is in place before it
        assert spec.seen == ["audio.mp3"]


async def test_a_completion_fails_when_a_file_does_not_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path)
    spec = Spec(tmp_path / "content/k", one_statement=False)
    with deferred_writes() as written:
        await store.put_bytes("content/k/audio.mp3", b"mp3", "audio/mpeg")

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(TransientStageError):  # raised inside the transaction: it rolls back
        await complete_durably(spec, SimpleNamespace(), None, None, None, written)  # type: ignore[arg-type]  # a stand-in stage
    assert files(tmp_path / "content/k") == []
