"""The whole pipeline on the real worker with the Google providers selected by settings,
against the local stand-ins of Gemini and Cloud Text-to-Speech."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests import fakes
from tests.google_standins import MARKER
from tests.support import WorkerProcess
from tests.workers.helpers import content, fresh_topic, settle

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_3"


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_lesson_from_gemini_and_google_tts_end_to_end(api, worker, google) -> None:
    env = {
        "NLU_PROVIDER": "gemini",
        "SCRIPT_PROVIDER": "gemini",
        "SPEECH_PROVIDER": "google",
        "GEMINI_BASE_URL": google.url,
        "GEMINI_API_KEY": "test-key",
        "TTS_API_ENDPOINT": google.url,
    }
    fakes.set_media("real")  # the configured speech provider (and the real renderer)
    topic_id, query = fresh_topic()
    with worker.stopped(), WorkerProcess.start(env=env) as w:
        r = await settle(await api.submit_request(STUDENT, query), {"completed", "failed"}, 120)
        scraped = await asyncio.to_thread(scrape, w.metrics_url)
    assert r["status"] == "completed", r["error_message"]
    c = content(r["generated_content_id"])
    script = json.loads(Path(urlparse(c["script_url"]).path).read_text())
    assert MARKER in script["title"]  # written by the Gemini stand-in
    prompts = [call["prompt"] for call in google.gemini_calls]
    assert any('"candidates"' in p for p in prompts) and any('"facts"' in p for p in prompts)
    assert google.tts_calls and c["duration_seconds"] > 0  # narrated by the TTS stand-in
    # Costs and provenance, on the content row.
    meta = c["generation_metadata"]
    assert meta["script"]["provider"] == "gemini" and meta["script"]["model"] == "gemini-2.5-flash"
    assert meta["script"]["prompt_version"] and meta["script"]["output_tokens"] > 0
    assert meta["speech"] == {
        "provider": "google_tts",
        "voice": "en-US-Neural2-F",
        "characters": sum(len(call["text"]) for call in google.tts_calls),
    }
    assert meta["estimated_cost_usd"] > 0
    # Ops see the same spend in the metrics.
    assert (
        sample(scraped, "vividly_provider_usage_total", provider="gemini", measure="output_tokens")
        > 0
    )
    assert (
        sample(scraped, "vividly_provider_usage_total", provider="google_tts", measure="characters")
        == (meta["speech"]["characters"])
    )
    assert sample(scraped, "vividly_provider_cost_usd_total", provider="google_tts") > 0
    # And the usage query counts it for the student's district.
    import subprocess
    import sys

    from tests.support import REPO

    usage = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workers.cli", "usage", "--since", "1h"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert usage.returncode == 0, usage.stderr
    line = next(x for x in usage.stdout.splitlines() if "org_demo_district" in x)
    assert float(line.split()[-1]) > 0  # its estimated cost, USD
    # Nothing that identifies the student left the system.
    sent = json.dumps([*google.gemini_calls, *google.tts_calls])
    assert STUDENT not in sent and "@" not in sent


def test_the_demo_runs_on_the_google_providers_against_the_stand_ins(worker) -> None:
    import subprocess
    import sys

    from tests.support import REPO

    with worker.stopped():
        done = subprocess.run(
            [sys.executable, "-m", "workers.cli", "demo", "--providers", "google",
             "what does a rocket push on?"],
            cwd=REPO, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "completed" in done.stdout
    assert "Gemini and Cloud TTS stand-ins at http://127.0.0.1:" in done.stdout
    assert "the stand-ins answered" in done.stdout  # the worker's providers called them
