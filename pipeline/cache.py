"""Cache keys and object layout.

The seed's key is SHA-256 of "topic_id|interest_id|style". Ours adds the content version
(what writes, speaks and renders the lesson, with their prompt and voice): a documented
deviation, so that switching the script model or the voice, or changing a prompt,
makes new lessons instead of serving the old ones as if they were new. The key stays a
64-character hex digest in the seed's column.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

DEFAULT_STYLE = "conversational"
STYLES = frozenset({"conversational", "simpler", "detailed", "storytelling"})

# Bump a version when its provider's output changes for the same inputs.
TEMPLATE_VERSION = "template-2"
GEMINI_SCRIPT_PROMPT_VERSION = "script-1"
PIPER_VERSION = "piper-joe-1"
ESPEAK_VERSION = "espeak-2"
GOOGLE_TTS_VERSION = "google-tts-1"
VIDEO_VERSION = "slides-2"


class VersionSettings(Protocol):
    @property
    def script_provider(self) -> str: ...
    @property
    def speech_provider(self) -> str: ...
    @property
    def gemini_model(self) -> str: ...
    @property
    def tts_voice(self) -> str: ...
    @property
    def tts_speaking_rate(self) -> float: ...


def content_version(settings: VersionSettings) -> str:
    """What makes a lesson for these settings, as one string (e.g.
    "template-2|piper-joe-1|slides-2")."""
    if settings.script_provider == "gemini":
        script = f"gemini:{settings.gemini_model}:{GEMINI_SCRIPT_PROMPT_VERSION}"
    else:
        script = TEMPLATE_VERSION
    if settings.speech_provider == "google":
        speech = f"{GOOGLE_TTS_VERSION}:{settings.tts_voice}:{settings.tts_speaking_rate}"
    elif settings.speech_provider == "espeak":
        speech = ESPEAK_VERSION
    else:
        speech = PIPER_VERSION
    return f"{script}|{speech}|{VIDEO_VERSION}"


def cache_key(topic_id: str, interest_id: str, style: str, version: str) -> str:
    return hashlib.sha256(f"{topic_id}|{interest_id}|{style}|{version}".encode()).hexdigest()


# A lesson's folder beside its media (pipeline/lesson_files.py); their locations are kept in
# generation_metadata[NARRATION], as the seed has no columns for them.
CAPTIONS = "captions.vtt"
TRANSCRIPT = "transcript.txt"
TIMINGS = "timings.json"
PAGE = "lesson.html"
NARRATION = "narration"
LESSON_FILE_URLS = ("captions_url", "transcript_url", "lesson_page_url")


def object_key(key: str, name: str) -> str:
    """content/{cache_key}/{name}: no student data in object paths, only the hash."""
    return f"content/{key}/{name}"
