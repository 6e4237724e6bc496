"""Cache keys (seed: SHA-256 of "topic_id|interest_id|style") and object layout."""

from __future__ import annotations

import hashlib

DEFAULT_STYLE = "conversational"
STYLES = frozenset({"conversational", "simpler", "detailed", "storytelling"})


def cache_key(topic_id: str, interest_id: str, style: str) -> str:
    return hashlib.sha256(f"{topic_id}|{interest_id}|{style}".encode()).hexdigest()


def object_key(key: str, name: str) -> str:
    """content/{cache_key}/{name}: no student data in object paths, only the hash."""
    return f"content/{key}/{name}"
