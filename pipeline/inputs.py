"""What the API accepts from its callers: text a student typed, and ids.

Refusals name the problem and the field, never the value: the value may be a student's
words (FERPA, COPPA), and a RequestError travels into API logs and CLI output.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.errors import RequestError
from pipeline.redaction import redact

# Invisible characters that change how text reads or matches without being seen:
# zero-width spaces and joiners, the BOM, and the bidirectional overrides and isolates
# (the "Trojan Source" characters).
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]")
_WHITESPACE = frozenset("\t\n\r")
# An id is a short token of letters, digits and _ . : - (request UUIDs, user_…, topic_…).
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


def _refuse_unsafe(value: object, what: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"The {what} is not valid UTF-8.") from None
    if not isinstance(value, str):
        raise RequestError(f"The {what} must be text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"The {what} is not valid UTF-8 (it holds a lone surrogate).") from None
    if "\x00" in value:
        raise RequestError(f"The {what} contains a NUL character.")
    for ch in value:
        if ch not in _WHITESPACE and unicodedata.category(ch) == "Cc":
            raise RequestError(f"The {what} contains a control character (U+{ord(ch):04X}).")
    return value


def normalised(text: str) -> str:
    """NFKC (fullwidth letters, ligatures and compatibility forms become plain ones), with
    the invisible characters removed and the ends stripped."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).strip()


def student_text(value: object, what: str, max_chars: int) -> str:
    """A query or a clarification answer: refused if unsafe, else normalised and with
    personal details redacted. Length is checked on what would be stored."""
    text = redact(normalised(_refuse_unsafe(value, what)))
    if not text:
        raise RequestError(f"The {what} is empty.")
    if len(text) > max_chars:
        raise RequestError(f"The {what} is {len(text)} characters long; the limit is {max_chars}.")
    return text


def checked_id(value: object, what: str) -> str:
    """An id argument: refused unless it is a plain token (so it is safe to echo back)."""
    text = _refuse_unsafe(value, what)
    if not _ID.fullmatch(text):
        raise RequestError(f"The {what} is not a valid id (1 to 100 letters, digits or _ . : -).")
    return text


def optional_id(value: object, what: str) -> str | None:
    return None if value is None else checked_id(value, what)
