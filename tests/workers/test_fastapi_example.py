"""The README's FastAPI example, run as it stands: uvicorn on loopback, a real request
submitted through it and its server-sent events read to `completed`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.workers.helpers import fresh_topic

pytestmark = pytest.mark.usefixtures("fakes")

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- fastapi-example -->\s*```python\n(.*?)```", re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_fastapi_example_streams_a_request_to_completed(tmp_path: Path) -> None:
    found = BLOCK.search(README.read_text())
    assert found, "the README lost its FastAPI example"
    (tmp_path / "service.py").write_text(found.group(1))
    port = free_port()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, str(tmp_path)])}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/docs", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the example service exited"
                assert time.monotonic() < deadline, "the example service never answered"
                time.sleep(0.1)
        _, query = fresh_topic()
        asked = httpx.post(
            f"{base}/lessons", json={"student_id": "user_demo_student_2", "query": query}
        )
        assert asked.status_code == 200, asked.text
        request_id = asked.json()["id"]
        events = []
        with httpx.stream("GET", f"{base}/lessons/{request_id}/events", timeout=60) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
        assert [e["request_id"] for e in events] == [request_id] * len(events)
        assert events[0]["from_status"] is None
        assert events[-1]["to_status"] == "completed"
        assert events[-1]["content"]["video_url"]
        assert query not in json.dumps(events)
    finally:
        server.terminate()
        server.wait(10)
