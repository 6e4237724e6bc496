"""The estimated cost of a lesson, from its provenance and the price table."""

from __future__ import annotations

from pipeline.costs import DEFAULT_PRICES, estimated_cost_usd


def test_a_gemini_script_narrated_by_google_tts() -> None:
    script = {"provider": "gemini", "input_tokens": 2_000, "output_tokens": 1_000}
    speech = {"provider": "google_tts", "characters": 2_500}
    prices = {
        "gemini_input_per_million_tokens": 1.0,
        "gemini_output_per_million_tokens": 10.0,
        "google_tts_per_million_characters": 100.0,
    }
    # 2000 * 1 + 1000 * 10 + 2500 * 100 = 262_000 micro-dollars
    assert estimated_cost_usd(script, speech, prices) == 0.262


def test_the_embedded_providers_cost_nothing() -> None:
    assert estimated_cost_usd({"provider": "template"}, {"provider": "espeak"}, DEFAULT_PRICES) == 0


def test_the_cache_key_changes_with_what_makes_the_lesson() -> None:
    from pipeline.cache import cache_key, content_version
    from pipeline.settings import Settings

    embedded = content_version(Settings())
    gemini = content_version(Settings(script_provider="gemini"))
    other_model = content_version(Settings(script_provider="gemini", gemini_model="gemini-3"))
    voice = content_version(Settings(speech_provider="google", tts_voice="en-GB-Neural2-A"))
    assert len({embedded, gemini, other_model, voice}) == 4
    keys = {cache_key("topic_x", "int_y", "conversational", v) for v in (embedded, gemini)}
    assert len(keys) == 2 and all(len(k) == 64 for k in keys)  # still the seed's column
