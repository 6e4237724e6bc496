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
