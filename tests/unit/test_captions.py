"""Captions and transcript (pipeline/captions.py): worked examples, then the rules of
`cues` and the WebVTT round trip as properties over generated narrations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.captions import Cue, cues, parse_webvtt, transcript, webvtt
from pipeline.providers.protocols import SpokenSentence

TIMING = re.compile(r"^\d{2,}:[0-5]\d:[0-5]\d\.\d{3} --> \d{2,}:[0-5]\d:[0-5]\d\.\d{3}$")

THIRTY_WORDS = (
    "When sunlight reaches a leaf, the chlorophyll inside its cells captures that energy "
    "and uses it to turn water and carbon dioxide into sugar, releasing oxygen back into the air."
)


def said(text: str, start: float, end: float, paragraph: int = 0) -> SpokenSentence:
    return SpokenSentence(text=text, paragraph=paragraph, start_seconds=start, end_seconds=end)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def words_of(found: Sequence[Cue]) -> list[str]:
    return [word for cue in found for line in cue.lines for word in line.split(" ")]


def pieces(text: str, max_line_chars: int) -> list[str]:
    """The words of `text`, a word longer than a line as its line-long pieces."""
    return [
        word[i : i + max_line_chars]
        for word in text.split()
        for i in range(0, len(word), max_line_chars)
    ]


# --- cues: examples ------------------------------------------------------------------


def test_a_short_sentence_is_one_cue_over_its_whole_span() -> None:
    found = cues([said("Plants make food from light.", 1.25, 3.5)], 10.0)
    assert found == [Cue(1.25, 3.5, ("Plants make food from light.",))]
    assert found[0].text == "Plants make food from light."


def test_a_thirty_word_sentence_is_split_into_readable_cues() -> None:
    assert len(THIRTY_WORDS.split()) == 30
    found = cues([said(THIRTY_WORDS, 2.0, 14.0)], 20.0)

    assert len(found) >= 2
    for cue in found:
        assert 1 <= len(cue.lines) <= 2
        assert all(0 < len(line) <= 42 for line in cue.lines)
        assert cue.end_seconds - cue.start_seconds <= 7.0
    assert words_of(found) == THIRTY_WORDS.split()
    # Nothing was too long to split, so the cues tile the sentence's span.
    assert found[0].start_seconds == 2.0
    assert found[-1].end_seconds == 14.0
    assert all(a.end_seconds == b.start_seconds for a, b in pairwise(found))
    # Greedy wrapping: a line ends only where the next word would not fit.
    lines = [line for cue in found for line in cue.lines]
    for line, following in pairwise(lines):
        assert len(line) + 1 + len(following.split(" ")[0]) > 42


def test_cues_share_the_sentence_span_by_characters() -> None:
    # Lines "aaaa bbbb" (9 characters) and "cccccccccc" (10), one line a cue, over 1.9 s.
    found = cues([said("aaaa bbbb cccccccccc", 0.0, 1.9)], 5.0, max_line_chars=10, max_lines=1)
    assert found == [Cue(0.0, 0.9, ("aaaa bbbb",)), Cue(0.9, 1.9, ("cccccccccc",))]
    # Thirds of 10 ms: the boundaries at 3.33 and 6.67 ms round to the nearest millisecond.
    found = cues([said("a b c", 0.0, 0.01)], 1.0, max_line_chars=1, max_lines=1)
    assert found == [Cue(0.0, 0.003, ("a",)), Cue(0.003, 0.007, ("b",)), Cue(0.007, 0.01, ("c",))]


def test_a_slow_sentence_is_split_into_fewer_lines_then_fewer_words() -> None:
    # Two lines over 20 s: one line a cue is still 10 s each, so each line is halved.
    text = "alpha beta gamma delta epsilon zeta eta theta"
    found = cues([said(text, 0.0, 20.0)], 20.0, max_line_chars=24)

    assert len(found) == 4
    assert [cue.lines for cue in found] == [
        ("alpha beta",),
        ("gamma delta",),
        ("epsilon zeta",),
        ("eta theta",),
    ]
    assert all(cue.end_seconds - cue.start_seconds <= 7.0 for cue in found)
    assert (found[0].start_seconds, found[-1].end_seconds) == (0.0, 20.0)
    assert all(a.end_seconds == b.start_seconds for a, b in pairwise(found))


def test_a_sixty_character_word_is_cut_into_lines() -> None:
    word = "pneumonoultramicroscopicsilicovolcanoconiosis" + "x" * 15
    assert len(word) == 60
    found = cues([said(word, 0.0, 3.0)], 3.0)
    assert found == [Cue(0.0, 3.0, (word[:42], word[42:]))]


def test_a_word_said_longer_than_a_cue_may_last_leaves_a_gap() -> None:
    word = "a" * 60  # pieces of 42 and 18 characters: 14 s and 6 s of 20 s
    found = cues([said(word, 0.0, 20.0)], 20.0)
    assert found == [Cue(0.0, 7.0, ("a" * 42,)), Cue(14.0, 20.0, ("a" * 18,))]


def test_a_short_word_beside_a_long_line_keeps_a_millisecond() -> None:
    # 20 ms shared 1 : 40 would round the "x" to nothing; it keeps one millisecond.
    found = cues([said("x " + "y" * 40, 0.0, 0.02)], 1.0, max_line_chars=40, max_lines=1)
    assert found == [Cue(0.0, 0.001, ("x",)), Cue(0.001, 0.02, ("y" * 40,))]


def test_a_cue_never_spans_two_sentences() -> None:
    found = cues([said("One.", 0.0, 1.0), said("Two.", 1.0, 2.0)], 2.0)
    assert found == [Cue(0.0, 1.0, ("One.",)), Cue(1.0, 2.0, ("Two.",))]


def test_cues_are_kept_inside_the_duration_and_in_order() -> None:
    found = cues(
        [
            said("Early.", -0.5, 1.0),  # starts before the audio
            said("", 1.0, 2.0),  # nothing said
            said("   ", 2.0, 3.0),
            said("Overlapping.", 0.5, 4.0),  # starts before the previous one ended
            said("Cut off.", 9.0, 12.0),  # runs past the end
            said("Beyond.", 12.0, 13.0),  # entirely after it
            said("Backwards.", 3.0, 2.0),
        ],
        10.0,
    )
    assert found == [
        Cue(0.0, 1.0, ("Early.",)),
        Cue(1.0, 4.0, ("Overlapping.",)),
        Cue(9.0, 10.0, ("Cut off.",)),
    ]


def test_times_are_rounded_to_whole_milliseconds() -> None:
    found = cues([said("Hello there.", 0.12344, 1.98765)], 1.9872)
    assert found == [Cue(0.123, 1.987, ("Hello there.",))]


def test_no_sentences_no_cues() -> None:
    assert cues([], 30.0) == []
    assert cues([said("Hello.", 0.0, 1.0)], 0.0) == []


@pytest.mark.parametrize(
    "options",
    [{"max_line_chars": 0}, {"max_lines": 0}, {"max_seconds": 0.0}, {"max_seconds": float("nan")}],
)
def test_limits_that_allow_no_caption_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cues([said("Hello.", 0.0, 1.0)], 1.0, **options)


# --- webvtt: examples ----------------------------------------------------------------


def test_webvtt_numbers_the_cues_and_writes_their_times() -> None:
    text = webvtt([Cue(0.0, 1.5, ("Hello,", "world.")), Cue(3723.456, 3725.0, ("Later.",))])
    assert text == (
        "WEBVTT\n"
        "\n"
        "1\n"
        "00:00:00.000 --> 00:00:01.500\n"
        "Hello,\n"
        "world.\n"
        "\n"
        "2\n"
        "01:02:03.456 --> 01:02:05.000\n"
        "Later.\n"
    )


def test_webvtt_of_no_cues_is_just_the_header() -> None:
    assert webvtt([]) == "WEBVTT\n"
    assert parse_webvtt("WEBVTT\n") == []


def test_cue_text_is_escaped_for_webvtt() -> None:
    cue = Cue(0.0, 2.0, ("if a < b && c --> d", "<b>bold</b> &amp;"))
    text = webvtt([cue])
    payload = text.split("\n")[4:6]
    assert payload == [
        "if a &lt; b &amp;&amp; c --&gt; d",
        "&lt;b&gt;bold&lt;/b&gt; &amp;amp;",
    ]
    assert text.count("-->") == 1  # the timing line's only
    assert parse_webvtt(text) == [cue]


def test_line_breaks_inside_cue_text_never_make_a_blank_line() -> None:
    cue = Cue(0.0, 2.0, ("one\n\ntwo", "", "  ", "three\r\nfour\rfive"))
    text = webvtt([cue, Cue(2.0, 3.0, ("six",))])
    assert "\n\n\n" not in text
    assert text.split("\n\n")[1].split("\n")[2:] == ["one", "two", "three", "four", "five"]
    assert [c.lines for c in parse_webvtt(text)] == [
        ("one", "two", "three", "four", "five"),
        ("six",),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        [Cue(-1.0, 1.0, ("a",))],
        [Cue(1.0, 1.0, ("a",))],
        [Cue(1.0, 1.0004, ("a",))],  # empty once rounded to the millisecond
        [Cue(2.0, 3.0, ("a",)), Cue(1.0, 4.0, ("b",))],  # starts out of order
    ],
)
def test_webvtt_refuses_cues_no_player_could_show(bad: list[Cue]) -> None:
    with pytest.raises(ValueError):
        webvtt(bad)


def test_parse_webvtt_reads_other_writers_files() -> None:
    text = (
        "\ufeffWEBVTT - lesson captions\r\n"
        "Kind: captions\r\n"
        "\r\n"
        "NOTE written by hand\r\n"
        "\r\n"
        "STYLE\r\n"
        "::cue { color: yellow }\r\n"
        "\r\n"
        "01:02.500 --> 01:04.000 align:start line:90%\r\n"
        "Fish &amp; chips &lt;3\r\n"
        "\r\n"
        "intro\r\n"
        "01:00:00.000 --> 01:00:01.250\r\n"
        "a&nbsp;b\r\n"
    )
    assert parse_webvtt(text) == [
        Cue(62.5, 64.0, ("Fish & chips <3",)),
        Cue(3600.0, 3601.25, ("a\u00a0b",)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1\n00:00:00.000 --> 00:00:01.000\nhi\n",
        "WEBVTTX\n",
        "WEBVTT\n\n00:00.000 --> 1:00\nhi\n",
    ],
)
def test_parse_webvtt_refuses_what_is_not_webvtt(text: str) -> None:
    with pytest.raises(ValueError):
        parse_webvtt(text)


# --- transcript ----------------------------------------------------------------------


def test_transcript_is_the_title_then_each_paragraph() -> None:
    text = transcript(
        ["  Plants   make food.\nThey use light. ", "", "Water\tmatters\n\ntoo."],
        "How  plants\neat",
    )
    assert text == "How plants eat\n\nPlants make food. They use light.\n\nWater matters too.\n"


def test_a_transcript_needs_a_title() -> None:
    assert transcript([], "Title") == "Title\n"
    with pytest.raises(ValueError):
        transcript(["Some text."], " \n ")


# --- properties ----------------------------------------------------------------------

# Markup, WebVTT's arrow and any other character, spaces and line breaks among them.
CHARS = st.one_of(st.sampled_from("ab -<>&.\n"), st.characters(exclude_categories=["Cs"]))
TEXTS = st.text(CHARS, max_size=120)


@st.composite
def narrations(draw: st.DrawFn) -> tuple[list[SpokenSentence], float]:
    """Sentences in order, as a speech provider reports them: pauses between some, times
    off the millisecond grid, the duration at or after the last sentence's end."""
    sentences: list[SpokenSentence] = []
    t = draw(st.floats(0, 5))
    for paragraph in range(draw(st.integers(0, 8))):
        start = t + draw(st.floats(0, 2))
        t = start + draw(st.floats(0.2, 30))
        sentences.append(said(draw(TEXTS), start, t, paragraph))
    return sentences, t + draw(st.one_of(st.just(0.0), st.floats(0, 3)))


LIMITS = st.fixed_dictionaries(
    {
        "max_line_chars": st.integers(1, 50),
        "max_lines": st.integers(1, 4),
        "max_seconds": st.one_of(st.just(7.0), st.floats(0.05, 12)),
    }
)


@given(narrations(), LIMITS)
def test_cues_keep_every_rule(
    narration: tuple[list[SpokenSentence], float], limits: dict[str, Any]
) -> None:
    sentences, duration = narration
    max_line_chars, max_lines, max_seconds = (
        limits["max_line_chars"],
        limits["max_lines"],
        limits["max_seconds"],
    )
    found = cues(sentences, duration, **limits)

    for cue in found:
        assert 0 <= cue.start_seconds < cue.end_seconds <= duration
        assert ms(cue.start_seconds) / 1000 == cue.start_seconds
        assert ms(cue.end_seconds) / 1000 == cue.end_seconds
        assert ms(cue.end_seconds) - ms(cue.start_seconds) <= max_seconds * 1000
        assert 1 <= len(cue.lines) <= max_lines
        for line in cue.lines:
            assert 1 <= len(line) <= max_line_chars
            assert line.split() == line.split(" ")  # words one space apart, nothing else
    for a, b in pairwise(found):
        assert a.end_seconds <= b.start_seconds

    # Every word (or piece of a word too long for a line) once, in order.
    owner = [i for i, s in enumerate(sentences) for _ in pieces(s.text, max_line_chars)]
    assert words_of(found) == [w for s in sentences for w in pieces(s.text, max_line_chars)]

    # Each cue within one sentence and its span; a sentence's cues cover its span, but
    # for the rest of a single word held longer than max_seconds.
    position = 0
    by_sentence: dict[int, list[Cue]] = {}
    for cue in found:
        count = len(words_of([cue]))
        (index,) = set(owner[position : position + count])
        position += count
        by_sentence.setdefault(index, []).append(cue)
    for index, group in by_sentence.items():
        start, end = ms(sentences[index].start_seconds), ms(sentences[index].end_seconds)
        assert ms(group[0].start_seconds) == start
        for cue in group:
            assert start <= ms(cue.start_seconds) and ms(cue.end_seconds) <= end

        def held_back(cue: Cue) -> bool:
            length = ms(cue.end_seconds) - ms(cue.start_seconds)
            return len(words_of([cue])) == 1 and length >= max_seconds * 1000 - 1

        for a, b in pairwise(group):
            assert a.end_seconds == b.start_seconds or held_back(a)
        # The duration may end inside the last sentence's final millisecond.
        assert abs(ms(group[-1].end_seconds) - end) <= 1 or held_back(group[-1])


@st.composite
def hostile_narrations(draw: st.DrawFn) -> tuple[list[SpokenSentence], float]:
    """Sentences as no provider should report them: out of order, overlapping, backwards,
    too short to show, outside the audio."""
    times = st.floats(-5, 50)
    sentences = [
        said(draw(TEXTS), draw(times), draw(times), paragraph)
        for paragraph in range(draw(st.integers(0, 8)))
    ]
    return sentences, draw(st.floats(-1, 40))


@given(hostile_narrations(), LIMITS)
def test_cues_stay_well_formed_whatever_the_timings(
    narration: tuple[list[SpokenSentence], float], limits: dict[str, Any]
) -> None:
    sentences, duration = narration
    found = cues(sentences, duration, **limits)
    for cue in found:
        assert 0 <= cue.start_seconds < cue.end_seconds <= duration
        assert ms(cue.end_seconds) - ms(cue.start_seconds) <= limits["max_seconds"] * 1000
        assert 1 <= len(cue.lines) <= limits["max_lines"]
        assert all(1 <= len(line) <= limits["max_line_chars"] for line in cue.lines)
    for a, b in pairwise(found):
        assert a.end_seconds <= b.start_seconds
    # What is shown is said, in order, each cue from one sentence (some may be dropped).
    expected = [
        (i, w) for i, s in enumerate(sentences) for w in pieces(s.text, limits["max_line_chars"])
    ]
    position = 0
    for cue in found:
        shown = words_of([cue])
        # The first place from here where a single sentence says the cue's words.
        position = next(
            p + len(shown)
            for p in range(position, len(expected))
            if [w for _, w in expected[p : p + len(shown)]] == shown
            and len({i for i, _ in expected[p : p + len(shown)]}) == 1
        )
    assert parse_webvtt(webvtt(found)) == found


@given(narrations(), st.integers(1, 50), st.integers(1, 4))
def test_cues_share_time_by_characters(
    narration: tuple[list[SpokenSentence], float], max_line_chars: int, max_lines: int
) -> None:
    sentences, duration = narration
    found = cues(
        sentences, duration, max_line_chars=max_line_chars, max_lines=max_lines, max_seconds=1e6
    )
    position = 0
    for sentence in sentences:
        count = len(pieces(sentence.text, max_line_chars))
        group: list[Cue] = []
        while position < len(found) and len(words_of(group)) < count:
            group.append(found[position])
            position += 1
        if not group:
            continue
        start, end = ms(group[0].start_seconds), ms(group[-1].end_seconds)
        total = sum(len(cue.text) for cue in group)
        said_so_far = 0
        for cue in group[:-1]:
            # Each boundary is the nearest millisecond to where the characters put it.
            said_so_far += len(cue.text)
            exact = start + (end - start) * said_so_far / total
            assert abs(ms(cue.end_seconds) - exact) <= 0.5 + 1e-9
    assert position == len(found)


@given(narrations(), LIMITS)
def test_webvtt_round_trips_the_cues(
    narration: tuple[list[SpokenSentence], float], limits: dict[str, Any]
) -> None:
    found = cues(*narration, **limits)
    text = webvtt(found)
    assert parse_webvtt(text) == found
    assert_valid_webvtt(text, len(found))


@st.composite
def any_cues(draw: st.DrawFn) -> list[Cue]:
    """Cues made by hand: times off the millisecond grid, lines with any characters."""
    line = st.text(CHARS.filter(lambda c: c not in "\r\n"), min_size=1, max_size=40).filter(
        lambda s: s.strip() != ""
    )
    made: list[Cue] = []
    t = 0.0
    for _ in range(draw(st.integers(0, 6))):
        t += draw(st.floats(0, 100))
        length = draw(st.floats(0.002, 10))
        made.append(Cue(t, t + length, tuple(draw(st.lists(line, max_size=3)))))
    return made


@given(any_cues())
def test_webvtt_round_trips_any_cues_to_the_millisecond(made: list[Cue]) -> None:
    text = webvtt(made)
    assert_valid_webvtt(text, len(made))
    back = parse_webvtt(text)
    assert [c.lines for c in back] == [c.lines for c in made]
    for original, parsed in zip(made, back, strict=True):
        assert parsed.start_seconds == pytest.approx(original.start_seconds, abs=0.0005001)
        assert parsed.end_seconds == pytest.approx(original.end_seconds, abs=0.0005001)


@given(st.lists(st.lists(st.text(CHARS, max_size=30), max_size=3), max_size=4))
def test_webvtt_payload_never_breaks_the_file(texts: list[list[str]]) -> None:
    made = [Cue(float(i), i + 0.5, tuple(lines)) for i, lines in enumerate(texts)]
    assert_valid_webvtt(webvtt(made), len(made))


def assert_valid_webvtt(text: str, count: int) -> None:
    """The file's shape as the WebVTT syntax has it, for the way `webvtt` writes it."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    header, *blocks = text[:-1].split("\n\n")
    assert header == "WEBVTT"
    assert len(blocks) == count
    for number, block in enumerate(blocks, start=1):
        identifier, timing, *payload = block.split("\n")
        assert identifier == str(number)
        assert TIMING.match(timing)
        for line in payload:
            assert line.strip() != ""
            assert "-->" not in line
            assert "\r" not in line
            assert "<" not in line and ">" not in line
            assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", line)
