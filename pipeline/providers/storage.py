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
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO
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
    """Objects as files under `root`; locations are `file:///abs/path` URLs."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def location_for(self, key: str) -> str:
        return (self._root / check_key(key)).as_uri()

    async def put_file(self, key: str, path: Path, content_type: str) -> str:
        # content_type is not kept: a local file's type is its extension.
        target = self._root / check_key(key)

        def copy(out: IO[bytes]) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out)

        await asyncio.to_thread(_write_atomic, target, copy)
        return target.as_uri()

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        target = self._root / check_key(key)
        await asyncio.to_thread(_write_atomic, target, lambda out: out.write(data))
        return target.as_uri()

    async def get_bytes(self, location: str) -> bytes:
        path = self._path(location)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as e:
            raise PermanentStageError(MISSING_OBJECT) from e

    async def download(self, location: str, path: Path) -> None:
        source = self._path(location)
        try:
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
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError("location is outside this storage's root directory")
        return path


def _write_atomic(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through a temp file in the target's directory, then rename over the target,
    so a reader never sees half a file and a crash leaves no truncated object."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise TransientStageError("could not write to local storage") from e
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            # Durable before the database row that points at it is committed.
            os.fsync(out.fileno())
        os.chmod(tmp, LOCAL_FILE_MODE)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise TransientStageError("could not write to local storage") from e
        raise
