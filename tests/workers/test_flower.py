"""Flower against the test broker and worker: what ops see, and who may see it."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support import REPO, TEST_ENV, WorkerProcess, free_port, wait_for
from tests.workers.helpers import fresh_pair, settle
from workers.app import QUEUES

pytestmark = pytest.mark.usefixtures("fakes")

STUDENT = "user_demo_student_1"
CELERY_FLOWER = ("-m", "celery", "-A", "workers.app", "flower")
VIVIDLY_FLOWER = ("-m", "workers.cli", "flower")
# The tasks of a cache miss on a worker of every queue: cache_check runs in the NLU
# task's delivery and the audio in the script's (workers/routing.py, runs_here).
STAGE_TASKS = {f"pipeline.{s}" for s in ("nlu", "script", "video")}
REQUEST_ID_ARGS = re.compile(r"^\['req_[0-9a-f]{16}'\]$")


def get(url: str, auth: str | None = None) -> tuple[int, Any]:
    """(HTTP status, JSON body or None); status 0 when nothing answers yet."""
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, ConnectionError):
        return 0, None
    try:
        return resp.status, json.loads(body)
    except ValueError:
        return resp.status, body


@contextmanager
def flower(
    *args: str, command: tuple[str, ...] = CELERY_FLOWER, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Flower on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    log_path = TEST_ENV.tmp / f"flower-{port}.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    child_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *command, f"--port={port}", *args],
            cwd=REPO,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/healthcheck")[0] == 200 or proc.poll() is not None, 30)
        if proc.poll() is not None:
            raise RuntimeError(f"flower exited: {log_path.read_text()[-3000:]}")
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def alive_test_workers(base: str) -> list[str]:
    """Workers Flower has heard a heartbeat from: its event stream is live."""
    status, info = get(f"{base}/api/workers?status=true")
    assert status == 200
    return [name for name, alive in info.items() if alive and name.startswith("test-")]


async def test_flower_shows_workers_queues_and_stage_tasks_with_id_only_args(
    api, worker: WorkerProcess
) -> None:
    with flower("--address=127.0.0.1", env={"FLOWER_UNAUTHENTICATED_API": "true"}) as base:
        names = wait_for(lambda: alive_test_workers(base), 30, interval=0.2)

        query, interest = fresh_pair()  # a cache miss: every stage's task runs
        rid = await settle(await api.submit_request(STUDENT, query, interest))
        assert rid["status"] == "completed"

        def stage_tasks_seen() -> dict[str, Any] | None:
            status, tasks = get(f"{base}/api/tasks")
            assert status == 200
            mine = {t["name"] for t in tasks.values() if t["args"] == f"['{rid['id']}']"}
            return tasks if mine >= STAGE_TASKS else None

        tasks = wait_for(stage_tasks_seen, 30, interval=0.2)
        for task in tasks.values():
            assert REQUEST_ID_ARGS.match(task["args"]), task
            assert task["kwargs"] == "{}", task

        status, workers = get(f"{base}/api/workers?refresh=1")
        assert status == 200
        for name in names:
            assert name in workers
            assert set(workers[name]["registered"]) >= STAGE_TASKS | {"ops.noop"}
            assert {q["name"] for q in workers[name]["active_queues"]} == set(QUEUES)

        status, queues = get(f"{base}/api/queues/length")
        assert status == 200
        assert {q["name"] for q in queues["active_queues"]} == set(QUEUES)


def test_flower_api_answers_401_without_the_unauthenticated_switch() -> None:
    with flower("--address=127.0.0.1") as base:
        assert get(f"{base}/healthcheck")[0] == 200
        assert get(f"{base}/api/workers")[0] == 401
        assert get(f"{base}/api/tasks")[0] == 401


@pytest.mark.parametrize(
    ("command", "args", "env"),
    [
        # `vividly flower`: the password from settings (FLOWER_BASIC_AUTH), loopback default
        (VIVIDLY_FLOWER, (), {"FLOWER_BASIC_AUTH": "ops:s3cret"}),
        (CELERY_FLOWER, ("--address=127.0.0.1", "--basic-auth=ops:s3cret"), {}),
    ],
    ids=["vividly-flower-settings", "celery-flower-option"],
)
def test_flower_with_basic_auth(
    command: tuple[str, ...], args: tuple[str, ...], env: dict[str, str]
) -> None:
    env = {**env, "FLOWER_UNAUTHENTICATED_API": "true"}
    with flower(*args, command=command, env=env) as base:
        # With auth configured the unauthenticated switch opens nothing.
        assert get(f"{base}/api/workers")[0] == 401
        assert get(f"{base}/api/workers", auth="ops:wrong")[0] == 401
        assert get(f"{base}/api/workers", auth="ops:s3cret")[0] == 200


def test_vividly_flower_refuses_an_open_api_off_loopback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    result = subprocess.run(
        [sys.executable, *VIVIDLY_FLOWER, f"--port={free_port()}", "--address=0.0.0.0"],
        cwd=REPO,
        env={**env, "FLOWER_UNAUTHENTICATED_API": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "loopback address only" in result.stderr
