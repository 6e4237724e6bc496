"""What a lesson cost, estimated from its provenance and the price table in settings
(PRICE_TABLE: USD per million tokens or characters). The embedded providers cost 0."""

from __future__ import annotations

from typing import Any

# USD; Gemini 2.5 Flash and Neural2 voices at list prices (2026-12), overridable.
DEFAULT_PRICES: dict[str, float] = {
    "gemini_input_per_million_tokens": 0.30,
    "gemini_output_per_million_tokens": 2.50,
    "google_tts_per_million_characters": 16.00,
}


def estimated_cost_usd(
    script: dict[str, Any], speech: dict[str, Any], prices: dict[str, float]
) -> float:
    cost = 0.0
    if script.get("provider") == "gemini":
        cost += int(script.get("input_tokens", 0)) * prices["gemini_input_per_million_tokens"]
        cost += int(script.get("output_tokens", 0)) * prices["gemini_output_per_million_tokens"]
    if speech.get("provider") == "google_tts":
        cost += int(speech.get("characters", 0)) * prices["google_tts_per_million_characters"]
    return round(cost / 1_000_000, 6)
