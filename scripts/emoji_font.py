"""Writes pipeline/providers/data/lesson-emoji.ttf: the few Noto Color Emoji glyphs the
slides draw (one per interest and per interest category), subset from Debian's
fonts-noto-color-emoji with fontTools, so workers need no system font.

    apt-get install fonts-noto-color-emoji && pip install fonttools
    .venv/bin/python scripts/emoji_font.py

Noto Color Emoji is under the SIL Open Font License 1.1 (the notice is beside the font).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.providers.slide_theme import EMOJI_FONT, all_emoji  # noqa: E402

SOURCE = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


def main() -> None:
    options = subset.Options()
    options.layout_features = ["*"]
    font = subset.load_font(str(SOURCE), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(all_emoji()))
    subsetter.subset(font)
    subset.save_font(font, str(EMOJI_FONT), options)
    print(f"{EMOJI_FONT}: {EMOJI_FONT.stat().st_size} bytes, {len(all_emoji())} emoji")


if __name__ == "__main__":
    main()
