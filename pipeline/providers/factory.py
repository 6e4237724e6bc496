"""Provider construction from settings; `build_default` is the embedded offline set."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipeline.context import Providers
from pipeline.providers.protocols import TopicResolver
from pipeline.settings import Settings


def build_resolver(settings: Settings) -> TopicResolver:
    """The TopicResolver that settings.nlu_provider names. The semantic one fails here, at
    construction, when its model or tokenizer cannot be loaded."""
    if settings.nlu_provider == "semantic":
        from pipeline.providers.nlu_semantic import SemanticTopicResolver

        return SemanticTopicResolver(settings.nlu_confidence_threshold)
    from pipeline.providers.nlu_lexical import LexicalTopicResolver

    return LexicalTopicResolver(settings.nlu_confidence_threshold)


def build_default(settings: Settings) -> Providers:
    from pipeline.providers.script_template import TemplateScriptWriter
    from pipeline.providers.speech_espeak import EspeakSpeech
    from pipeline.providers.storage import open_storage
    from pipeline.providers.video_slides import SlideVideoRenderer
    from pipeline.safety import KeywordSafetyGate

    return Providers(
        resolver=build_resolver(settings),
        writer=TemplateScriptWriter(),
        speech=EspeakSpeech(attempts=settings.provider_attempts),
        video=SlideVideoRenderer(),
        storage=open_storage(settings),
        safety=KeywordSafetyGate(),
    )


def build_providers(settings: Settings) -> Providers:
    module, _, name = settings.provider_factory.partition(":")
    factory: Callable[[Settings], Providers] = getattr(importlib.import_module(module), name)
    return factory(settings)
