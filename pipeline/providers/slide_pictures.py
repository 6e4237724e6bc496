"""The pictures of a lesson video, drawn with Pillow: one per scene of the timeline
(pipeline/providers/slide_timeline.py), with the progress bar drawn over them."""

from __future__ import annotations

from functools import cache

from PIL import Image, ImageDraw, ImageFont

from pipeline.lesson import Lesson
from pipeline.providers.slide_theme import CORRECT, EMOJI_FONT, Theme, emoji_for, theme_for
from pipeline.providers.slide_timeline import Scene, SceneKind

WIDTH, HEIGHT = 1280, 720
MARGIN_PX = 72
HEADER_PX = 64  # the bar with the interest and the slide number
PROGRESS_PX = 10  # the progress bar along the bottom edge
# Font sizes in pixels for a 720-line slide, big enough to read on a phone.
TITLE_PX, HEADING_PX, KEY_PX, BODY_PX, LABEL_PX, OPTION_PX, HEADER_TEXT_PX = (
    58,
    50,
    32,
    30,
    26,
    30,
    24,
)
LINE_SPACING = 1.3  # line height as a multiple of the font size
ELLIPSIS = "…"
_EMOJI_NATIVE_PX = 109  # the only size the colour emoji bitmaps come in

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font(px: int) -> Font:
    # Pillow's bundled font (Aileron) scales when FreeType is available: no system fonts.
    return ImageFont.load_default(size=px)


@cache
def _emoji(char: str, px: int) -> Image.Image:
    font = ImageFont.truetype(str(EMOJI_FONT), _EMOJI_NATIVE_PX)
    size = _EMOJI_NATIVE_PX + 28
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((8, 8), char, font=font, embedded_color=True)
    box = image.getbbox() or (0, 0, size, size)
    return image.crop(box).resize((px, px), Image.Resampling.LANCZOS)


class SlidePainter:
    """Draws the scenes of one lesson in its subject's colours."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.theme: Theme = theme_for(lesson.subject)
        self.emoji = emoji_for(lesson.interest_name or lesson.interest_id.replace("_", " "))
        self.slides = len(lesson.sections) + 3  # title, sections, recap, question

    def draw(self, scene: Scene) -> Image.Image:
        image = Image.new("RGB", (WIDTH, HEIGHT), self.theme.background)
        draw = ImageDraw.Draw(image)
        self._header(image, draw, scene.slide)
        if scene.kind is SceneKind.title:
            self._title(image, draw, scene)
        elif scene.kind is SceneKind.section:
            section = self.lesson.sections[scene.slide - 1]
            self._build(draw, section.heading, section.caption, scene.revealed)
        elif scene.kind is SceneKind.recap:
            self._build(draw, "Recap", None, scene.revealed)
        else:
            self._question(draw, scene)
        return image

    def with_progress(self, image: Image.Image, fraction: float) -> Image.Image:
        framed = image.copy()
        draw = ImageDraw.Draw(framed)
        top = HEIGHT - PROGRESS_PX
        draw.rectangle((0, top, WIDTH, HEIGHT), fill=self.theme.panel)
        filled = round(max(0.0, min(1.0, fraction)) * WIDTH)
        if filled:
            draw.rectangle((0, top, filled, HEIGHT), fill=self.theme.accent)
        return framed

    # -- parts -------------------------------------------------------------------------

    def _header(self, image: Image.Image, draw: ImageDraw.ImageDraw, slide: int) -> None:
        t = self.theme
        draw.rectangle((0, 0, WIDTH, HEADER_PX), fill=t.panel)
        icon = _emoji(self.emoji, HEADER_PX - 20)
        image.paste(icon, (MARGIN_PX, 10), icon)
        font = _font(HEADER_TEXT_PX)
        name = self.lesson.interest_name or self.lesson.interest_id.replace("_", " ").title()
        text_y = (HEADER_PX - HEADER_TEXT_PX) // 2 - 2
        draw.text((MARGIN_PX + HEADER_PX - 8, text_y), name, font=font, fill=t.text)
        subject = self.lesson.subject.replace("_", " ").title()
        label = (
            f"{subject}  ·  {slide + 1} / {self.slides}"
            if subject
            else f"{slide + 1} / {self.slides}"
        )
        x = WIDTH - MARGIN_PX - draw.textlength(label, font=font)
        draw.text((x, text_y), label, font=font, fill=t.muted)

    def _title(self, image: Image.Image, draw: ImageDraw.ImageDraw, scene: Scene) -> None:
        t = self.theme
        icon = _emoji(self.emoji, 120)
        image.paste(icon, (WIDTH - MARGIN_PX - 120, HEADER_PX + 40), icon)
        width = WIDTH - 2 * MARGIN_PX - 150
        title = _wrap(draw, self.lesson.title, _font(TITLE_PX), width, 3)
        y = _lines(draw, title, _font(TITLE_PX), HEADER_PX + 56, t.text, bold=True)
        draw.rectangle((MARGIN_PX, y + 10, MARGIN_PX + 160, y + 16), fill=t.accent)
        self._revealed(draw, scene.revealed, y + 44, WIDTH - 2 * MARGIN_PX)

    def _build(
        self, draw: ImageDraw.ImageDraw, heading: str, key: str | None, revealed: tuple[str, ...]
    ) -> None:
        t = self.theme
        width = WIDTH - 2 * MARGIN_PX
        lines = _wrap(draw, heading, _font(HEADING_PX), width, 2)
        y = _lines(draw, lines, _font(HEADING_PX), HEADER_PX + 30, t.text, bold=True)
        draw.rectangle((MARGIN_PX, y + 8, MARGIN_PX + 120, y + 14), fill=t.accent)
        y += 34
        if key:
            # The section's key phrase, in a card: the one line to remember.
            key_lines = _wrap(draw, key, _font(KEY_PX), width - 48, 2)
            bottom = y + len(key_lines) * _line_height(KEY_PX) + 24
            draw.rectangle((MARGIN_PX, y, WIDTH - MARGIN_PX, bottom), fill=t.panel)
            draw.rectangle((MARGIN_PX, y, MARGIN_PX + 8, bottom), fill=t.accent)
            _lines(draw, key_lines, _font(KEY_PX), y + 12, t.text, x=MARGIN_PX + 32)
            y = bottom + 26
        self._revealed(draw, revealed, y, width)

    def _revealed(
        self, draw: ImageDraw.ImageDraw, revealed: tuple[str, ...], top: int, width: int
    ) -> None:
        """The sentences said so far, one bullet each, the one being said brightest; when
        they overflow, the oldest scroll away."""
        t = self.theme
        font, line = _font(BODY_PX), _line_height(BODY_PX)
        bottom = HEIGHT - PROGRESS_PX - 24
        blocks = [_wrap(draw, text, font, width - 36, 4) for text in revealed]
        while blocks and top + sum(len(b) for b in blocks) * line + 8 * len(blocks) > bottom:
            blocks.pop(0)
        y = top
        for number, block in enumerate(blocks):
            current = number == len(blocks) - 1
            colour = t.text if current else t.muted
            dot = y + line // 2 - 4
            draw.ellipse(
                (MARGIN_PX, dot, MARGIN_PX + 10, dot + 10), fill=t.accent if current else t.muted
            )
            y = _lines(draw, block, font, y, colour, x=MARGIN_PX + 30) + 8

    def _question(self, draw: ImageDraw.ImageDraw, scene: Scene) -> None:
        t = self.theme
        check = self.lesson.check_question
        width = WIDTH - 2 * MARGIN_PX
        y = _lines(draw, ["Check yourself"], _font(LABEL_PX), HEADER_PX + 26, t.accent)
        question = _wrap(draw, check.question, _font(HEADING_PX - 10), width, 3)
        y = _lines(draw, question, _font(HEADING_PX - 10), y + 6, t.text, bold=True) + 16
        reveal = scene.kind is SceneKind.answer
        font = _font(OPTION_PX)
        for index, option in enumerate(check.options):
            right = reveal and index == check.answer_index
            lines = _wrap(draw, f"{'ABCDE'[index]}.  {option}", font, width - 48, 2)
            bottom = y + len(lines) * _line_height(OPTION_PX) + 16
            if bottom > HEIGHT - PROGRESS_PX - 70:
                break
            draw.rectangle((MARGIN_PX, y, WIDTH - MARGIN_PX, bottom), fill=t.panel)
            if right:
                draw.rectangle((MARGIN_PX, y, WIDTH - MARGIN_PX, bottom), outline=CORRECT, width=4)
            colour = CORRECT if right else (t.muted if reveal else t.text)
            _lines(draw, lines, font, y + 8, colour, x=MARGIN_PX + 24, bold=right)
            y = bottom + 10
        note = {
            SceneKind.question: "",
            SceneKind.thinking: f"Think it over…  {scene.countdown}",
            SceneKind.answer: f"Answer: {'ABCDE'[check.answer_index]}",
        }[scene.kind]
        if note:
            colour = CORRECT if reveal else t.accent
            _lines(draw, [note], _font(LABEL_PX + 4), HEIGHT - PROGRESS_PX - 58, colour, bold=True)


def _line_height(font_px: int) -> int:
    return round(font_px * LINE_SPACING)


def _lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: Font,
    y: int,
    fill: tuple[int, int, int],
    bold: bool = False,
    x: int = MARGIN_PX,
) -> int:
    """Draw `lines` left-aligned from `y`; return the y just below them."""
    font_px = int(getattr(font, "size", BODY_PX))
    for line in lines:
        # The bundled font has no bold face; a one-pixel stroke in the text colour stands in.
        draw.text(
            (x, y), line, font=font, fill=fill, stroke_width=1 if bold else 0, stroke_fill=fill
        )
        y += _line_height(font_px)
    return y


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: int, max_lines: int
) -> list[str]:
    """Greedy word wrap to `max_width` pixels; text beyond `max_lines` ends in an ellipsis."""

    def fits(candidate: str) -> bool:
        return draw.textlength(candidate, font=font) <= max_width

    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        # A single word wider than the slide (a URL, a long formula) is cut by characters.
        while not fits(word):
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    while last and not fits(last + ELLIPSIS):
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = last.rstrip(" ,;:.") + ELLIPSIS
    return kept
