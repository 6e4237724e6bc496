"""Tiny text normalisation shared by the offline NLU and safety gate (no dependencies)."""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just like me more most my myself no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours u ur im dont doesnt pls please explain
    whats hows thing things stuff really kinda sorta gonna wanna get got make makes work works
    working happen happens mean means does do tell know need help someone like ok okay hey yo
    lol idk guys deal actually even still always never also much many way ways one two""".split()
)


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'reactions' to 'reaction', not a linguist."""
    for suffix, min_len in (("ies", 5), ("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= min_len:
            if suffix == "ies":
                return word[:-3] + "y"
            if suffix == "es" and not word.endswith(("ses", "xes", "ches", "shes")):
                return word[:-1]
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("'", ""))


def terms(text: str) -> list[str]:
    """Stemmed content words, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]
