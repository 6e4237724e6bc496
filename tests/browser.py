"""A real headless browser for tests: Debian's Chromium driven by Playwright.

`static_server` serves a folder over http on 127.0.0.1, as a bucket or CDN serves a lesson's
storage folder. Chromium will not load a <track> (the captions) from a file:// page, so a
page that plays media with captions has to be tested over http.

`inspect_lesson_page` opens a lesson page (pipeline/lesson_page.py) and reports what a
student would get: the media's duration, the caption cues the browser parsed, whether the
media actually plays, and the check question's answer before and after the reveal. Every
wait has a deadline (Playwright's wait_for_function and locator waits); nothing sleeps.

The browser is the distribution's (/usr/bin/chromium, apt package "chromium"), never one
downloaded by `playwright install`: the tests run without internet. Debian's build decodes
H.264 and AAC (it uses the system FFmpeg), so it plays the pipeline's real MP4s.

Playwright is imported inside the functions, so this module imports (and `missing_browser`
answers) on a machine without it.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")

# We run as root (Chromium's sandbox refuses root) on a machine with no GPU and no
# internet: no sandbox, no GPU, and none of the background calls home (QUIC, component and
# sync updates, first-run pages) that would only time out. The autoplay policy lets
# play() start without a click, as a student's click would.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)

# Generous against a loaded CI machine; on an idle one each wait takes well under a second.
DEFAULT_TIMEOUT_MS = 15_000
# How far the playback clock must move to count as playing (a few decoded frames).
PLAYED_SECONDS = 0.3


def missing_browser(executable: Path = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed in this environment"
    if not executable.exists():
        return f"Chromium is not installed at {executable} (apt-get install chromium)"
    return None


class _StaticHandler(SimpleHTTPRequestHandler):
    # The types a bucket sets on a lesson's objects, independent of this machine's
    # /etc/mime.types.
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".vtt": "text/vtt; charset=utf-8",
        ".txt": "text/plain; charset=utf-8",
        ".mp4": "video/mp4",
        ".mp3": "audio/mpeg",
        ".jpg": "image/jpeg",
        ".png": "image/png",
    }

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request on stderr would bury a failing test's output.
        pass


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 on a free port; yields the base URL, ending in "/".

    No Range support (http.server has none): fine for short test media, which the
    browser reads whole; a real bucket does support it, for seeking in long videos.
    """
    handler = functools.partial(_StaticHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium(executable: Path = CHROMIUM) -> Iterator[Browser]:
    """A headless Chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class PageFacts:
    """What a student's browser made of a lesson page."""

    heading: str  # the <h1> as rendered text (so escaping shows as the original text)
    media_tag: str  # "video" or "audio"
    duration_seconds: float
    cue_count: int  # caption cues parsed from the <track>
    first_cue_text: str
    played: bool  # currentTime moved on after play()
    video_frames_decoded: int | None  # None for audio; > 0 means frames were decoded
    answer_hidden_before: bool  # the answer was not visible before the reveal
    answer_text: str  # the answer's text after clicking "Show the answer"
    # Every URL the page requested, and what the console reported as an error (CSP
    # violations, failed loads): a self-contained page asks only for its own files.
    requested_urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


# The page's media element and its captions track, as the lesson page names them.
_MEDIA = "document.getElementById('lesson-media')"
_TRACK = f"{_MEDIA}.querySelector('track')"


def inspect_lesson_page(
    url: str,
    screenshot: Path,
    *,
    executable: Path = CHROMIUM,
    timeout_ms: float = DEFAULT_TIMEOUT_MS,
) -> PageFacts:
    """Open the lesson page at `url`, play its media, reveal the answer, save a screenshot.

    Raises AssertionError when the media or the captions fail to load (with the browser's
    reason), and Playwright's TimeoutError when a wait passes its deadline.
    """
    with chromium(executable) as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.set_default_timeout(timeout_ms)
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url, wait_until="load")

        # Metadata (readyState >= HAVE_METADATA) gives the duration. A media element with
        # <source> children reports failure as networkState NETWORK_NO_SOURCE (3), not
        # as an error: the error events go to each <source>.
        page.wait_for_function(
            f"() => {_MEDIA}.readyState >= 1 || {_MEDIA}.error !== null"
            f" || {_MEDIA}.networkState === 3"
        )
        media_state = page.evaluate(
            f"({{ready: {_MEDIA}.readyState, error: {_MEDIA}.error && {_MEDIA}.error.message,"
            f" src: {_MEDIA}.currentSrc}})"
        )
        assert media_state["ready"] >= 1, f"the media did not load: {media_state}"
        media_tag = str(page.evaluate(f"{_MEDIA}.tagName")).lower()
        duration = float(page.evaluate(f"{_MEDIA}.duration"))

        # "showing" makes the browser fetch and parse the track whatever its default is;
        # the <track> element's readyState is then LOADED (2) or ERROR (3).
        page.evaluate(f"{_TRACK}.track.mode = 'showing'")
        page.wait_for_function(f"() => {_TRACK}.readyState >= 2")
        assert page.evaluate(f"{_TRACK}.readyState") == 2, "the captions track failed to load"
        cue_count = int(page.evaluate(f"{_TRACK}.track.cues.length"))
        first_cue = str(
            page.evaluate(f"{_TRACK}.track.cues.length ? {_TRACK}.track.cues[0].text : ''")
        )

        # Muted, as a test machine has no speakers and muted playback is always allowed.
        page.evaluate(f"{_MEDIA}.muted = true")
        start = float(page.evaluate(f"{_MEDIA}.currentTime"))
        play_error = page.evaluate(
            f"{_MEDIA}.play().then(() => null, (e) => e.name + ': ' + e.message)"
        )
        assert play_error is None, f"play() was refused: {play_error}"
        played = _waits(page, f"{_MEDIA}.currentTime > {start + PLAYED_SECONDS}", timeout_ms)
        frames = page.evaluate(
            f"{_MEDIA}.tagName === 'VIDEO' ? {_MEDIA}.webkitDecodedFrameCount : null"
        )
        # Paused, so the screenshot shows the same frame whatever the machine's speed.
        page.evaluate(f"{_MEDIA}.pause()")

        answer = page.locator("#answer")
        hidden_before = not answer.is_visible()
        page.locator("#check-question summary").click()
        answer.wait_for(state="visible")
        answer_text = answer.inner_text().strip()

        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        heading = page.locator("h1").inner_text().strip()

    return PageFacts(
        heading=heading,
        media_tag=media_tag,
        duration_seconds=duration,
        cue_count=cue_count,
        first_cue_text=first_cue,
        played=played,
        video_frames_decoded=None if frames is None else int(frames),
        answer_hidden_before=hidden_before,
        answer_text=answer_text,
        requested_urls=requested,
        console_errors=errors,
    )


def _waits(page: Page, condition: str, timeout_ms: float) -> bool:
    """Whether `condition` (JavaScript) becomes true before the deadline."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        # As a function, not a bare expression: Playwright evals a bare expression inside
        # the page, which the lesson page's CSP (script-src 'none') forbids.
        page.wait_for_function(f"() => {condition}", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True
