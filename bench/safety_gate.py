"""The safety gate on lessons, with and without its prefilters, in one run: the template
writer's lessons for the seeded topics, each checked by `category_of` (an expression
runs only if the text has the words every match of it holds) and by the same
expressions run unfiltered, one alternation per category (the gate before the
prefilters). Prints milliseconds per lesson, and the ratio.

    .venv/bin/python bench/safety_gate.py [--lessons 300] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import safety  # noqa: E402
from pipeline.text import STOPWORDS  # noqa: E402

UNFILTERED = {
    cat: re.compile("|".join(f"(?:{p})" for p in pats)) for cat, pats in safety._PATTERNS.items()
}


def unfiltered(text: str) -> str | None:
    folded = safety.fold(text)
    for category, pattern in UNFILTERED.items():
        if pattern.search(folded):
            return category
    named = safety._NAMED_VIOLENCE.search(folded)
    if named and named["who"] not in STOPWORDS and named["who"] not in safety._NOT_PEOPLE:
        return "violence"
    return None


async def lessons(n: int) -> list[str]:
    from db.seed import seed_catalog
    from pipeline.providers.script_template import TemplateScriptWriter

    catalog, writer = seed_catalog(), TemplateScriptWriter()
    pairs = [(t, i) for t in catalog.topics.values() for i in catalog.interests.values()]
    step = max(1, len(pairs) // n)
    out = []
    for topic, interest in pairs[::step][:n]:
        lesson = await writer.write(topic, interest, "conversational")
        out.append(" ".join([lesson.title, *lesson.narration_parts()]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    texts = asyncio.run(lessons(args.lessons))
    gates: dict[str, Callable[[str], str | None]] = {
        "unfiltered (baseline)": unfiltered,
        "with prefilters": safety.category_of,
    }
    assert [unfiltered(t) for t in texts] == [safety.category_of(t) for t in texts]
    ms: dict[str, list[float]] = {k: [] for k in gates}
    for _ in range(args.rounds):  # alternated, so a drift of the machine hits both
        for name, gate in gates.items():
            started = time.perf_counter()
            for t in texts:
                gate(t)
            ms[name].append((time.perf_counter() - started) * 1000 / len(texts))
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"safety gate, {len(texts)} lessons of {mean_chars:.0f} characters, {args.rounds} rounds")
    for name, values in ms.items():
        print(f"  {name:22s}: {statistics.median(values):.3f} ms per lesson (median)")
    base, new = (statistics.median(v) for v in ms.values())
    print(f"  ratio to the baseline : {new / base:.2f}")


if __name__ == "__main__":
    main()
