"""Captions (WebVTT) and a plain-text transcript for a lesson's narration.

A lesson video is prerecorded media with speech, so WCAG 2.1 AA asks for synchronised
captions (success criterion 1.2.2, Captions (Prerecorded)); the transcript serves readers
who would rather not watch, screen readers and search. Both are built from what the speech
provider reports (`SpokenSentence`: each sentence and when it is heard), so the captions
follow the voice rather than an estimate of it.

The cue limits follow common broadcast and streaming caption guidance (for example the
Netflix timed-text style guide): at most two lines of at most 42 characters, on screen for
at most seven seconds. A cue holds words of one sentence only, so a caption never shows the
end of one thought beside the start of the next.

Times are kept on a millisecond grid, the resolution of a WebVTT timestamp: what `cues`
returns is exactly what a player reads back from `webvtt`, and no cue collapses to zero
length when it is written.

Pure Python, no I/O: the stage that stores the files calls these.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipeline.providers.protocols import SpokenSentence

__all__ = ["Cue", "cues", "parse_webvtt", "transcript", "webvtt"]


@dataclass(frozen=True)
class Cue:
    """One caption on screen: its lines, shown from `start_seconds` to `end_seconds`."""

    start_seconds: float
    end_seconds: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


# A part of a sentence being timed: the lines one cue would show.
_Lines = tuple[str, ...]


def cues(
    sentences: Sequence[SpokenSentence],
    duration_seconds: float,
    *,
    max_line_chars: int = 42,
    max_lines: int = 2,
    max_seconds: float = 7.0,
) -> list[Cue]:
    """Captions timed to the narration, in order and without overlap.

    Each sentence's words are wrapped greedily into lines of at most `max_line_chars`
    (a longer word is cut by characters), the lines grouped `max_lines` to a cue, and the
    sentence's span shared among its cues in proportion to their characters. A cue longer
    than `max_seconds` is split into fewer lines, then fewer words; a single word that
    would still be on screen longer is shown for `max_seconds` only.

    Every cue lies in [0, duration_seconds], starts before it ends, and its times are whole
    milliseconds. Sentences are taken in the order given (as spoken): one that starts
    before the previous one ended starts when it ended instead, and what falls outside the
    duration is cut off. A sentence with fewer milliseconds than cues loses the cues that
    get no time; narration never comes near that.
    """
    if max_line_chars < 1 or max_lines < 1:
        raise ValueError("max_line_chars and max_lines must be at least 1")
    if not math.isfinite(max_seconds) or max_seconds < 0.001:
        raise ValueError("max_seconds must be at least a millisecond")
    if not math.isfinite(duration_seconds):
        raise ValueError("duration_seconds must be finite")
    limit = _floor_ms(duration_seconds)
    max_ms = _floor_ms(max_seconds)

    result: list[Cue] = []
    cursor = 0  # where the previous sentence ended: cues never go back in time
    for sentence in sentences:
        if not (math.isfinite(sentence.start_seconds) and math.isfinite(sentence.end_seconds)):
            raise ValueError(f"sentence times must be finite: {sentence!r}")
        start = max(round(sentence.start_seconds * 1000), cursor)
        end = min(round(sentence.end_seconds * 1000), limit)
        tokens = _tokens(sentence.text, max_line_chars)
        if not tokens or end <= start:
            continue
        cursor = end
        lines = _wrap(tokens, max_line_chars)
        parts = [tuple(lines[i : i + max_lines]) for i in range(0, len(lines), max_lines)]
        result.extend(_timed(parts, start, end, max_ms))
    return result


def _floor_ms(seconds: float) -> int:
    """The last millisecond not after `seconds` (so a clamped end stays inside it)."""
    ms = round(seconds * 1000)
    # x * 1000 can round up across a whole number; a caption must not outlast the audio.
    while ms / 1000 > seconds:
        ms -= 1
    return ms


def _tokens(text: str, max_line_chars: int) -> list[str]:
    """The words, a word too long for a line cut into line-long pieces."""
    tokens: list[str] = []
    for word in text.split():
        tokens.extend(word[i : i + max_line_chars] for i in range(0, len(word), max_line_chars))
    return tokens


def _wrap(tokens: Sequence[str], max_line_chars: int) -> list[str]:
    # Greedy rather than balanced: it keeps reading order line by line, which is what a
    # caption viewer tracks, and a later cue split only ever shortens lines.
    lines: list[str] = []
    line = ""
    for token in tokens:
        if line and len(line) + 1 + len(token) <= max_line_chars:
            line = f"{line} {token}"
        else:
            if line:
                lines.append(line)
            line = token
    if line:
        lines.append(line)
    return lines


def _timed(parts: Sequence[_Lines], start: int, end: int, max_ms: int) -> list[Cue]:
    """Share [start, end) ms among `parts` by characters, splitting what stays too long."""
    bounds = _share(start, end, [len(" ".join(part)) for part in parts])
    result: list[Cue] = []
    for part, (a, b) in zip(parts, pairwise(bounds), strict=True):
        if b <= a:
            continue  # no millisecond left for it: see the note in `cues`
        if b - a <= max_ms:
            result.append(Cue(a / 1000, b / 1000, part))
            continue
        smaller = _split(part)
        if smaller is None:
            # One word said slowly: a caption frozen on screen reads as a stuck player,
            # so it leaves after max_ms and the rest of the word goes uncaptioned.
            result.append(Cue(a / 1000, (a + max_ms) / 1000, part))
        else:
            result.extend(_timed(smaller, a, b, max_ms))
    return result


def _share(start: int, end: int, weights: Sequence[int]) -> list[int]:
    """Boundaries start = b0 <= b1 <= ... <= bn = end, bi - bi-1 proportional to weights."""
    n = len(weights)
    total = sum(weights)
    span = end - start
    bounds = [start]
    cumulative = 0
    for weight in weights[:-1]:
        cumulative += weight
        # Rounded in integers: float shares could order two boundaries the wrong way.
        bounds.append(start + (2 * span * cumulative + total) // (2 * total))
    bounds.append(end)
    if span >= n:
        # Room for every part: a short word beside long ones still gets its millisecond
        # rather than rounding to nothing and vanishing from the captions.
        for i in range(1, n):
            bounds[i] = max(min(bounds[i], end - (n - i)), bounds[i - 1] + 1)
    return bounds


def _split(part: _Lines) -> list[_Lines] | None:
    """The part in two: by lines first, then by words; None for a single word."""
    if len(part) > 1:
        half = (len(part) + 1) // 2
        return [part[:half], part[half:]]
    words = part[0].split(" ")
    if len(words) == 1:
        return None

    def imbalance(i: int) -> int:
        return abs(len(" ".join(words[:i])) - len(" ".join(words[i:])))

    # Halves of equal length get equal time, so neither is rushed.
    cut = min(range(1, len(words)), key=imbalance)
    return [(" ".join(words[:cut]),), (" ".join(words[cut:]),)]


# WebVTT's line terminators (not Python's wider idea of a line break: a player splits
# only on these, so the writer and the reader must agree with it, not with str.splitlines).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TIMESTAMP = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t].*)?$")


def webvtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file of the cues, numbered from 1, times rounded to the millisecond.

    ValueError for cues no player could show as given (a negative or empty span, or a
    start before the previous cue's).
    """
    blocks = ["WEBVTT"]
    previous_start = 0
    for number, cue in enumerate(cues, start=1):
        start, end = round(cue.start_seconds * 1000), round(cue.end_seconds * 1000)
        if start < previous_start or end <= start:
            raise ValueError(f"cue {number} cannot be written: {cue!r}")
        previous_start = start
        # A blank line would end the cue early and show the rest as garbage; escaping '>'
        # also rules out '-->', which would be read as a timing line.
        lines = [
            _escape(piece)
            for line in cue.lines
            for piece in _LINE_BREAK.split(line)
            if piece.strip()
        ]
        blocks.append(
            "\n".join([str(number), f"{_timestamp(start)} --> {_timestamp(end)}", *lines])
        )
    return "\n\n".join(blocks) + "\n"


def _escape(text: str) -> str:
    # '&' first, or the entities written for '<' and '>' would be escaped again.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timestamp(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def parse_webvtt(text: str) -> list[Cue]:
    """The cues of a WebVTT file, entities decoded: the inverse of `webvtt`.

    Reads what a player would accept from us and from others: a BOM, header text, cue
    identifiers or none, cue settings, hour-less timestamps, NOTE/STYLE/REGION blocks
    (skipped). ValueError for a missing header or a malformed timing line.
    """
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    if not (lines[0] == "WEBVTT" or lines[0].startswith(("WEBVTT ", "WEBVTT\t"))):
        raise ValueError("not a WebVTT file: the first line must be WEBVTT")
    blocks: list[list[str]] = []
    block: list[str] = []
    in_header = True  # header text may follow WEBVTT up to the first blank line
    for line in lines[1:]:
        if line == "":
            in_header = False
            if block:
                blocks.append(block)
                block = []
        elif not in_header:
            block.append(line)
    if block:
        blocks.append(block)

    result: list[Cue] = []
    for block in blocks:
        if "-->" in block[0]:
            timing, payload = block[0], block[1:]
        elif len(block) > 1 and "-->" in block[1]:
            timing, payload = block[1], block[2:]
        else:
            continue  # a comment, style or region block: nothing shown
        match = _TIMING.match(timing)
        if match is None:
            raise ValueError(f"malformed WebVTT timing line: {timing!r}")
        groups = match.groups()
        start, end = _milliseconds(groups[:4]), _milliseconds(groups[4:])
        result.append(Cue(start / 1000, end / 1000, tuple(html.unescape(p) for p in payload)))
    return result


def _milliseconds(parts: Sequence[str | None]) -> int:
    hours, minutes, seconds, millis = (int(p) if p else 0 for p in parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def transcript(paragraphs: Sequence[str], title: str) -> str:
    """The narration as plain text: the title, a blank line, the paragraphs a blank line
    apart, each on one line (whitespace collapsed), ending with a newline."""
    heading = " ".join(title.split())
    if not heading:
        raise ValueError("a transcript needs a title")
    # One line per paragraph: the text wraps to the reader's window, not the script's.
    body = [flat for flat in (" ".join(p.split()) for p in paragraphs) if flat]
    return "\n\n".join([heading, *body]) + "\n"
