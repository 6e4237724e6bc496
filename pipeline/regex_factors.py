"""What every match of a regular expression must contain, as a prefilter: a scan can
skip an expression when the text lacks it. Python's `re` tries each alternative of an
alternation at every position of the text; a set lookup per word is far cheaper.

Read from the expression's parse tree (`re._parser`, the standard library's own, so the
prefilter sees exactly what `re` compiles). A clause is a set of literal strings one of
which every match holds; the whole words inside them (delimited within the string by a
space, a punctuation mark or a `\\b`) are looked up in the text's set of words, and a
string with no whole word is looked for as a substring. Where a part cannot be reduced
to literals (a class like `[^#]`, `\\w`, a long repeat), the clause comes from another
part of the sequence; a pattern with an alternative that gives none is always run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from re import _constants as C  # type: ignore[attr-defined]  # the stdlib's own parse tree
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

# A set of alternatives larger than this is not enumerated (the cross product of a
# sequence of alternations grows fast), nor a repeat of more than this many copies.
MAX_STRINGS = 256
MAX_COPIES = 3
# A class of up to this many literal characters is enumerated ([.\-_*], [a-f]).
MAX_CLASS = 16
# Stands for `\b` in the strings a run of literal parts matches: a word beside it is
# whole. (A backspace never appears in text that reaches a scan.)
BOUNDARY = "\b"
WORDS = re.compile(r"\w+")

Items = list[tuple[Any, Any]]


def words_of(text: str) -> frozenset[str]:
    return frozenset(WORDS.findall(text))


class Clause:
    """Any of `words` among the text's words, or any of `substrings` in the text."""

    def __init__(self, strings: frozenset[str], common: frozenset[str]) -> None:
        by_string = {s: set(_whole_words(s)) for s in strings}
        self.words = frozenset(_cover([w for w in by_string.values() if w], common))
        substrings = {s.replace(BOUNDARY, "") for s, w in by_string.items() if not w}
        # A string that contains another is implied by it: the shorter is enough.
        self.substrings = tuple(
            t for t in substrings if not any(u != t and u in t for u in substrings)
        )

    def holds(self, text: str, words: frozenset[str]) -> bool:
        return not words.isdisjoint(self.words) or any(t in text for t in self.substrings)


def _cover(word_sets: list[set[str]], common: frozenset[str]) -> set[str]:
    """Few, uncommon words that between them hold one of each string's words: each
    string is matched only with all its words present, so one of them is enough. Greedy:
    the word in the most strings not yet covered (an uncommon one if any), longest first."""
    chosen: set[str] = set()
    left = list(word_sets)
    while left:
        counts: dict[str, int] = {}
        for ws in left:
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        best = max(counts, key=lambda w: (w not in common, counts[w], len(w), w))
        chosen.add(best)
        left = [ws for ws in left if best not in ws]
    return chosen


class Prefilter:
    """Whether `pattern` could match a text: every match holds each of its clauses. No
    clause found: it could match anything, so it always says yes."""

    def __init__(self, pattern: str, common: frozenset[str] = frozenset()) -> None:
        """`common`: words too frequent to look for while a rarer one will do."""
        try:
            found = _candidates(list(P.parse(pattern)))
        except (AttributeError, TypeError, ValueError):  # a parse tree of another shape
            found = []
        # Clauses looked up by word first (cheapest), then the fewest substrings.
        self.clauses = tuple(
            sorted(
                (Clause(f, common) for f in found),
                key=lambda c: (len(c.substrings), len(c.words)),
            )
        )

    def could_match(self, text: str, words: frozenset[str]) -> bool:
        """`words`: words_of(text), computed once for the many filters of one text."""
        return all(c.holds(text, words) for c in self.clauses)


def _whole_words(s: str) -> list[str]:
    """The words of s that a delimiter inside s closes on both sides."""
    pieces = re.split(r"(\W)", s)  # words at even places, delimiters at odd ones
    return [pieces[i] for i in range(2, len(pieces) - 2, 2) if pieces[i]]


def _rarity(factors: frozenset[str]) -> tuple[int, int]:
    return min(len(f.replace(BOUNDARY, "")) for f in factors), -len(factors)


def _candidates(items: Items) -> list[frozenset[str]]:
    """Each a clause of the sequence: a set of strings one of which every match holds."""
    candidates: list[frozenset[str]] = []
    run: set[str] = {""}  # the strings the current run of literal parts matches

    def close_run() -> None:
        nonlocal run
        if all(r.replace(BOUNDARY, "") for r in run):
            candidates.append(frozenset(run))
        run = {""}

    for op, av in items:
        exact = _exact_one(op, av)
        if exact is not None:
            grown = {a + b for a in run for b in exact}
            if len(grown) > MAX_STRINGS:
                close_run()
                grown = set(exact)
            run = grown
            continue
        close_run()
        found = _required_one(op, av)
        if found:
            candidates.append(found)
    close_run()
    return candidates


def _required(items: Items) -> frozenset[str] | None:
    """The sequence's rarest clause, or None if it has none."""
    candidates = _candidates(items)
    return max(candidates, key=_rarity) if candidates else None


def _required_one(op: Any, av: Any) -> frozenset[str] | None:
    if op is C.SUBPATTERN:
        return _required(list(av[3]))
    if op is C.BRANCH:
        union = _union(av[1], _required)
        return frozenset(union) if union is not None else None
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
        return _required(list(av[2]))
    return None


def _union(
    branches: list[Items], each: Callable[[Items], AbstractSet[str] | None]
) -> set[str] | None:
    """The strings of all the alternatives, or None when one of them has none."""
    union: set[str] = set()
    for branch in branches:
        found = each(list(branch))
        if found is None:
            return None
        union |= found
    return union


def _exact(items: Items) -> set[str] | None:
    """The finite set of strings a sequence matches, if it is small; else None."""
    out = {""}
    for op, av in items:
        one = _exact_one(op, av)
        if one is None:
            return None
        out = {a + b for a in out for b in one}
        if len(out) > MAX_STRINGS:
            return None
    return out


def _exact_one(op: Any, av: Any) -> set[str] | None:
    if op is C.LITERAL:
        return {chr(av)}
    if op is C.AT:
        return {BOUNDARY} if av is C.AT_BOUNDARY else {""}
    if op in (C.ASSERT, C.ASSERT_NOT):
        return {""}  # zero width: what it asserts only narrows the matches
    if op is C.IN:
        chars: set[str] = set()
        for o, a in av:
            if o is C.LITERAL:
                chars.add(chr(a))
            elif o is C.RANGE and a[1] - a[0] < MAX_CLASS:
                chars.update(map(chr, range(a[0], a[1] + 1)))
            else:  # a negation, a category (\w, \s), a wide range
                return None
        return chars if len(chars) <= MAX_CLASS else None
    if op is C.SUBPATTERN:
        return _exact(list(av[3]))
    if op is C.BRANCH:
        union = _union(av[1], _exact)
        return union if union is not None and len(union) <= MAX_STRINGS else None
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        lo, hi, item = av
        if hi > MAX_COPIES:
            return None
        one = _exact(list(item))
        if one is None:
            return None
        out, copies = set(), {""}
        for n in range(hi + 1):
            if n >= lo:
                out |= copies
            copies = {a + b for a in copies for b in one}
            if len(out) > MAX_STRINGS or len(copies) > MAX_STRINGS:
                return None
        return out
    return None
