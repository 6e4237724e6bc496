"""Object storage: a local directory (`file://`) here, a Google Cloud Storage bucket
(`gs://`) in storage_gcs.py, which factory.open_storage imports only for a STORAGE_URL that
names a bucket (the client library costs ~20 MiB of every process that imports it).

Keys are content-addressed (`content/{cache_key}/audio.mp3`), so writing a key again writes
the same bytes: uploads overwrite and are safe to retry. A missing object on read is a
PermanentStageError: the stage that wrote it has to run again, retrying the reader won't help.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn
from urllib.parse import unquote, urlsplit

from pipeline.errors import PermanentStageError, TransientStageError

LOCAL_FILE_MODE = 0o644
MISSING_OBJECT = "a stored file the stage needs is missing"


def check_key(key: str) -> PurePosixPath:
    """A relative `a/b/c` key; `..`, absolute paths and empty parts are refused."""
    path = PurePosixPath(key)
    if (
        not key
        or path.is_absolute()
        or ".." in path.parts
        or "\\" in key
        or "//" in key
        or key.endswith("/")
    ):
        raise ValueError(f"invalid storage key {key!r}")
    return path


class LocalStorage:
    """Objects as files under `root`; locations are `file:///abs/path` URLs.

    A lesson's objects are small (a script, captions, a page: kilobytes; a narration or
    a video: a few MB), and a pool child runs one task at a time, so files up to
    INLINE_BYTES are read and written on the event loop: their system calls take
    microseconds, less than the hop to a thread and back, which cost a pool child more
    CPU than the lesson's writes themselves (bench/pipeline_bench.py, "CAS + storage").
    Larger files go to a thread. Every write is durable before it is put in place (see
    `_sync_written`)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._prefix = f"{self._root}{os.sep}"
        self._written: list[_Written] = []

    @property
    def root(self) -> Path:
        return self._root

    def location_for(self, key: str) -> str:
        return (self._root / check_key(key)).as_uri()

    async def put_file(self, key: str, path: Path, content_type: str) -> str:
        # content_type is not kept: a local file's type is its extension.
        target = self._root / check_key(key)
        try:
            data = path.read_bytes() if _size_of(path) <= INLINE_BYTES else None
        except OSError as e:
            raise TransientStageError("could not read the file to store") from e
        if data is not None:
            return await self._put_inline(target, data)

        def copy(out: IO[bytes]) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out)

        await asyncio.to_thread(_write_atomic, target, copy)
        return target.as_uri()

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        target = self._root / check_key(key)
        if len(data) <= INLINE_BYTES:
            return await self._put_inline(target, data)
        await asyncio.to_thread(_write_atomic, target, lambda out: out.write(data))
        return target.as_uri()

    async def get_bytes(self, location: str) -> bytes:
        path = self._path(location)
        try:
            with path.open("rb") as f:
                if os.fstat(f.fileno()).st_size <= INLINE_BYTES:
                    return f.read()
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as e:
            raise PermanentStageError(MISSING_OBJECT) from e

    async def download(self, location: str, path: Path) -> None:
        source = self._path(location)
        try:
            if _size_of(source) <= INLINE_BYTES:
                path.write_bytes(source.read_bytes())
            else:
                await asyncio.to_thread(shutil.copyfile, source, path)
        except FileNotFoundError as e:
            if not source.exists():
                raise PermanentStageError(MISSING_OBJECT) from e
            raise

    # A stat of a local file takes microseconds, less than the hop to a thread and back:
    # these two run on the loop (a cache hit asks `exists` before it is served).
    async def exists(self, location: str) -> bool:
        return self._path(location).is_file()

    async def size(self, location: str) -> int:
        try:
            stat = self._path(location).stat()
        except FileNotFoundError as e:
            raise PermanentStageError(MISSING_OBJECT) from e
        return stat.st_size

    async def delete(self, location: str) -> bool:
        path = self._path(location)

        def unlink() -> bool:
            try:
                path.unlink()
                return True
            except FileNotFoundError:
                return False

        return await asyncio.to_thread(unlink)

    def signed_url(self, location: str) -> str:
        # Local files need no signing; whoever serves the directory decides who may read it.
        return location

    def _path(self, location: str) -> Path:
        parts = urlsplit(location)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError("not a local file:// location")
        # normpath, not resolve(): `..` cannot leave the root, and resolve()'s lstat of
        # every folder on the way cost more than the read it guarded. Only this storage
        # writes under its root, so no symlink there points elsewhere.
        path = os.path.normpath(unquote(parts.path))
        if not path.startswith(self._prefix):
            raise ValueError("location is outside this storage's root directory")
        return Path(path)

    async def _put_inline(self, target: Path, data: bytes) -> str:
        loop = asyncio.get_running_loop()
        if self._written and self._written[0].loop is not loop:
            self._sync_written()  # left by a loop that stopped before its turn came
        written = _Written(*_write_temp(target, lambda out: out.write(data)), target, loop)
        self._written.append(written)
        if len(self._written) == 1:
            written.loop.call_soon(self._sync_next_turn, loop)
        await written.done
        return target.as_uri()

    def _sync_next_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        # One turn later: writes started side by side one level down (the audio stage's
        # narration files, gathered inside a call gathered beside the audio) start on the
        # loop's next turn, and join this sync instead of paying a journal commit of their own.
        loop.call_soon(self._sync_written)

    def _sync_written(self) -> None:
        """fsync, then rename into place, every file written since the last call: the
        writes a stage starts side by side (its lesson files) land here together, and the
        first fsync commits the file system's journal for all of them, so the others
        return at once (0.13 against 0.44 ms of CPU a file, written and synced one by
        one). Each file is durable before it is visible, and before the stage commits
        the row that points at it."""
        written, self._written = self._written, []
        for w in written:
            try:
                _put_in_place(w.fd, w.tmp, w.target)
            except Exception as e:  # every writer hears how its own file went
                if not w.done.done():
                    w.done.set_exception(e)
                continue
            if not w.done.done():  # its writer may have been cancelled meanwhile
                w.done.set_result(None)


# Files up to this size are read and written on the event loop (see LocalStorage).
INLINE_BYTES = 256 * 1024


class _Written:
    """A temp file written and still open, waiting for its fsync and rename."""

    __slots__ = ("done", "fd", "loop", "target", "tmp")

    def __init__(self, fd: int, tmp: str, target: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.fd, self.tmp, self.target, self.loop = fd, tmp, target, loop
        self.done: asyncio.Future[None] = loop.create_future()


def _write_temp(target: Path, write: Callable[[IO[bytes]], object]) -> tuple[int, str]:
    """A new temp file beside `target` (its folder made if need be) holding what `write`
    writes: its open descriptor, not yet synced, and its path."""
    tmp = f"{target.parent}{os.sep}.{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            fd = os.open(tmp, _TEMP_FLAGS, LOCAL_FILE_MODE)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, _TEMP_FLAGS, LOCAL_FILE_MODE)
    except OSError as e:
        raise TransientStageError("could not write to local storage") from e
    try:
        os.fchmod(fd, LOCAL_FILE_MODE)  # whatever the process's umask
        with os.fdopen(fd, "wb", closefd=False) as out:
            write(out)
    except BaseException as e:
        os.close(fd)
        _failed(tmp, e)
    return fd, tmp


def _put_in_place(fd: int, tmp: str, target: Path) -> None:
    """fsync the temp file, then rename it over `target`: durable before it is visible,
    so a reader never sees half a file and a crash leaves the old object or the new one."""
    try:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        _failed(tmp, e)


def _failed(tmp: str, error: BaseException) -> NoReturn:
    """Remove the temp file of a write that failed; a system error is transient."""
    Path(tmp).unlink(missing_ok=True)
    if isinstance(error, OSError):
        raise TransientStageError("could not write to local storage") from error
    raise error


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _size_of(path: Path) -> int:
    return os.stat(path).st_size


def _write_atomic(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """A large object, in a thread: written beside its place, then put in place."""
    _put_in_place(*_write_temp(target, write), target)
