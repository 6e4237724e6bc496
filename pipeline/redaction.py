"""Personal details a student may type into a question, replaced before the row is written.

An e-mail address, a phone number or a street address in a query or a clarification
answer becomes `[email]`, `[phone]` or `[address]`, so it is never stored, logged,
archived or sent to a provider. The patterns are deliberately shaped: numbers in
science ("3.0e8", "F = 9.8 * 2", "6.022 x 10^23", "299792458 m/s", a year) are not
phone numbers, and the lesson only needs the question's science.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")

# Phone shapes from several countries. A bare run of digits counts only from 10 digits
# up (shorter ones are quantities), and never inside a decimal or a longer number.
_PHONE_SHAPES = [
    r"\+\d{1,3}(?:[\s.-]?\(\d{1,4}\))?(?:[\s.-]?\d{1,4}){2,5}",  # +44 20 7946 0958, +1 (555) …
    r"(?:1[\s.-])?\(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}",  # (555) 123-4567, (02) 9374 4000
    r"(?:1[\s.-])?\d{3}[\s.-]\d{3}[\s.-]\d{4}",  # 555-123-4567, 1 800 555 0199, 555.123.4567
    r"0\d{1,4}(?:[\s.-]\d{2,4}){2,4}",  # 020 7946 0958, 06 12 34 56 78, 030-1234-5678
    r"\d{10,15}",  # 5551234567, 0612345678
]
PHONE = re.compile(r"(?<![\w.,^/])(?:" + "|".join(_PHONE_SHAPES) + r")(?![\w^]|[.,]\d)")
_PHONE_DIGITS = range(7, 16)

_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|close|crescent|parkway|pkwy|highway|hwy|circle|cir"
)
_STREET_WORD = r"[A-Z][a-zA-Z'-]+"
ADDRESS = re.compile(
    # 221B Baker Street, 1600 Pennsylvania Avenue NW, 12 Oak Ln.
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_STREET_WORD}\s+){{1,3}}(?i:{_STREET_TYPES})\b\.?"
    rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
    # Hauptstraße 5, Calle Mayor 10, 12 rue de la Paix
    rf"|\b{_STREET_WORD}(?i:straße|strasse|weg|gasse|platz)\s+\d{{1,4}}[a-z]?\b"
    rf"|\b(?i:calle|avenida|via|rua)\s+(?:{_STREET_WORD}\s+){{1,3}}\d{{1,4}}\b"
    rf"|\b\d{{1,4}}(?:\s*,)?\s+(?i:rue|avenue|boulevard|place)\s+(?:[a-zA-Z'-]+\s+){{0,3}}{_STREET_WORD}"
    # UK postcodes: SW1A 1AA, M1 1AE
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"
)


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group())
    return "[phone]" if digits in _PHONE_DIGITS else match.group()


def redact(text: str) -> str:
    """The text with e-mail addresses, phone numbers and street addresses replaced."""
    text = EMAIL.sub("[email]", text)
    text = ADDRESS.sub("[address]", text)
    return PHONE.sub(_phone, text)
