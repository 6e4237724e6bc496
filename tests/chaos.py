"""Fault injection on the real services, shared by tests/workers/test_reliability.py (small
N, short timings) and bench/reliability.py (N = 100, full-length timings).

A `Cluster` runs what compose runs — pipeline workers, a watchdog worker, beat — as real
processes, and restarts a process that died (compose's `restart: unless-stopped`). The
faults are real: SIGKILL of pool children and whole workers, SIGSTOP/SIGCONT, a restart
of the machine's PostgreSQL and of its Redis (nothing saved). `tally` counts what a
healthy system must never show: lost or stuck requests, failures, degradations,
duplicate content.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from tests.support import (
    CLAIM_KEY,
    PG_ADMIN_URL,
    TEST_ENV,
    BeatProcess,
    WorkerProcess,
    connect,
)

PIPELINE_QUEUES = "video,audio,script,nlu"
TERMINAL = ("completed", "failed")

# The machine's service commands (the env entry's python-svc page).
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def services_controllable() -> bool:
    """True where this process may restart the machine's PostgreSQL and Redis."""
    return (
        os.geteuid() == 0
        and shutil.which("pg_ctlcluster") is not None
        and shutil.which("redis-server") is not None
        and os.path.isdir("/etc/postgresql")
    )


class Cluster:
    """Pipeline workers, a watchdog worker and beat, supervised like compose does."""

    def __init__(
        self, workers: int = 2, concurrency: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.env = {"NLU_PROVIDER": "lexical", **(env or {})}
        self.workers = [
            WorkerProcess(concurrency, PIPELINE_QUEUES, self.env) for _ in range(workers)
        ]
        self.watchdog = WorkerProcess(1, "watchdog", self.env)
        self.beat: BeatProcess | None = None
        self.paused: set[int] = set()
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self.restarts = 0

    def __enter__(self) -> Cluster:
        for w in [self.watchdog, *self.workers]:
            w.launch()
        self.beat = BeatProcess(self.env)
        self._supervisor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._supervisor.join(30)
        for w in [*self.workers, self.watchdog]:
            w.stop()
        if self.beat is not None:
            self.beat.stop()

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for w in [self.watchdog, *self.workers]:
                if not w.alive() and id(w) not in self.paused:
                    try:
                        w.launch()
                        self.restarts += 1
                    except Exception:  # Redis or PostgreSQL restarting: try again
                        continue
            if self.beat is not None and not self.beat.alive():
                try:
                    self.beat = BeatProcess(self.env)
                    self.restarts += 1
                except Exception:
                    continue

    def events(self, event: str) -> list[dict[str, Any]]:
        return [e for w in [self.watchdog, *self.workers] for e in w.events(event)]

    def redispatched(self, kind: str) -> int:
        """Requests the watchdog re-dispatched, by kind (dead_lease, lost)."""
        return sum(int(e.get(kind, 0)) for e in self.events("requests re-dispatched"))

    def kill_something(self, rng: random.Random) -> str:
        """SIGKILL a random pool child, or a whole pipeline worker (main + children), of
        the workers running now; "none" when all are down (being restarted)."""
        running = [w for w in self.workers if w.alive() and w.children()]
        if not running:
            return "none"
        w = rng.choice(running)
        if rng.random() < 0.6:
            try:
                os.kill(rng.choice(w.children()), signal.SIGKILL)
            except (ProcessLookupError, IndexError):
                return "none"
            return "child"
        w.kill()
        return "worker"

    @contextmanager
    def paused_worker(self, w: WorkerProcess) -> Iterator[None]:
        self.paused.add(id(w))
        w.signal_all(signal.SIGSTOP)
        try:
            yield
        finally:
            w.signal_all(signal.SIGCONT)
            self.paused.discard(id(w))


def restart_postgres(mode: str = "fast") -> None:
    """Restart the machine's PostgreSQL. "fast": every connection is cut and the server
    shuts down cleanly; "immediate": as a crash, with no shutdown checkpoint, so commits
    not yet flushed to the WAL (claims and renewals, db/driver.py) are lost and the
    server replays its WAL as it starts."""
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "restart",
         "-m", mode],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    _wait_until(_postgres_answers, 60)


def ensure_postgres() -> None:
    if not _postgres_answers():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        _wait_until(_postgres_answers, 60)


def restart_redis() -> None:
    """Restart the machine's Redis with nothing saved: every queued and unacked message,
    the beat's schedule and lock are gone."""
    stop_redis()
    ensure_redis()


def stop_redis() -> None:
    """Stop the machine's Redis, saving nothing (ensure_redis starts it again)."""
    try:
        redis.Redis(port=6379).shutdown(nosave=True)
    except redis.exceptions.ConnectionError:
        pass  # shutdown closes the connection
    _wait_until(lambda: not _redis_answers(), 30)


def ensure_redis() -> None:
    if not _redis_answers():
        subprocess.run(REDIS_START, check=True, capture_output=True, timeout=30)
        _wait_until(_redis_answers, 30)
    # This run's claim on its db number went with the data.
    redis.Redis.from_url(TEST_ENV.redis_url).set(CLAIM_KEY, os.getpid(), ex=6 * 3600)


def _postgres_answers() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2) as c:
            c.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(port=6379, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def _wait_until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"service did not come back within {timeout} s")
        time.sleep(0.2)


# ---- the requests and what became of them ---------------------------------------------


@dataclass
class Workload:
    """Requests submitted through the real API: `dups` of one question (one cache key,
    single flight) and the rest each with a key of its own."""

    ids: list[str] = field(default_factory=list)
    topic_of: dict[str, str] = field(default_factory=dict)
    submitted_at: dict[str, float] = field(default_factory=dict)


def free_keys(n: int, avoid_topics: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(topic_id, title, interest_id) triples no request has used yet, on topics other
    than `avoid_topics`."""
    with connect(TEST_ENV.database) as c:
        topics = c.execute(
            "SELECT t.id, t.title FROM topics t WHERE t.depth >= 2 "
            "AND NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) ORDER BY t.id"
        ).fetchall()
        interests = [r[0] for r in c.execute("SELECT id FROM interests ORDER BY id")]
        used = set(c.execute("SELECT topic_id, interest_id FROM content_requests").fetchall())
    out = []
    for interest in interests:
        for topic_id, title in topics:
            if topic_id in avoid_topics:
                continue
            if (topic_id, interest) not in used and (topic_id, interest) not in _taken:
                out.append((topic_id, title, interest))
                _taken.add((topic_id, interest))
                if len(out) == n:
                    return out
    raise AssertionError("not enough unused topic/interest pairs")


_taken: set[tuple[str, str]] = set()
STUDENT = "user_demo_student_1"


async def submit(
    api: Any,
    load: Workload,
    n: int,
    dups: int,
    spread_s: float = 0.0,
    avoid_topics: frozenset[str] = frozenset(),
) -> None:
    keys = free_keys(n - dups + 1, avoid_topics)
    plan = [keys[0]] * dups + keys[1:]
    random.Random(7).shuffle(plan)
    for topic_id, title, interest in plan:
        rid = await api.submit_request(STUDENT, f"can you explain {title}?", interest)
        load.ids.append(rid)
        load.topic_of[rid] = topic_id
        load.submitted_at[rid] = time.monotonic()
        if spread_s:
            await asyncio.sleep(spread_s / n)


@dataclass
class Tally:
    total: int
    completed: int
    failed: int
    degraded: int
    not_terminal: int  # lost or stuck
    duplicate_content: int
    clarified: int
    seconds_to_terminal_max: float
    details: list[str]

    def line(self) -> str:
        return (
            f"requests={self.total} completed={self.completed} failed={self.failed} "
            f"degraded={self.degraded} lost_or_stuck={self.not_terminal} "
            f"duplicate_content={self.duplicate_content} "
            f"max_time_to_terminal_s={self.seconds_to_terminal_max:.1f}"
        )


def _rows(ids: list[str]) -> dict[str, dict[str, Any]]:
    with connect(TEST_ENV.database) as c:
        cur = c.execute(
            "SELECT id, status::text, error_message, metadata, topic_id, "
            "generated_content_id, completed_at, metadata->>'cache_key' AS key "
            "FROM content_requests WHERE id = ANY(%s)",
            (ids,),
        )
        cols = [d.name for d in cur.description or ()]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


async def settle_all(api: Any, load: Workload, within: float) -> Tally:
    """Wait (with a deadline) until every request is terminal, answering a clarification
    with the intended topic if NLU asks one (not a fault); then count."""
    deadline = time.monotonic() + within
    terminal_at: dict[str, float] = {}
    clarified = 0
    while True:
        rows = await asyncio.to_thread(_rows, load.ids)
        now = time.monotonic()
        for rid, r in rows.items():
            if r["status"] in TERMINAL:
                terminal_at.setdefault(rid, now)
            elif r["status"] == "needs_clarification":
                try:
                    await api.clarify(rid, topic_id=load.topic_of[rid])
                    clarified += 1
                except Exception:
                    pass
        if len(terminal_at) == len(load.ids) or now > deadline:
            break
        await asyncio.sleep(0.25)
    return await asyncio.to_thread(_count, load, rows, terminal_at, clarified)


def _count(
    load: Workload, rows: dict[str, dict[str, Any]], terminal_at: dict[str, float], clarified: int
) -> Tally:
    details = []
    failed = degraded = completed = 0
    for rid, r in rows.items():
        if r["status"] == "failed":
            failed += 1
            details.append(f"{rid} failed: {r['error_message']}")
        elif r["status"] == "completed":
            completed += 1
            if r["error_message"]:
                degraded += 1
                details.append(f"{rid} degraded: {r['error_message']}")
        else:
            details.append(f"{rid} still {r['status']}: {r['metadata'].get('history')}")
    keys = {r["key"] for r in rows.values() if r["key"]}
    with connect(TEST_ENV.database) as c:
        per_key = dict(
            c.execute(
                "SELECT cache_key, count(*) FROM generated_content WHERE cache_key = ANY(%s) "
                "GROUP BY cache_key",
                (list(keys),),
            ).fetchall()
        )
        ids_per_key = c.execute(
            "SELECT metadata->>'cache_key', count(DISTINCT generated_content_id) "
            "FROM content_requests WHERE id = ANY(%s) AND status = 'completed' GROUP BY 1",
            (load.ids,),
        ).fetchall()
    duplicate = sum(n - 1 for n in per_key.values()) + sum(n - 1 for _, n in ids_per_key if n)
    times = [terminal_at[r] - load.submitted_at[r] for r in terminal_at]
    return Tally(
        total=len(load.ids),
        completed=completed,
        failed=failed,
        degraded=degraded,
        not_terminal=len(load.ids) - len(terminal_at),
        duplicate_content=duplicate,
        clarified=clarified,
        seconds_to_terminal_max=max(times, default=0.0),
        details=details,
    )
