"""Object storage in one Google Cloud Storage bucket (`gs://bucket/key`), through the
real google-cloud-storage client (tests drive it against the GCS emulator)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import google.cloud.storage as storage  # untyped: with bigquery typed, import the module itself
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from pipeline.errors import PermanentStageError, StageError, TransientStageError
from pipeline.providers.storage import MISSING_OBJECT, check_key
from pipeline.settings import Settings

# Per HTTP request; a 3 minute lesson's video is a few MB, well within this on any link.
GCS_REQUEST_TIMEOUT_SECONDS = 60.0
# The client's own retry (429, 5xx, dropped connections) gives up after this long and the
# stage fails transient, leaving further retries to Celery's backoff. Uploads use it too:
# they are not retried by default, but overwriting a content-addressed key is idempotent.
GCS_RETRY = DEFAULT_RETRY.with_timeout(30.0)
# Project id for the emulator, which ignores it; a real bucket's project comes from the
# credentials.
EMULATOR_PROJECT = "vividly-local"

T = TypeVar("T")


class GCSStorage:
    """Objects in one GCS bucket; locations are `gs://bucket/key`.

    The client's calls block, so each runs in a worker thread. Signed URLs are minted on
    read (never stored) with `signing_credentials`, or the client's own when None; those
    must hold a private key (a service-account key file), not just a token.
    """

    def __init__(
        self,
        bucket_name: str,
        client: storage.Client,
        signing_credentials: Credentials | None = None,
        signed_url_ttl_seconds: int = 3600,
    ) -> None:
        self._client = client
        self._bucket = client.bucket(bucket_name)
        self._signing_credentials = signing_credentials
        self._ttl = timedelta(seconds=signed_url_ttl_seconds)

    @property
    def bucket_name(self) -> str:
        return str(self._bucket.name)

    def location_for(self, key: str) -> str:
        return self._location(str(check_key(key)))

    async def put_file(self, key: str, path: Path, content_type: str) -> str:
        blob = self._bucket.blob(str(check_key(key)))
        await _call(
            "upload",
            blob.upload_from_filename,
            str(path),
            content_type=content_type,
            timeout=GCS_REQUEST_TIMEOUT_SECONDS,
            retry=GCS_RETRY,
        )
        return self._location(blob.name)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        blob = self._bucket.blob(str(check_key(key)))
        await _call(
            "upload",
            blob.upload_from_string,
            data,
            content_type=content_type,
            timeout=GCS_REQUEST_TIMEOUT_SECONDS,
            retry=GCS_RETRY,
        )
        return self._location(blob.name)

    async def get_bytes(self, location: str) -> bytes:
        blob = self._blob(location)
        return await _call(
            "download", blob.download_as_bytes, timeout=GCS_REQUEST_TIMEOUT_SECONDS, retry=GCS_RETRY
        )

    async def download(self, location: str, path: Path) -> None:
        # On failure the client deletes the partly written file.
        blob = self._blob(location)
        await _call(
            "download",
            blob.download_to_filename,
            str(path),
            timeout=GCS_REQUEST_TIMEOUT_SECONDS,
            retry=GCS_RETRY,
        )

    async def exists(self, location: str) -> bool:
        blob = self._blob(location)
        return await _call(
            "lookup", blob.exists, timeout=GCS_REQUEST_TIMEOUT_SECONDS, retry=GCS_RETRY
        )

    async def size(self, location: str) -> int:
        name = self._blob(location).name
        blob = await _call(
            "lookup",
            self._bucket.get_blob,
            name,
            timeout=GCS_REQUEST_TIMEOUT_SECONDS,
            retry=GCS_RETRY,
        )
        if blob is None or blob.size is None:
            raise PermanentStageError(MISSING_OBJECT)
        return int(blob.size)

    async def delete(self, location: str) -> bool:
        blob = self._blob(location)

        def delete() -> bool:
            try:
                blob.delete(timeout=GCS_REQUEST_TIMEOUT_SECONDS, retry=GCS_RETRY)
                return True
            except api_exceptions.NotFound:
                return False

        return await _call("delete", delete)

    def signed_url(self, location: str) -> str:
        try:
            url: str = self._blob(location).generate_signed_url(
                version="v4",
                expiration=self._ttl,
                method="GET",
                credentials=self._signing_credentials,
            )
            return url
        except AttributeError as e:
            # google-cloud-storage's way of saying the credentials hold no private key.
            raise ValueError(
                "these GCS credentials cannot sign URLs; set GCS_CREDENTIALS_FILE to a "
                "service-account key"
            ) from e

    def _location(self, name: str) -> str:
        return f"gs://{self._bucket.name}/{name}"

    def _blob(self, location: str) -> storage.Blob:
        # Split by hand: urlsplit would cut a key at `?` or `#`.
        bucket, sep, key = location.removeprefix("gs://").partition("/")
        if not location.startswith("gs://") or not sep:
            raise ValueError("not a gs://bucket/key location")
        if bucket != self._bucket.name:
            raise ValueError("location is in a different bucket from this storage's")
        return self._bucket.blob(str(check_key(key)))


async def _call(action: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as e:
        error = _stage_error(e, action)
        if error is None:
            raise
        raise error from e


# Failures worth another attempt later: the service or the network, not the request.
_TRANSIENT_TYPES = (
    api_exceptions.RetryError,  # the client's own retries ran out
    api_exceptions.ServerError,  # 5xx, ServiceUnavailable
    api_exceptions.TooManyRequests,
    auth_exceptions.TransportError,  # could not reach the token endpoint
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
    DataCorruption,  # checksum mismatch in transit
)


def _stage_error(e: Exception, action: str) -> StageError | None:
    """The stage error for a google-cloud-storage failure, or None for anything else."""
    if isinstance(e, _TRANSIENT_TYPES):
        return TransientStageError(f"object storage is unavailable ({action} failed)")
    if isinstance(e, auth_exceptions.RefreshError):
        # google-auth marks the refresh failures a later attempt may get past.
        if getattr(e, "retryable", False):
            return TransientStageError(f"object storage is unavailable ({action} failed)")
        return PermanentStageError("object storage rejected the worker's credentials")
    if isinstance(e, api_exceptions.NotFound) and action != "upload":
        return PermanentStageError(MISSING_OBJECT)
    if isinstance(e, api_exceptions.GoogleAPICallError) and _retryable_status(e.code):
        return TransientStageError(f"object storage is unavailable ({action} failed)")
    if isinstance(e, api_exceptions.GoogleAPICallError):
        # 403 (no permission), 404 on upload (no such bucket), 400, 412: a retry gets the
        # same answer.
        return PermanentStageError(f"object storage refused the {action} (HTTP {e.code})")
    if isinstance(e, InvalidResponse):
        status = getattr(e.response, "status_code", 0)
        if _retryable_status(status):
            return TransientStageError(f"object storage is unavailable ({action} failed)")
        return PermanentStageError(f"object storage refused the {action} (HTTP {status})")
    return None


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in (408, 429))


def open_gcs(settings: Settings, bucket: str) -> GCSStorage:
    signing: Credentials | None = None
    if settings.gcs_credentials_file:
        signing = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]  # google-auth is untyped
            settings.gcs_credentials_file
        )
    if settings.storage_emulator_host:
        client = storage.Client(
            project=EMULATOR_PROJECT,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth
            client_options={"api_endpoint": settings.storage_emulator_host},
        )
        # A fresh emulator starts empty; a real bucket is made by infrastructure, not here.
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)
    elif signing is not None:
        project = getattr(signing, "project_id", None)  # service-account keys carry one
        client = storage.Client(project=project, credentials=signing)
    else:
        client = storage.Client()  # ambient credentials (workload identity, gcloud ADC)
    return GCSStorage(bucket, client, signing, settings.signed_url_ttl_seconds)
