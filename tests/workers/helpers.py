"""Helpers for tests that drive the real worker: submit, wait on the row, inspect it."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from tests.support import TEST_ENV, connect

TERMINAL = {"completed", "failed"}
SETTLED = TERMINAL | {"needs_clarification"}
# A cache miss's statuses, in order.
FULL_MISS = [
    "nlu_processing",
    "cache_check",
    "generating_script",
    "generating_audio",
    "fast_path_ready",
    "generating_video",
    "completed",
]

_handed_out: set[str] = set()
_pairs_handed_out: set[tuple[str, str]] = set()


def row(request_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM content_requests WHERE id = %s", (request_id,))
        cols = [d.name for d in cur.description or ()]
        found = cur.fetchone()
    assert found is not None, request_id
    return dict(zip(cols, found, strict=True))


def content(content_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM generated_content WHERE id = %s", (content_id,))
        cols = [d.name for d in cur.description or ()]
        found = cur.fetchone()
    assert found is not None, content_id
    return dict(zip(cols, found, strict=True))


def scalar(sql: str, *params: object) -> Any:
    with connect(TEST_ENV.database) as c:
        return c.execute(sql, params).fetchone()[0]


async def settle(request_id: str, statuses: set[str] = SETTLED, within: float = 60) -> dict:
    """Wait (polling the row, with a deadline) until the request reaches one of statuses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await asyncio.to_thread(row, request_id)
        if r["status"] in statuses:
            return r
        if loop.time() > deadline:
            raise AssertionError(
                f"{request_id} still {r['status']} after {within} s: "
                f"{json.dumps(r['metadata'], default=str)}"
            )
        await asyncio.sleep(0.05)


def fresh_topic(lexical: bool = False) -> tuple[str, str]:
    """A (topic_id, query) pair that no request has used yet: a cache miss for anyone.
    `lexical`: one whose query the lexical resolver resolves too, for tests that run the
    fault cluster (its NLU is lexical). Leaf topics are few: the others take any."""
    with connect(TEST_ENV.database) as c:
        leaves = c.execute(
            "SELECT t.id, t.title FROM topics t WHERE t.depth >= 2 "
            "AND NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) "
            "AND NOT EXISTS (SELECT 1 FROM content_requests r WHERE r.topic_id = t.id) "
            "ORDER BY t.id"
        ).fetchall()
    clear = _lexically_clear() if lexical else {t for t, _ in leaves}
    free = [(t, title) for t, title in leaves if t not in _handed_out and t in clear]
    assert free, "the catalog has no unused leaf topic left for this test session"
    topic_id, title = free[0]
    _handed_out.add(topic_id)
    return topic_id, _query(title)


def fresh_pair() -> tuple[str, str]:
    """A (query, interest_id) whose cache key no request has used yet, for a test that
    submits with that interest and needs only a cache miss. It takes a topic already used
    with another interest where it can, so it leaves fresh_topic's few topics alone."""
    with connect(TEST_ENV.database) as c:
        pairs = c.execute(
            "SELECT t.id, t.title, i.id, EXISTS (SELECT 1 FROM content_requests r "
            "WHERE r.topic_id = t.id) FROM topics t CROSS JOIN interests i "
            "WHERE t.depth >= 2 AND i.id <> 'int_basketball' "
            "AND NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) "
            "AND NOT EXISTS (SELECT 1 FROM content_requests r "
            "WHERE r.topic_id = t.id AND r.interest_id = i.id) "
            "ORDER BY t.id, i.display_order"
        ).fetchall()
    free = [p for p in pairs if (p[0], p[2]) not in _pairs_handed_out]
    used = [p for p in free if p[3] or p[0] in _handed_out]
    assert free, "the catalog has no unused topic and interest pair left for this session"
    topic_id, title, interest_id, _ = (used or free)[0]
    _pairs_handed_out.add((topic_id, interest_id))
    return _query(title), interest_id


def _query(title: str) -> str:
    return f"can you explain {title}?"


@functools.cache
def _lexically_clear() -> frozenset[str]:
    """The topics whose fresh_topic query the lexical resolver (the NLU of the fault
    tests' cluster, tests/chaos.py) resolves with confidence, so that query is a cache
    miss and never a clarification ("Binary Numbers" is not: 0.444 against 0.45)."""
    from db.seed import seed_catalog
    from pipeline.providers.nlu_lexical import LexicalTopicResolver
    from pipeline.settings import Settings

    catalog = seed_catalog()
    resolver = LexicalTopicResolver(Settings.model_fields["nlu_confidence_threshold"].default)

    async def resolved() -> frozenset[str]:
        found = set()
        for t, info in catalog.topics.items():
            if (await resolver.understand(_query(info.title), catalog)).topic_id == t:
                found.add(t)
        return frozenset(found)

    # Called from the tests' running loop: the resolver runs on a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, resolved()).result()


def history(r: dict[str, Any]) -> list[str]:
    return list(r["metadata"].get("history", []))


# -- ops tasks and bulk uploads ---------------------------------------------------------

UPLOADER = "user_demo_teacher"
SCHOOL = "school_demo_hs"


def send(name: str, *args: str) -> None:
    from workers.app import app

    app.send_task(name, args=list(args))


def job(job_id: str) -> dict[str, Any]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute("SELECT * FROM bulk_upload_jobs WHERE id = %s", (job_id,))
        cols = [d.name for d in cur.description or ()]
        return dict(zip(cols, cur.fetchone(), strict=True))


def queued_job(file_path: str) -> str:
    job_id = f"upload_job_{uuid.uuid4().hex[:12]}"
    with connect(TEST_ENV.database) as c:
        c.execute(
            "INSERT INTO bulk_upload_jobs (id, uploaded_by, school_id, file_path) "
            "VALUES (%s, %s, %s, %s)",
            (job_id, UPLOADER, SCHOOL, file_path),
        )
    return job_id


def finished(job_id: str) -> dict[str, Any] | None:
    j = job(job_id)
    return j if j["status"] in ("completed", "failed") else None


class BrokerTap:
    """Every command the Redis server receives on the test db, via MONITOR."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.db = int(TEST_ENV.redis_url.rsplit("/", 1)[1])
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BrokerTap:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def _run(self) -> None:
        conn = redis.Redis.from_url(TEST_ENV.redis_url)
        with conn.monitor() as m:
            self._ready.set()
            while not self._stop.is_set():
                cmd = m.next_command()
                if int(cmd.get("db", -1)) == self.db:  # MONITOR sees every db
                    self.commands.append(cmd["command"])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        redis.Redis.from_url(TEST_ENV.redis_url).ping()  # wakes the blocked read
        self._thread.join(10)


ID = re.compile(r"(req|upload_job|feedback)_[0-9a-f]{16}|[a-z_]+_[0-9a-f]{12,}")
BODY = re.compile(r'body\\?": \\?"([A-Za-z0-9+/=]+)')


def message_bodies(commands: list[str]) -> list[object]:
    """The decoded JSON bodies of the task messages pushed while tapping."""
    return [json.loads(base64.b64decode(b)) for cmd in commands for b in BODY.findall(cmd)]


TASK = re.compile(r'task\\?": \\?"([a-z_.]+)')


def task_names(commands: list[str], request_id: str) -> list[str]:
    """The names of the tasks sent for this request while tapping, in order (a message's
    headers show its arguments, ids only, as `argsrepr`)."""
    return [
        name
        for cmd in commands
        if cmd.split(" ", 1)[0].strip('"').upper() == "LPUSH" and request_id in cmd
        for name in TASK.findall(cmd)
    ]
