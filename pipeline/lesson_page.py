"""The lesson page: one HTML file a student or teacher opens beside the lesson's media.

A lesson's objects sit together in one storage folder, content/{cache_key}/ (video.mp4 and
thumbnail.jpg, or only audio.mp3 while the video is not ready; captions.vtt;
transcript.txt). This page goes in that folder too. It plays the media with its captions,
shows the transcript inline (so it can be read, searched and translated without playing
anything) and asks the check question, with an answer reveal that needs no JavaScript.

Every link is relative, so the same file works opened straight from storage, from a
bucket or behind a static server or CDN, wherever the folder ends up. The page is
self-contained: inline CSS, no scripts, no fonts or other external resources, and a
Content-Security-Policy that forbids scripts and any load from outside the folder's origin.
Lesson text comes from a model or a teacher's upload, so everything is escaped.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlsplit

from pipeline.lesson import Lesson

# Letters for the check question's options (a Lesson has at most five).
OPTION_LETTERS = "ABCDE"

# Defence in depth on top of escaping: nothing on the page may run a script, and nothing
# may load from anywhere but the folder's own origin (inline CSS is the one exception).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)

# Plain, readable on a phone and printable; system fonts so nothing is fetched. Colours
# meet WCAG AA contrast, and the focus ring stays visible for keyboard users.
STYLE = """
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #ffffff; --muted: #555555;
  --accent: #0b57d0; --box: #f2f4f7; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8e8; --bg: #121212; --muted: #b0b0b0; --accent: #8ab4f8; --box: #1f2329; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 1.05rem/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 48rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 0.25rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
video, audio { display: block; width: 100%; margin: 0 auto; }
/* 16:9 until the metadata arrives, then the video's own shape: no jump as it loads. */
video { aspect-ratio: auto 16 / 9; background: #000000; }
a { color: var(--accent); }
a:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.check { background: var(--box); border-radius: 0.5rem; padding: 0.25rem 1rem 1rem; }
.options { list-style: none; padding: 0; }
.options li { margin: 0.25rem 0; }
.letter { font-weight: 700; }
summary { cursor: pointer; color: var(--accent); font-weight: 600; padding: 0.25rem 0; }
#answer { font-weight: 600; }
"""


def lesson_page(
    lesson: Lesson,
    *,
    media: str,
    media_type: str,
    captions: str = "captions.vtt",
    transcript: str = "transcript.txt",
    poster: str | None = None,
) -> str:
    """The lesson's HTML page, for the storage folder that holds its media.

    `media`, `captions`, `transcript` and `poster` are links relative to the page (e.g.
    "video.mp4"); `media_type` is the media's MIME type and picks the player: a video
    element for video/*, an audio element for audio/*. `poster` is only used for video.

    Raises ValueError for a media type that is neither audio nor video, or for a link
    that is not relative (it would break once the folder is copied or served elsewhere).
    """
    kind = media_type.split("/", 1)[0].strip().lower()
    if kind not in ("video", "audio"):
        raise ValueError(f"media_type must be video/* or audio/*, not {media_type!r}")
    for link in (media, captions, transcript, *([poster] if poster else [])):
        _require_relative(link)

    title = escape(lesson.title)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
            # An empty icon: otherwise the browser asks the server for /favicon.ico, a
            # request outside the folder that fails on a bucket.
            '<link rel="icon" href="data:,">',
            f"<title>{title}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<main>",
            f'<article data-topic-id="{escape(lesson.topic_id)}"'
            f' data-interest-id="{escape(lesson.interest_id)}"'
            f' data-grade-band="{escape(lesson.grade_band)}">',
            "<header>",
            f"<h1>{title}</h1>",
            f'<p class="meta">{escape(_band(lesson.grade_band))}</p>',
            "</header>",
            _player(kind, media, media_type, captions, poster),
            _transcript(lesson, transcript),
            _check_question(lesson),
            "</article>",
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _band(grade_band: str) -> str:
    """The band as a label: "grades 9-12" reads "Grades 9-12", a bare "6-8" "Grades 6-8"."""
    band = grade_band.strip()
    if band[:1].isdigit():
        return f"Grades {band}"
    return band[:1].upper() + band[1:]


def _require_relative(link: str) -> None:
    # A scheme ("https:", "gs:", "javascript:"), a host ("//cdn...") or a leading "/"
    # would tie the page to one place; a relative link follows the folder.
    parts = urlsplit(link)
    if not link or parts.scheme or parts.netloc or link.startswith(("/", "\\")):
        raise ValueError(f"link must be relative to the page, not {link!r}")


def _player(kind: str, media: str, media_type: str, captions: str, poster: str | None) -> str:
    # preload="metadata" shows the duration without downloading the whole file;
    # playsinline keeps iPhones from forcing full screen. The captions track is on by
    # default, since many students watch in class or on a bus with the sound off.
    if kind == "video":
        poster_attr = f' poster="{escape(poster)}"' if poster else ""
        opening = f'<video id="lesson-media" controls playsinline preload="metadata"{poster_attr}>'
        closing = "</video>"
        fallback = "Your browser cannot play this video here."
    else:
        opening = '<audio id="lesson-media" controls preload="metadata">'
        closing = "</audio>"
        fallback = "Your browser cannot play this audio here."
    return "\n".join(
        [
            opening,
            f'<source src="{escape(media)}" type="{escape(media_type)}">',
            f'<track kind="captions" srclang="en" label="English" src="{escape(captions)}"'
            " default>",
            # Shown only by a browser with no media support: the file is still one tap away.
            f'<p>{fallback} <a href="{escape(media)}">Download it</a>.</p>',
            closing,
        ]
    )


def _paragraphs(text: str) -> list[str]:
    # Narration may hold blank-line paragraph breaks; each becomes its own <p>.
    chunks = [c.strip() for c in re.split(r"\n\s*\n", text)]
    return [f"<p>{escape(c)}</p>" for c in chunks if c]


def _transcript(lesson: Lesson, transcript: str) -> str:
    # The narration as spoken, in order, for students who read rather than listen, use a
    # screen reader, or want to find one sentence again.
    lines = [
        '<section id="transcript" aria-labelledby="transcript-heading">',
        '<h2 id="transcript-heading">Transcript</h2>',
        *_paragraphs(lesson.hook),
    ]
    for section in lesson.sections:
        lines += [f"<h3>{escape(section.heading)}</h3>", *_paragraphs(section.narration)]
    lines += [
        "<h3>Recap</h3>",
        *_paragraphs(lesson.recap),
        f'<p><a href="{escape(transcript)}" type="text/plain">Transcript as a text file</a></p>',
        "</section>",
    ]
    return "\n".join(lines)


def _check_question(lesson: Lesson) -> str:
    # The reveal is a <details> element: it opens and closes without JavaScript, and
    # keyboards and screen readers already know how to use it.
    check = lesson.check_question
    options = [
        f'<li data-option-index="{i}"><span class="letter">{OPTION_LETTERS[i]}.</span> '
        f"{escape(option)}</li>"
        for i, option in enumerate(check.options)
    ]
    right = check.answer_index
    return "\n".join(
        [
            f'<section id="check-question" class="check" aria-labelledby="check-heading"'
            f' data-answer-index="{right}">',
            '<h2 id="check-heading">Check your understanding</h2>',
            f'<p class="question">{escape(check.question)}</p>',
            '<ul class="options">',
            *options,
            "</ul>",
            "<details>",
            "<summary>Show the answer</summary>",
            f'<p id="answer">{OPTION_LETTERS[right]}. {escape(check.options[right])}</p>',
            "</details>",
            "</section>",
        ]
    )
