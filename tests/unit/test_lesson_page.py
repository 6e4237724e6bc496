"""The lesson page's HTML, without a browser: escaping, relative links, the right player.

tests/integration/test_lesson_page.py opens the page in a real browser.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from pipeline.lesson import Lesson
from pipeline.lesson_page import lesson_page

HOSTILE = "<script>alert('x')</script> & \"quoted\" <img src=x onerror=alert(1)>"


def make_lesson(text: str = "plain") -> Lesson:
    return Lesson.model_validate(
        {
            "title": f"Title {text}",
            "topic_id": f"topic {text}",
            "interest_id": f"interest {text}",
            "style": "story",
            "grade_band": f"9-12 {text}",
            "hook": f"Hook {text}",
            "sections": [
                {
                    "heading": f"Heading {i} {text}",
                    "narration": f"Narration {i} {text}",
                    "caption": f"Caption {i}",
                }
                for i in range(3)
            ],
            "recap": f"Recap {text}",
            "check_question": {
                "question": f"Question {text}",
                "options": [f"Wrong {text}", f"Right {text}", "Also wrong"],
                "answer_index": 1,
            },
        }
    )


class Elements(HTMLParser):
    """Every start tag with its attributes, and every text run, as the parser sees them.

    The handle_* methods are HTMLParser's callbacks (hence vulture's noqa: it cannot see
    the base class call them).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: V105
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: V105
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:  # noqa: V105
        self.text.append(data)

    def named(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def video_page(lesson: Lesson | None = None) -> str:
    return lesson_page(
        lesson or make_lesson(), media="video.mp4", media_type="video/mp4", poster="thumbnail.jpg"
    )


def test_hostile_lesson_text_is_escaped_everywhere() -> None:
    page = video_page(make_lesson(HOSTILE))
    elements = parse(page)
    # No markup from the lesson survives: the only script-ish thing is none at all.
    assert "<script" not in page
    assert "<img" not in page
    assert elements.named("script") == [] and elements.named("img") == []
    assert all("onerror" not in attrs for _, attrs in elements.tags)
    # Yet the text reads back exactly, in text and in attributes.
    text = "".join(elements.text)
    for part in ("Title", "Hook", "Heading 0", "Narration 2", "Recap", "Question", "Right"):
        assert f"{part} {HOSTILE}" in text
    (article,) = elements.named("article")
    assert article["data-topic-id"] == f"topic {HOSTILE}"
    assert article["data-grade-band"] == f"9-12 {HOSTILE}"


def test_every_link_is_relative() -> None:
    elements = parse(video_page())
    links = [
        value
        for _, attrs in elements.tags
        for name, value in attrs.items()
        if name in ("src", "href", "poster") and value is not None
    ]
    assert links  # media, track, poster, download and transcript links
    # The one exception is the empty data: icon, which stops a /favicon.ico request.
    assert [link for link in links if link.startswith("data:")] == ["data:,"]
    for link in links:
        if link == "data:,":
            continue
        assert "http" not in link and "//" not in link and not link.startswith("/"), link
    assert "http" not in video_page().replace('http-equiv="Content-Security-Policy"', "")


@pytest.mark.parametrize(
    "bad",
    [
        "https://cdn.example/video.mp4",
        "//cdn.example/video.mp4",
        "/content/x/video.mp4",
        "gs://bucket/video.mp4",
        "javascript:alert(1)",
        "",
    ],
)
def test_an_absolute_link_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        lesson_page(make_lesson(), media=bad, media_type="video/mp4")
    with pytest.raises(ValueError, match="relative"):
        lesson_page(make_lesson(), media="video.mp4", media_type="video/mp4", captions=bad or "/")


def test_video_gets_a_video_element_with_poster_and_captions() -> None:
    elements = parse(video_page())
    assert elements.named("audio") == []
    (video,) = elements.named("video")
    assert video["id"] == "lesson-media"
    assert {"controls", "playsinline"} <= video.keys()
    assert (video["preload"], video["poster"]) == ("metadata", "thumbnail.jpg")
    (source,) = elements.named("source")
    assert (source["src"], source["type"]) == ("video.mp4", "video/mp4")
    (track,) = elements.named("track")
    assert track == {
        "kind": "captions",
        "srclang": "en",
        "label": "English",
        "src": "captions.vtt",
        "default": None,
    }


def test_audio_gets_an_audio_element_and_no_poster() -> None:
    page = lesson_page(
        make_lesson(), media="audio.mp3", media_type="audio/mpeg", poster="thumbnail.jpg"
    )
    elements = parse(page)
    assert elements.named("video") == []
    (audio,) = elements.named("audio")
    assert audio["id"] == "lesson-media" and "controls" in audio and "poster" not in audio
    (source,) = elements.named("source")
    assert (source["src"], source["type"]) == ("audio.mp3", "audio/mpeg")
    (track,) = elements.named("track")
    assert (track["kind"], track["src"]) == ("captions", "captions.vtt")


def test_other_media_types_are_refused() -> None:
    with pytest.raises(ValueError, match="video/\\* or audio/\\*"):
        lesson_page(make_lesson(), media="slides.pdf", media_type="application/pdf")


def test_page_basics_and_the_check_question() -> None:
    page = video_page()
    elements = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert elements.named("html") == [{"lang": "en"}]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in (
        elements.named("meta")
    )
    assert elements.named("script") == [] and elements.named("link") == [
        {"rel": "icon", "href": "data:,"}
    ]
    (check,) = [a for a in elements.named("section") if a.get("id") == "check-question"]
    assert check["data-answer-index"] == "1"
    (answer,) = [a for a in elements.named("p") if a.get("id") == "answer"]
    # The answer sits inside the <details>, after its "Show the answer" summary.
    details = page.index("<details>")
    assert details < page.index("<summary>Show the answer</summary>") < page.index('id="answer"')
    assert page.index('id="answer"') < page.index("</details>")
    assert '<p id="answer">B. Right plain</p>' in page
    assert [a for a in elements.named("a") if a["href"] == "transcript.txt"]


def test_narration_paragraphs_become_separate_paragraphs() -> None:
    lesson = make_lesson()
    lesson.hook = "First paragraph.\n\nSecond paragraph."
    page = lesson_page(lesson, media="audio.mp3", media_type="audio/mpeg")
    assert "<p>First paragraph.</p>\n<p>Second paragraph.</p>" in page


@pytest.mark.parametrize(
    ("band", "label"),
    [("grades 9-12", "Grades 9-12"), ("grade 10", "Grade 10"), ("6-8", "Grades 6-8")],
)
def test_the_grade_band_reads_as_a_label(band: str, label: str) -> None:
    lesson = make_lesson("plain").model_copy(update={"grade_band": band})
    page = lesson_page(lesson, media="video.mp4", media_type="video/mp4")
    assert f'<p class="meta">{label}</p>' in page
