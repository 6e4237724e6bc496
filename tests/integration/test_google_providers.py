"""The Google providers with their real clients (google-genai, google-cloud-texttospeech)
against local stand-ins that speak the public REST shapes (tests/google_standins.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from db.seed import seed_catalog
from pipeline.errors import PermanentStageError, SafetyDeclined, TransientStageError
from pipeline.providers.gemini import PROVIDER_SAFETY, open_gemini
from pipeline.providers.nlu_gemini import GeminiTopicResolver
from pipeline.providers.nlu_lexical import LexicalTopicResolver
from pipeline.providers.script_gemini import GeminiScriptWriter
from pipeline.providers.speech_google import MAX_REQUEST_BYTES, Voice, chunks, open_google_speech
from pipeline.providers.spoken import probe_audio_seconds
from tests.google_standins import CHARS_PER_SECOND, MARKER

CATALOG = seed_catalog()
TOPIC = CATALOG.topics["topic_phys_newton_3"]
INTEREST = CATALOG.interests["int_basketball"]


def caller(google):
    return open_gemini("test-key", "gemini-2.5-flash", 5.0, google.url)


def resolver(google) -> GeminiTopicResolver:
    lexical = LexicalTopicResolver(0.45)
    rank = lambda q, c: lexical.scores(q, c)  # noqa: E731
    return GeminiTopicResolver(caller(google), lexical, rank, 0.45)


# -- NLU -------------------------------------------------------------------------------------


async def test_gemini_nlu_chooses_among_the_embedded_candidates(google) -> None:
    u = await resolver(google).understand("why does a rocket push back on the gas?", CATALOG)
    (call,) = google.gemini_calls
    sent = json.loads(call["prompt"])
    assert u.topic_id == sent["candidates"][0]["id"] and u.confidence == 0.92
    assert all(c["id"] in CATALOG.topics for c in sent["candidates"])
    assert set(sent) == {"question", "candidates", "interests"}  # nothing about the student


async def test_gemini_nlu_asks_when_vague(google) -> None:
    google.script("vague")
    u = await resolver(google).understand("energy", CATALOG)
    assert u.topic_id is None and u.question == "Which idea do you mean?"
    assert 2 <= len(u.options) <= 4 and all(o.topic_id in CATALOG.topics for o in u.options)


async def test_an_invented_topic_is_refused_repaired_once_then_the_embedded_answer_used(
    google,
) -> None:
    google.script("invent", "invent")
    u = await resolver(google).understand("explain newton's third law", CATALOG)
    assert len(google.gemini_calls) == 2
    assert "not one of the candidate ids" in google.gemini_calls[1]["prompt"]
    assert u.topic_id in CATALOG.topics  # the lexical resolver's own answer


# -- script ----------------------------------------------------------------------------------


async def test_gemini_writes_a_valid_lesson_from_the_catalog_facts(google) -> None:
    lesson = await GeminiScriptWriter(caller(google)).write(TOPIC, INTEREST, "conversational")
    assert MARKER in lesson.title and 3 <= len(lesson.sections) <= 7
    assert lesson.grade_band == f"grades {TOPIC.grade_level_min}-{TOPIC.grade_level_max}"
    sent = json.loads(google.gemini_calls[0]["prompt"])
    assert sent["facts"] == list(TOPIC.facts) and sent["interest"] == INTEREST.name
    made = lesson.provenance  # for the cost fields: tokens in and out
    assert (made["provider"], made["prompt_version"], made["attempts"]) == ("gemini", "script-1", 1)
    assert made["input_tokens"] > 0 and made["output_tokens"] > 0


async def test_a_malformed_lesson_is_repaired_once(google) -> None:
    google.script("malformed")
    lesson = await GeminiScriptWriter(caller(google)).write(TOPIC, INTEREST, "simpler")
    assert MARKER in lesson.title
    assert len(google.gemini_calls) == 2 and "not JSON" in google.gemini_calls[1]["prompt"]


async def test_a_lesson_invalid_twice_fails_with_a_sentence_an_operator_can_act_on(google) -> None:
    google.script("invalid", "invalid")
    with pytest.raises(PermanentStageError, match="gave an invalid lesson twice") as e:
        await GeminiScriptWriter(caller(google)).write(TOPIC, INTEREST, "conversational")
    assert "sections" in str(e.value) and "retry the request" in str(e.value)


# -- failure semantics -----------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["safety", "finish_safety"])
async def test_a_safety_block_is_a_decline_never_retried(google, behaviour) -> None:
    google.script(behaviour)
    with pytest.raises(SafetyDeclined) as e:
        await GeminiScriptWriter(caller(google)).write(TOPIC, INTEREST, "conversational")
    assert e.value.category == PROVIDER_SAFETY and len(google.gemini_calls) == 1


async def test_429_is_transient_and_keeps_retry_after(google) -> None:
    google.script("429")
    with pytest.raises(TransientStageError) as e:
        await resolver(google).understand("explain torque", CATALOG)
    assert e.value.retry_after == 2.0


async def test_500_is_transient_and_a_slow_answer_times_out_as_transient(google) -> None:
    google.script("500")
    with pytest.raises(TransientStageError, match="HTTP 500"):
        await resolver(google).understand("explain torque", CATALOG)
    google.script("slow:3")
    slow = open_gemini("test-key", "gemini-2.5-flash", 1.0, google.url)
    with pytest.raises(TransientStageError):
        await GeminiScriptWriter(slow).write(TOPIC, INTEREST, "conversational")


# -- text-to-speech --------------------------------------------------------------------------


def test_long_narration_is_cut_between_sentences_under_the_byte_limit() -> None:
    sentence = "Forces come in pairs, équal and opposite, every single time. "
    text = sentence * 200  # ~12 kB, with two-byte characters
    parts = chunks(text)
    assert len(parts) >= 3 and all(len(p.encode()) <= MAX_REQUEST_BYTES for p in parts)
    assert all(p.endswith(".") for p in parts)  # whole sentences
    assert " ".join(parts) == text.strip()


async def test_google_tts_joins_the_parts_and_measures_the_duration(google, tmp_path: Path) -> None:
    speech = open_google_speech(Voice(), google.url)
    text = "A rocket pushes gas back, and the gas pushes the rocket forward. " * 120
    audio = await speech.synthesize(text, tmp_path)
    assert len(google.tts_calls) >= 2
    assert all(c["bytes"] <= MAX_REQUEST_BYTES for c in google.tts_calls)
    assert google.tts_calls[0]["voice"]["name"] == "en-US-Neural2-F"
    chunks_sent = sum(-(-len(c["text"]) // CHARS_PER_SECOND) for c in google.tts_calls)
    expected = chunks_sent * google.chunk_seconds
    assert audio.mime_type == "audio/mpeg" and audio.path.exists()
    assert audio.duration_seconds == pytest.approx(expected, rel=0.02)  # of what was sent
    assert audio.duration_seconds == pytest.approx(probe_audio_seconds(audio.path))
    assert audio.provenance["characters"] == sum(len(c["text"]) for c in google.tts_calls)


async def test_tts_5xx_is_transient_and_4xx_permanent(google, tmp_path: Path) -> None:
    speech = open_google_speech(Voice(), google.url)
    google.fail_tts(503)
    with pytest.raises(TransientStageError):
        await speech.synthesize("Hello there.", tmp_path)
    google.fail_tts(400)
    with pytest.raises(PermanentStageError, match="HTTP 400"):
        await speech.synthesize("Hello there.", tmp_path)
