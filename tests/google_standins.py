"""Local stand-ins of the Gemini API and Google Cloud Text-to-Speech at the wire, for the
real google-genai and google-cloud-texttospeech clients: the public REST shapes,
`POST /{version}/models/{model}:generateContent` (with a JSON response schema) and
`POST /v1/text:synthesize` (base64 MP3), on one loopback HTTP server.

Gemini answers from the prompt itself: for the NLU schema it picks the first candidate,
for the lesson schema it writes a lesson from the facts it was given. `script(...)`
queues behaviours for the next calls: "ok", "malformed" (not JSON), "invalid" (JSON
that breaks the schema), "invent" (a topic id outside the candidates), "vague" (no
topic, a clarification), "safety" (prompt blocked), "finish_safety", "429" (with
Retry-After: 2), "500", "slow:S". Text-to-speech refuses input over 5,000 bytes, as the
API does, and returns 1 s of tone per 15 characters."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np

from pipeline.providers.speech_google import strip_id3

_GENERATE = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):generateContent$")
CHARS_PER_SECOND = 15
MARKER = "(from the Gemini stand-in)"


def _tone_mp3(seconds: float = 1.0, rate: int = 24000) -> bytes:
    """A mono MP3 of a quiet tone, `seconds` long."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"  # type: ignore[attr-defined]  # PyAV's stub lacks the setter
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.1 * np.sin(2 * math.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


class GoogleStandIns:
    def __init__(self) -> None:
        self.gemini_calls: list[dict[str, Any]] = []
        self.tts_calls: list[dict[str, Any]] = []
        self._behaviours: list[str] = []
        self._outage_until = 0.0
        self._tts_failures: list[int] = []
        self._lock = threading.Lock()
        tone = _tone_mp3()
        self._head, self._second = tone, strip_id3(tone)
        # What one "second" decodes to once joined (the encoder pads each a little).
        with av.open(io.BytesIO(self._head + self._second * 9)) as c:
            stream = c.streams.audio[0]
            self.chunk_seconds = sum(f.samples for f in c.decode(stream)) / stream.rate / 10
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *behaviours: str) -> None:
        with self._lock:
            self._behaviours.extend(behaviours)

    def outage(self, seconds: float) -> None:
        """Every Gemini call answers 500 for the next `seconds`."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds

    def calls_during_outage(self) -> int:
        with self._lock:
            return sum(1 for c in self.gemini_calls if c["behaviour"] == "outage")

    def fail_tts(self, *statuses: int) -> None:
        with self._lock:
            self._tts_failures.extend(statuses)

    def _next(self) -> str:
        with self._lock:
            return self._behaviours.pop(0) if self._behaviours else "ok"

    # ---- Gemini ------------------------------------------------------------------------

    def _generate(self, model: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        behaviour = "outage" if time.monotonic() < self._outage_until else self._next()
        prompt = body["contents"][-1]["parts"][0]["text"]
        config = body.get("generationConfig", {})
        schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
        with self._lock:
            self.gemini_calls.append(
                {"model": model, "prompt": prompt, "behaviour": behaviour, "t": time.monotonic()}
            )
        if behaviour.startswith("slow:"):
            time.sleep(float(behaviour.split(":")[1]))
            behaviour = "ok"
        if behaviour == "429":
            return 429, _error(429, "RESOURCE_EXHAUSTED"), {"Retry-After": "2"}
        if behaviour in ("500", "outage"):
            return 500, _error(500, "INTERNAL"), {}
        if behaviour == "safety":
            return 200, {"promptFeedback": {"blockReason": "SAFETY"}}, {}
        data = json.loads(prompt.split("\nYour last answer was invalid:")[0])
        is_lesson = "sections" in json.dumps(schema)
        if behaviour == "malformed":
            text = '{"title": "unfinished'
        elif behaviour == "invalid":
            text = json.dumps({"title": "x"} if is_lesson else {"confidence": 7})
        elif is_lesson:
            text = json.dumps(_lesson(data))
        else:
            text = json.dumps(_nlu(data, behaviour))
        candidate = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "SAFETY" if behaviour == "finish_safety" else "STOP",
        }
        usage = {"promptTokenCount": len(prompt) // 4, "candidatesTokenCount": len(text) // 4}
        return 200, {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}, {}

    # ---- Text-to-speech ----------------------------------------------------------------

    def _synthesize(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        text = body["input"]["text"]
        with self._lock:
            self.tts_calls.append(
                {"text": text, "voice": body.get("voice"), "bytes": len(text.encode())}
            )
            status = self._tts_failures.pop(0) if self._tts_failures else None
        if status is not None:
            return (
                status,
                _error(status, "UNAVAILABLE" if status >= 500 else "INVALID_ARGUMENT"),
                {},
            )
        if len(text.encode()) > 5000:
            return 400, _error(400, "INVALID_ARGUMENT", "input longer than 5000 bytes"), {}
        seconds = max(1, math.ceil(len(text) / CHARS_PER_SECOND))
        audio = base64.b64encode(self._head + self._second * (seconds - 1)).decode()
        return 200, {"audioContent": audio}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                path = self.path.split("?")[0]
                m = _GENERATE.match(path)
                if m:
                    status, reply, headers = standin._generate(m.group(1), body)
                elif path == "/v1/text:synthesize":
                    status, reply, headers = standin._synthesize(body)
                else:
                    status, reply, headers = 404, _error(404, "NOT_FOUND"), {}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _error(code: int, status: str, message: str = "stand-in") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _nlu(data: dict[str, Any], behaviour: str) -> dict[str, Any]:
    ids = [c["id"] for c in data["candidates"]]
    if behaviour == "invent":
        return {"topic_id": "topic_made_up", "confidence": 0.9}
    if behaviour == "vague":
        return {
            "topic_id": None,
            "confidence": 0.2,
            "clarification_question": "Which idea do you mean?",
            "option_topic_ids": ids[:3],
        }
    return {"topic_id": ids[0], "confidence": 0.92, "interest_id": None}


def _sentences(facts: list[str]) -> Iterator[str]:
    while True:
        yield from facts or ["This idea explains a lot about the world."]


def _lesson(data: dict[str, Any]) -> dict[str, Any]:
    facts = _sentences(list(data["facts"]))
    interest = data["interest"]
    sections = []
    for n in range(4):
        body = " ".join(next(facts) for _ in range(3))
        sections.append(
            {
                "heading": f"Part {n + 1}: {data['topic']}",
                "narration": f"Think about {interest}. {body} That is how it shows up in "
                f"{interest}, again and again, once you start to look for it.",
                "caption": f"{data['topic']} in {interest}",
            }
        )
    return {
        "title": f"{data['topic']} {MARKER}",
        "hook": f"Here is something about {data['topic']} you can see in {interest}.",
        "sections": sections,
        "recap": f"So {data['topic']} is everywhere in {interest}.",
        "check_question": {
            "question": f"Which of these is about {data['topic']}?",
            "options": [next(facts), "Nothing at all", "Only the weather"],
            "answer_index": 0,
        },
    }
