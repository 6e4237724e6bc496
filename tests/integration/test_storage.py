"""Object storage: LocalStorage on a temp directory, GCSStorage on the GCS emulator with the
real google-cloud-storage client."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from pipeline.errors import PermanentStageError, TransientStageError
from pipeline.providers.factory import open_storage
from pipeline.providers.storage import INLINE_BYTES, LocalStorage
from pipeline.providers.storage_gcs import GCSStorage
from pipeline.settings import Settings

BUCKET = "vividly-test"  # made by the gcs_emulator fixture


# -- LocalStorage ---------------------------------------------------------------------------


async def test_local_round_trip(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    loc = await store.put_bytes("content/abc/script.json", b'{"a": 1}', "application/json")
    assert loc.startswith("file:///")
    assert Path(loc.removeprefix("file://")) == tmp_path / "store/content/abc/script.json"
    assert await store.get_bytes(loc) == b'{"a": 1}'
    assert await store.exists(loc)
    assert await store.size(loc) == 8
    assert store.signed_url(loc) == loc

    src = tmp_path / "audio.mp3"
    src.write_bytes(b"\xff\xfb" * 1000)
    file_loc = await store.put_file("content/abc/audio.mp3", src, "audio/mpeg")
    out = tmp_path / "copy.mp3"
    await store.download(file_loc, out)
    assert out.read_bytes() == src.read_bytes()
    assert await store.size(file_loc) == 2000


async def test_local_overwrite_is_fine_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    first = await store.put_bytes("content/k/script.json", b"one", "application/json")
    second = await store.put_bytes("content/k/script.json", b"two!", "application/json")
    assert first == second
    assert await store.get_bytes(second) == b"two!"
    assert [p.name for p in (tmp_path / "content/k").iterdir()] == ["script.json"]


async def test_local_missing_object(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    missing = (tmp_path / "content/nope.mp3").as_uri()
    assert not await store.exists(missing)
    with pytest.raises(PermanentStageError):
        await store.get_bytes(missing)
    with pytest.raises(PermanentStageError):
        await store.size(missing)
    with pytest.raises(PermanentStageError):
        await store.download(missing, tmp_path / "out.mp3")


@pytest.mark.parametrize(
    "key", ["../escape.txt", "content/../../escape.txt", "/etc/passwd", "", "a//b", "dir/"]
)
async def test_local_rejects_bad_keys(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        await store.put_bytes(key, b"x", "text/plain")
    assert not (tmp_path / "escape.txt").exists()


async def test_local_rejects_locations_outside_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(ValueError):
        await store.get_bytes((tmp_path / "secret.txt").as_uri())
    with pytest.raises(ValueError):
        await store.get_bytes((tmp_path / "store/../secret.txt").as_uri())
    with pytest.raises(ValueError):
        await store.get_bytes("gs://bucket/secret.txt")


async def test_local_writes_side_by_side_are_each_synced_before_they_are_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lesson files a stage writes side by side are synced together, and no file is
    renamed into place (visible, and pointed at by a committed row) before its fsync."""
    store = LocalStorage(tmp_path)
    events: list[tuple[str, object]] = []
    synced: set[int] = set()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", fd))
        synced.add(os.stat(fd).st_ino)

    def replace(src: str, dst: Path) -> None:
        assert os.stat(src).st_ino in synced, "renamed into place before its fsync"
        events.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    names = [f"file{i}.txt" for i in range(5)]
    urls = await asyncio.gather(
        *(store.put_bytes(f"content/k/{n}", n.encode(), "text/plain") for n in names)
    )
    assert [await store.get_bytes(u) for u in urls] == [n.encode() for n in names]
    # Side by side, the five are written first and synced in one pass.
    assert [kind for kind, _ in events] == ["fsync", "replace"] * 5
    assert sorted(p.name for p in (tmp_path / "content/k").iterdir()) == names


async def test_local_writes_gathered_one_level_down_join_the_same_sync(tmp_path: Path) -> None:
    """As the audio stage writes: the audio beside a call that writes four files side by
    side. All five are synced in one pass (one journal commit, not two)."""
    store = LocalStorage(tmp_path)
    passes: list[int] = []
    sync = store._sync_written

    def counted() -> None:
        passes.append(len(store._written))
        sync()

    store._sync_written = counted  # type: ignore[method-assign]  # a spy on the instance

    async def four_files() -> tuple[str, ...]:
        return await asyncio.gather(
            *(store.put_bytes(f"content/k/f{i}", b"x", "text/plain") for i in range(4))
        )

    await asyncio.gather(store.put_bytes("content/k/audio.mp3", b"a", "audio/mpeg"), four_files())
    assert passes == [5]
    assert len(list((tmp_path / "content/k").iterdir())) == 5


async def test_local_failed_write_is_transient_leaves_no_temp_file_and_spares_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStorage(tmp_path)
    real_replace = os.replace

    def replace(src: str, dst: Path) -> None:
        if str(dst).endswith("broken.txt"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    results = await asyncio.gather(
        store.put_bytes("content/k/good.txt", b"good", "text/plain"),
        store.put_bytes("content/k/broken.txt", b"bad", "text/plain"),
        return_exceptions=True,
    )
    assert isinstance(results[1], TransientStageError)
    assert await store.get_bytes(str(results[0])) == b"good"
    assert [p.name for p in (tmp_path / "content/k").iterdir()] == ["good.txt"]


async def test_local_large_objects_round_trip_off_the_loop(tmp_path: Path) -> None:
    """Objects larger than INLINE_BYTES (real narrations and videos) are copied in a thread."""
    store = LocalStorage(tmp_path / "store")
    big = os.urandom(INLINE_BYTES + 1)
    src = tmp_path / "video.mp4"
    src.write_bytes(big)
    loc = await store.put_file("content/k/video.mp4", src, "video/mp4")
    assert await store.get_bytes(loc) == big
    await store.download(loc, tmp_path / "back.mp4")
    assert (tmp_path / "back.mp4").read_bytes() == big
    assert await store.get_bytes(await store.put_bytes("content/k/b", big, "x")) == big
    assert [p.name for p in (tmp_path / "store/content/k").iterdir()].count("video.mp4") == 1
    assert not [p for p in (tmp_path / "store/content/k").iterdir() if p.suffix == ".tmp"]


# -- GCSStorage on the emulator ---------------------------------------------------------------


def emulator_client(endpoint: str) -> storage.Client:
    return storage.Client(
        project="vividly-local",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


def unique_key(name: str) -> str:
    # The emulator lives for the whole session: each test writes under its own prefix.
    return f"content/{uuid.uuid4().hex}/{name}"


async def test_gcs_round_trip(gcs_emulator: str, tmp_path: Path) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))
    key = unique_key("script.json")
    loc = await store.put_bytes(key, b'{"title": "x"}', "application/json")
    assert loc == f"gs://{BUCKET}/{key}"
    assert await store.get_bytes(loc) == b'{"title": "x"}'
    assert await store.exists(loc)
    assert await store.size(loc) == 14

    src = tmp_path / "video.mp4"
    src.write_bytes(bytes(range(256)) * 64)
    file_loc = await store.put_file(unique_key("video.mp4"), src, "video/mp4")
    out = tmp_path / "back.mp4"
    await store.download(file_loc, out)
    assert out.read_bytes() == src.read_bytes()
    assert await store.size(file_loc) == 256 * 64

    blob = emulator_client(gcs_emulator).bucket(BUCKET).get_blob(file_loc.split("/", 3)[3])
    assert blob is not None and blob.content_type == "video/mp4"


async def test_local_delete_is_idempotent(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    loc = await store.put_bytes("uploads/roster.csv", b"email\n", "text/csv")
    assert await store.delete(loc) is True and not await store.exists(loc)
    assert await store.delete(loc) is False  # already gone: not an error
    with pytest.raises(ValueError):
        await store.delete((tmp_path / "elsewhere.csv").as_uri())


async def test_gcs_delete_is_idempotent(gcs_emulator: str) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))
    loc = await store.put_bytes(unique_key("roster.csv"), b"email\n", "text/csv")
    assert await store.delete(loc) is True and not await store.exists(loc)
    assert await store.delete(loc) is False


async def test_gcs_overwrite_is_fine(gcs_emulator: str) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))
    key = unique_key("audio.mp3")
    first = await store.put_bytes(key, b"one", "audio/mpeg")
    second = await store.put_bytes(key, b"second", "audio/mpeg")
    assert first == second
    assert await store.get_bytes(second) == b"second"


async def test_gcs_missing_object(gcs_emulator: str, tmp_path: Path) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))
    missing = f"gs://{BUCKET}/{unique_key('nothing.mp3')}"
    assert not await store.exists(missing)
    with pytest.raises(PermanentStageError):
        await store.get_bytes(missing)
    with pytest.raises(PermanentStageError):
        await store.size(missing)
    with pytest.raises(PermanentStageError):
        await store.download(missing, tmp_path / "out.mp3")
    assert not (tmp_path / "out.mp3").exists()


async def test_gcs_upload_to_missing_bucket_is_permanent(gcs_emulator: str) -> None:
    store = GCSStorage("no-such-bucket", emulator_client(gcs_emulator))
    with pytest.raises(PermanentStageError) as raised:
        await store.put_bytes(unique_key("a.json"), b"{}", "application/json")
    assert "404" in raised.value.message


async def test_gcs_rejects_other_buckets_and_bad_keys(gcs_emulator: str) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))
    with pytest.raises(ValueError):
        await store.exists("gs://another-bucket/content/x.json")
    with pytest.raises(ValueError):
        await store.exists(f"file:///{BUCKET}/content/x.json")
    with pytest.raises(ValueError):
        await store.put_bytes("../x.json", b"{}", "application/json")


async def test_gcs_signed_url(
    gcs_emulator: str, signing_credentials: service_account.Credentials
) -> None:
    store = GCSStorage(
        BUCKET,
        emulator_client(gcs_emulator),
        signing_credentials=signing_credentials,
        signed_url_ttl_seconds=600,
    )
    loc = await store.put_bytes(unique_key("thumbnail.jpg"), b"jpeg bytes", "image/jpeg")
    url = store.signed_url(loc)
    assert "X-Goog-Signature=" in url
    assert "X-Goog-Algorithm=GOOG4-RSA-SHA256" in url
    assert "X-Goog-Expires=600" in url
    assert "test%40vividly-local.iam.gserviceaccount.com" in url
    # The emulator serves signed URLs without checking the signature: this shows the URL
    # names the right object, not that GCS would accept the signature.
    response = await asyncio.to_thread(requests.get, url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"jpeg bytes"


def test_gcs_signed_url_needs_a_private_key(gcs_emulator: str) -> None:
    store = GCSStorage(BUCKET, emulator_client(gcs_emulator))  # anonymous: cannot sign
    with pytest.raises(ValueError, match="cannot sign"):
        store.signed_url(f"gs://{BUCKET}/content/x/video.mp4")


# -- open_storage ---------------------------------------------------------------------------


async def test_open_storage_file_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_storage(Settings(storage_url="file://./var/storage"))
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path.resolve() / "var/storage"
    assert store.root.is_dir()
    loc = await store.put_bytes("content/k/script.json", b"{}", "application/json")
    assert (tmp_path / "var/storage/content/k/script.json").read_bytes() == b"{}"
    assert await store.get_bytes(loc) == b"{}"


def test_open_storage_file_absolute(tmp_path: Path) -> None:
    store = open_storage(Settings(storage_url=f"file://{tmp_path}/abs"))
    assert isinstance(store, LocalStorage)
    assert store.root == (tmp_path / "abs").resolve()
    assert store.root.is_dir()


async def test_open_storage_gcs_emulator_creates_the_bucket(gcs_emulator: str) -> None:
    bucket = f"vividly-{uuid.uuid4().hex[:12]}"
    settings = Settings(storage_url=f"gs://{bucket}", storage_emulator_host=gcs_emulator)
    store = open_storage(settings)
    assert isinstance(store, GCSStorage)
    assert store.bucket_name == bucket
    assert emulator_client(gcs_emulator).lookup_bucket(bucket) is not None
    loc = await store.put_bytes("content/k/script.json", b"{}", "application/json")
    assert loc == f"gs://{bucket}/content/k/script.json"
    assert await store.get_bytes(loc) == b"{}"
    # Opening again finds the bucket rather than failing to create it twice.
    assert isinstance(open_storage(settings), GCSStorage)


@pytest.mark.parametrize(
    "url", ["s3://bucket", "/var/storage", "http://example.com/x", "gs://", "gs://b/prefix"]
)
def test_open_storage_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="STORAGE_URL"):
        open_storage(Settings(storage_url=url))
