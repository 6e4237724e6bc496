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


def unit_price(provider: str, measure: str, prices: dict[str, float]) -> float:
    """USD per unit of `measure` (input_tokens, output_tokens, characters) at `provider`."""
    if measure.endswith("_tokens"):
        key = f"{provider}_{measure.removesuffix('_tokens')}_per_million_tokens"
    else:
        key = f"{provider}_per_million_{measure}"
    return prices.get(key, 0.0) / 1_000_000


def estimated_cost_usd(
    script: dict[str, Any], speech: dict[str, Any], prices: dict[str, float]
) -> float:
    spent = [
        (script, "input_tokens"),
        (script, "output_tokens"),
        (speech, "characters"),
    ]
    cost = sum(
        int(part.get(measure, 0)) * unit_price(str(part.get("provider")), measure, prices)
        for part, measure in spent
    )
    return round(cost, 6)
