"""Provider construction from settings; with the defaults, the embedded offline set."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

from pipeline.context import Providers
from pipeline.providers.protocols import (
    ArchiveWarehouse,
    ObjectStorage,
    ScriptWriter,
    SpeechSynthesizer,
    TopicResolver,
    VideoRenderer,
)
from pipeline.providers.traced import Traced
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.providers.gemini import GeminiCaller
    from pipeline.providers.speech_piper import LocalVoice


def build_resolver(settings: Settings) -> TopicResolver:
    """The TopicResolver that settings.nlu_provider names. The semantic one fails here, at
    construction, when its model or tokenizer cannot be loaded."""
    if settings.nlu_provider in ("semantic", "gemini"):
        from pipeline.providers.nlu_semantic import SemanticTopicResolver

        semantic = SemanticTopicResolver(settings.nlu_confidence_threshold)
        if settings.nlu_provider == "semantic":
            return semantic
        from pipeline.providers.nlu_gemini import GeminiTopicResolver

        return GeminiTopicResolver(
            gemini_caller(settings, settings.gemini_timeout_seconds),
            semantic,
            semantic.rank,
            settings.nlu_confidence_threshold,
        )
    from pipeline.providers.nlu_lexical import LexicalTopicResolver

    return LexicalTopicResolver(settings.nlu_confidence_threshold)


def gemini_caller(settings: Settings, timeout_seconds: float) -> GeminiCaller:
    from pipeline.providers.gemini import open_gemini

    return open_gemini(
        settings.gemini_api_key, settings.gemini_model, timeout_seconds, settings.gemini_base_url
    )


def build_writer(settings: Settings) -> ScriptWriter:
    if settings.script_provider == "gemini":
        from pipeline.providers.script_gemini import GeminiScriptWriter

        return GeminiScriptWriter(gemini_caller(settings, settings.gemini_script_timeout_seconds))
    from pipeline.providers.script_template import TemplateScriptWriter

    return TemplateScriptWriter()


def build_speech(settings: Settings) -> SpeechSynthesizer:
    if settings.speech_provider == "google":
        from pipeline.providers.speech_google import Voice, open_google_speech

        voice = Voice(settings.tts_voice, settings.tts_language_code, settings.tts_speaking_rate)
        return open_google_speech(voice, settings.tts_api_endpoint)
    if settings.speech_provider == "espeak":
        from pipeline.providers.speech_espeak import EspeakSpeech

        return EspeakSpeech(attempts=settings.provider_attempts)
    from pipeline.providers.speech_piper import PiperSpeech

    if settings.voice_address:
        from pipeline.providers.voice_process import VoiceClient

        return PiperSpeech(VoiceClient(settings.voice_address))
    return PiperSpeech(local_voice(settings))


def local_voice(settings: Settings) -> LocalVoice:
    from pipeline.providers.speech_piper import LocalVoice

    return LocalVoice(Path(settings.workdir) / "models")


def build_default(settings: Settings) -> Providers:
    """The providers the settings name; with the defaults, the embedded offline set."""
    from pipeline.providers.video_slides import SlideVideoRenderer
    from pipeline.safety import KeywordSafetyGate

    return Providers(
        resolver=cast(TopicResolver, Traced("nlu", build_resolver(settings))),
        writer=cast(ScriptWriter, Traced("script", build_writer(settings))),
        speech=cast(SpeechSynthesizer, Traced("speech", build_speech(settings))),
        video=cast(VideoRenderer, Traced("video", SlideVideoRenderer())),
        storage=open_storage(settings),
        safety=KeywordSafetyGate(),
        archive=open_storage(settings, settings.archive_url, "ARCHIVE_URL"),
        warehouse=open_warehouse(settings),
    )


def open_warehouse(settings: Settings) -> ArchiveWarehouse | None:
    """BigQuery when BIGQUERY_DATASET is set (and a project: BIGQUERY_PROJECT), else None."""
    if not settings.bigquery_dataset:
        return None
    if not settings.bigquery_project:
        raise ValueError("BIGQUERY_DATASET is set but BIGQUERY_PROJECT is not")
    from pipeline.providers.warehouse_bigquery import open_bigquery  # only when used

    return open_bigquery(
        settings.bigquery_project, settings.bigquery_dataset, settings.bigquery_api_endpoint
    )


def build_providers(settings: Settings) -> Providers:
    module, _, name = settings.provider_factory.partition(":")
    factory: Callable[[Settings], Providers] = getattr(importlib.import_module(module), name)
    return factory(settings)


def open_storage(
    settings: Settings, url: str | None = None, setting: str = "STORAGE_URL"
) -> ObjectStorage:
    """The storage STORAGE_URL (or the given `url`, read from `setting`) names:
    `file://dir` (relative to the current directory unless absolute) or `gs://bucket`."""
    url = url or settings.storage_url
    if url.startswith("file://"):
        root = Path(unquote(url.removeprefix("file://"))).expanduser()
        root = root if root.is_absolute() else Path.cwd() / root
        root.mkdir(parents=True, exist_ok=True)
        from pipeline.providers.storage import LocalStorage

        return LocalStorage(root)
    if url.startswith("gs://"):
        bucket = url.removeprefix("gs://").rstrip("/")
        if not bucket or "/" in bucket:
            raise ValueError(f"{setting} gs:// takes a bucket name only (gs://bucket)")
        from pipeline.providers.storage_gcs import open_gcs  # ~20 MiB: only when used

        return open_gcs(settings, bucket)
    raise ValueError(f"{setting} must be file://… or gs://…")
