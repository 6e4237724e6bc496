"""Retention archives loaded into BigQuery (the seed's "archive to BigQuery"), off unless
BIGQUERY_DATASET is set. One load job per archive object, appending newline-delimited
JSON to `{dataset}.{table}` with the schema detected from the rows.

The job id derives from the archive object's key, so a batch that is archived again
after a crash (same rows, same key) asks BigQuery for the same job: the 409 it answers
means "already loaded", and the rows are not loaded twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from pipeline.errors import PermanentStageError, TransientStageError

LOAD_TIMEOUT_SECONDS = 300.0


class BigQueryArchiveLoader:
    def __init__(self, client: bigquery.Client, dataset: str) -> None:
        self._client = client
        self._dataset = dataset

    async def load(self, table: str, archive_key: str, data: bytes) -> str:
        """Load one archive object's rows; returns the load job's id."""
        job_id = f"vividly_{table}_{hashlib.sha256(archive_key.encode()).hexdigest()[:40]}"
        destination = f"{self._client.project}.{self._dataset}.{table}"
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            autodetect=True,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        )

        def run() -> None:
            job: Any  # load_table_from_file gives a LoadJob, get_job any kind: all have result()
            try:
                job = self._client.load_table_from_file(
                    io.BytesIO(data), destination, job_id=job_id, size=len(data), job_config=config
                )
            except api_exceptions.Conflict:
                job = self._client.get_job(job_id)  # an earlier run loaded these rows
            job.result(timeout=LOAD_TIMEOUT_SECONDS)

        try:
            await asyncio.to_thread(run)
        except (api_exceptions.ServerError, api_exceptions.TooManyRequests, ConnectionError) as e:
            raise TransientStageError(f"BigQuery is unavailable ({type(e).__name__})") from e
        except api_exceptions.GoogleAPICallError as e:
            raise PermanentStageError(f"BigQuery refused the load (HTTP {e.code})") from e
        return job_id


def open_bigquery(
    project: str, dataset: str, api_endpoint: str | None = None
) -> BigQueryArchiveLoader:
    if api_endpoint:  # a local stand-in or emulator: no credentials to find
        from google.auth.credentials import AnonymousCredentials

        client = bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth
            client_options={"api_endpoint": api_endpoint},
        )
    else:
        client = bigquery.Client(project=project)
    return BigQueryArchiveLoader(client, dataset)
