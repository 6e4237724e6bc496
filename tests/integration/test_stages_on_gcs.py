"""Every stage, run in order by the stage runner, against Google Cloud Storage: the real
google-cloud-storage client talking to a local emulator (no Celery here: the runner and
stages are plain async code; tests/workers covers the tasks)."""

from __future__ import annotations

import dataclasses
import json
import uuid

from pipeline.api import PipelineAPI
from pipeline.cache import cache_key, content_version
from pipeline.context import Context
from pipeline.providers.factory import open_storage
from pipeline.providers.storage_gcs import GCSStorage
from pipeline.runner import Dispatch
from pipeline.settings import get_settings
from tests.support import run_all
from tests.workers.helpers import content, row


def gcs_context(ctx: Context, bucket: str, emulator: str) -> Context:
    settings = ctx.settings.model_copy(
        update={"storage_url": f"gs://{bucket}", "storage_emulator_host": emulator}
    )
    storage = open_storage(settings)
    assert isinstance(storage, GCSStorage)
    return Context(
        settings, ctx.engine, dataclasses.replace(ctx.providers, storage=storage), ctx.scratch
    )


async def test_a_lesson_is_stored_in_gcs_under_its_cache_key(
    ctx, gcs_emulator, signing_credentials
) -> None:
    bucket = f"vividly-{uuid.uuid4().hex[:8]}"
    gcs_ctx = gcs_context(ctx, bucket, gcs_emulator)
    storage = gcs_ctx.providers.storage
    assert isinstance(storage, GCSStorage)
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    rid = await api.submit_request(
        "user_demo_student_2", "how do vaccines train the immune system?", "int_dance"
    )
    stages_run = await run_all(gcs_ctx, sent)

    r = row(rid)
    assert r["status"] == "completed", r["error_message"]
    assert stages_run == ["nlu", "cache_check", "script", "audio", "video"]
    key = cache_key(r["topic_id"], "int_dance", "conversational", content_version(get_settings()))
    c = content(r["generated_content_id"])
    prefix = f"gs://{bucket}/content/{key}/"
    for field, name in (
        ("script_url", "script.json"),
        ("audio_url", "audio.mp3"),
        ("video_url", "video.mp4"),
        ("thumbnail_url", "thumbnail.jpg"),
    ):
        assert c[field] == prefix + name
        assert await storage.exists(c[field])
    lesson = json.loads(await storage.get_bytes(c["script_url"]))
    assert lesson["topic_id"] == r["topic_id"] and 3 <= len(lesson["sections"]) <= 6

    # Signed URLs are minted on read, never stored.
    signer = GCSStorage(bucket, storage._client, signing_credentials)
    url = signer.signed_url(c["video_url"])
    assert f"/{bucket}/content/{key}/video.mp4" in url and "X-Goog-Signature" in url
    assert "X-Goog-Signature" not in json.dumps(c, default=str)


async def test_a_cached_lesson_whose_video_is_gone_is_made_again_not_served(
    ctx, gcs_emulator
) -> None:
    gcs_ctx = gcs_context(ctx, f"vividly-{uuid.uuid4().hex[:8]}", gcs_emulator)
    storage = gcs_ctx.providers.storage
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    query = "how do vaccines train the immune system?"
    first = await api.submit_request("user_demo_student_2", query, "int_basketball")
    await run_all(gcs_ctx, sent)
    lost = content(row(first)["generated_content_id"])
    assert await storage.delete(lost["video_url"])  # e.g. a lifecycle rule emptied it

    again = await api.submit_request("user_demo_student_1", query, "int_basketball")
    stages_run = await run_all(gcs_ctx, sent)

    r = row(again)
    assert r["status"] == "completed", r["error_message"]
    assert (r["cache_hit"], r["metadata"]["cache"]) == (False, "miss")
    assert stages_run == ["nlu", "cache_check", "script", "audio", "video"]
    made = content(r["generated_content_id"])
    assert made["id"] != lost["id"] and await storage.exists(made["video_url"])
    assert content(lost["id"])["cache_key"] != made["cache_key"]  # out of the cache
