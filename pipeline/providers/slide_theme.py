"""How a lesson looks: colours by subject, and the emoji that stands for the student's
interest (drawn from the Noto Color Emoji subset the project ships)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

Colour = tuple[int, int, int]

EMOJI_FONT = Path(__file__).parent / "data" / "lesson-emoji.ttf"


@dataclass(frozen=True)
class Theme:
    background: Colour
    panel: Colour  # cards and the bar behind the header
    accent: Colour  # rules, labels, the progress bar
    text: Colour
    muted: Colour


# Dark backgrounds (lessons are watched on phones, often in the evening), one hue per
# subject so a student can tell at a glance which subject a lesson is; every text colour
# is at least 4.5:1 against its background (WCAG 2.1 AA).
THEMES: dict[str, Theme] = {
    "physics": Theme((16, 30, 60), (28, 48, 90), (255, 183, 3), (245, 247, 250), (176, 190, 214)),
    "chemistry": Theme(
        (14, 44, 38), (24, 68, 58), (122, 229, 130), (242, 250, 246), (172, 208, 196)
    ),
    "biology": Theme((22, 46, 24), (36, 70, 38), (180, 230, 90), (244, 250, 240), (186, 210, 180)),
    "mathematics": Theme(
        (40, 22, 60), (62, 38, 90), (255, 140, 200), (248, 244, 252), (200, 186, 220)
    ),
    "computer_science": Theme(
        (20, 24, 30), (36, 42, 52), (80, 220, 255), (240, 244, 248), (170, 180, 196)
    ),
}
DEFAULT_THEME = THEMES["physics"]
CORRECT: Colour = (90, 220, 120)

INTEREST_EMOJI = {
    "basketball": "🏀",
    "music production": "🎧",
    "video games": "🎮",
    "soccer": "⚽",
    "american football": "🏈",
    "skateboarding": "🛹",
    "swimming": "🏊",
    "cycling": "🚴",
    "dance": "💃",
    "drawing & art": "🎨",
    "photography": "📷",
    "guitar": "🎸",
    "theater": "🎭",
    "movies & film": "🎬",
    "anime": "📺",
    "cooking": "🍳",
    "baking": "🧁",
    "gardening": "🌱",
    "space exploration": "🚀",
    "animals & pets": "🐾",
    "hiking & outdoors": "🥾",
    "cars & racing": "🏁",
    "app development": "📱",
    "robotics": "🤖",
    "social media": "💬",
    "fashion": "👗",
}
# For an interest added to the catalog after this table: its category's emoji, by words
# in its name.
_BY_WORD = {
    "sport": "🏅",
    "ball": "🏅",
    "art": "🎨",
    "music": "🎵",
    "game": "🎮",
    "tech": "💻",
    "code": "💻",
    "food": "🍽",
    "nature": "🌿",
    "film": "🎬",
}
FALLBACK_EMOJI = "⭐"


def theme_for(subject: str) -> Theme:
    return THEMES.get(subject, DEFAULT_THEME)


def emoji_for(interest_name: str) -> str:
    name = interest_name.strip().lower()
    if name in INTEREST_EMOJI:
        return INTEREST_EMOJI[name]
    return next((e for word, e in _BY_WORD.items() if word in name), FALLBACK_EMOJI)


def all_emoji() -> list[str]:
    return sorted({*INTEREST_EMOJI.values(), *_BY_WORD.values(), FALLBACK_EMOJI})
