"""Test helpers: scratch PostgreSQL databases, migrations, seed.

Every test database is created here with a unique name and dropped afterwards, so tests
never touch a developer's data. Settings come from the environment like the app's:
TEST_PG_ADMIN_URL (a libpq URL to an existing database with CREATEDB rights) and
TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from workers.localworker import LocalWorker, stop_group

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def libpq_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def asyncpg_url(dbname: str) -> str:
    return libpq_url(dbname).replace("postgresql://", "postgresql+asyncpg://", 1)


@contextmanager
def scratch_database(prefix: str = "vividly_test", name: str | None = None) -> Iterator[str]:
    """Create an empty database; yield its name; drop it (closing stray connections)."""
    name = name or f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(dbname: str, revision: str = "head") -> None:
    from db import migrate as m

    m.upgrade(asyncpg_url(dbname), revision)


def run_seed(dbname: str) -> None:
    import asyncio

    from db.seed import seed_database

    asyncio.run(seed_database(asyncpg_url(dbname)))


def connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(dbname), autocommit=True)


REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLAIM_KEY = "vividly:test-run"


@dataclass(frozen=True)
class TestEnv:
    database: str
    redis_url: str
    tmp: Path


def _claim_redis_db() -> str:
    """An empty Redis db number (1-15), marked as ours so a parallel run skips it. With no
    Redis at all (tests/unit on a bare machine) a placeholder that nothing connects to."""
    try:
        redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return f"{REDIS_BASE}/15"
    for n in range(15, 0, -1):
        r = redis.Redis.from_url(f"{REDIS_BASE}/{n}")
        if r.dbsize() == 0 and r.set(CLAIM_KEY, os.getpid(), nx=True, ex=6 * 3600):
            return f"{REDIS_BASE}/{n}"
    raise RuntimeError("no empty Redis database among 1-15 for the tests")


def _make_env() -> TestEnv:
    tmp = Path(tempfile.mkdtemp(prefix="vividly-tests-"))
    return TestEnv(f"vividly_pipeline_{uuid.uuid4().hex[:8]}", "", tmp)


TEST_ENV = _make_env()


@contextmanager
def spare_redis_db() -> Iterator[str]:
    """Another empty Redis db for the test's own broker (a worker no other test's
    messages reach), emptied afterwards."""
    url = _claim_redis_db()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()


def configure_test_env() -> None:
    """Point this process's (and its worker children's) settings at scratch resources."""
    global TEST_ENV
    if TEST_ENV.redis_url:
        return
    TEST_ENV = TestEnv(TEST_ENV.database, _claim_redis_db(), TEST_ENV.tmp)
    fake = TEST_ENV.tmp / "fake"
    fake.mkdir()
    os.environ.update(
        DATABASE_URL=asyncpg_url(TEST_ENV.database),
        REDIS_URL=TEST_ENV.redis_url,
        STORAGE_URL=f"file://{TEST_ENV.tmp / 'storage'}",
        ARCHIVE_URL=f"file://{TEST_ENV.tmp / 'archive'}",
        WORKDIR=str(TEST_ENV.tmp / "work"),
        SCRATCH_DIR=str(TEST_ENV.tmp / "scratch"),
        PROVIDER_FACTORY="tests.fakes:build",
        VIVIDLY_FAKE_DIR=str(fake),
        RETRY_BACKOFF_BASE_SECONDS="0.2",
        RETRY_BACKOFF_MAX_SECONDS="1",
        # Short leases and sweeps, so fault scenarios recover in seconds in CI; the
        # full-length timings run from bench/reliability.py.
        LEASE_SECONDS="3",
        WATCHDOG_PERIOD_SECONDS="2",
        WATCHDOG_LOST_AFTER_SECONDS="8",
        LOG_JSON="true",
    )
    import atexit

    atexit.register(_cleanup_env)


def _cleanup_env() -> None:
    try:
        r = redis.Redis.from_url(TEST_ENV.redis_url, socket_connect_timeout=1)
        if r.get(CLAIM_KEY) == str(os.getpid()).encode():
            r.flushdb()
    except redis.exceptions.ConnectionError:
        pass
    shutil.rmtree(TEST_ENV.tmp, ignore_errors=True)


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll until predicate() is truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """`celery worker` in a subprocess (its own process group); stdout+stderr go to
    `log_path`. `env` overrides settings for this worker only."""

    # Its Prometheus endpoint: each worker gets a free port and its own multiprocess dir.
    metrics_url = ""

    def __init__(self, concurrency: int, queues: str, env: dict[str, str] | None = None) -> None:
        self.concurrency, self.queues, self.env = concurrency, queues, dict(env or {})
        self.local: LocalWorker | None = None
        self.log_path = TEST_ENV.tmp / "unused.log"
        self.name = ""
        self.starts = 0
        self.logs: list[Path] = []  # one per launch

    @classmethod
    @contextmanager
    def start(
        cls,
        concurrency: int = 2,
        queues: str = "watchdog,video,audio,script,nlu,maintenance,bulk",
        env: dict[str, str] | None = None,
    ) -> Iterator[WorkerProcess]:
        worker = cls(concurrency, queues, env)
        try:
            worker.launch()
            yield worker
        finally:
            worker.stop()

    def launch(self) -> None:
        tag = uuid.uuid4().hex[:6]
        metrics_port = free_port()
        metrics_dir = Path(tempfile.mkdtemp(prefix="metrics-", dir=TEST_ENV.tmp))
        self.local = LocalWorker(
            TEST_ENV.tmp / f"worker-{tag}.log",
            queues=self.queues.split(","),
            concurrency=self.concurrency,
            cwd=REPO,
            name_prefix="test",
            env={
                **os.environ,
                "METRICS_PORT": str(metrics_port),
                "METRICS_ADDR": "127.0.0.1",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                **self.env,
            },
        )
        self.log_path, self.name = self.local.log_path, self.local.name
        self.logs.append(self.log_path)
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.local.start()
        self.starts += 1

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.local.proc if self.local else None

    def alive(self) -> bool:
        return self.local is not None and self.local.alive()

    def children(self) -> list[int]:
        return self.local.children() if self.local else []

    def voice_process(self) -> int | None:
        return self.local.voice_process() if self.local else None

    def signal_all(self, sig: signal.Signals) -> None:
        if self.local:
            self.local.signal_all(sig)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, event: str) -> list[dict[str, object]]:
        """The JSON log lines with this event, across every launch of this worker."""
        import json

        found = []
        for path in self.logs:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{") and f'"{event}"' in line:
                    entry = json.loads(line)
                    if entry.get("event") == event:
                        found.append(entry)
        return found

    def kill(self) -> None:
        if self.local:
            self.local.kill()

    def stop(self) -> None:
        if self.local:
            self.local.stop()

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop this worker for a while (e.g. for a test that runs its own cluster)."""
        self.stop()
        try:
            yield
        finally:
            self.launch()


class BeatProcess:
    """`vividly beat` (RedBeat, resilient) in a subprocess."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        tag = uuid.uuid4().hex[:6]
        self.log_path = TEST_ENV.tmp / f"beat-{tag}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "beat",
                 "--schedule", str(self.log_path) + ".db"],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(lambda: b"Acquired" in self.log_path.read_bytes() or self.proc.poll(), 30)
        if self.proc.poll() is not None:
            raise RuntimeError(f"beat exited: {self.log_path.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            stop_group(self.proc)


async def run_all(ctx: Any, sent: list[Any]) -> list[str]:
    """What the workers would do with the tasks sent, one delivery at a time, in this
    process (the stage runner, no Celery); the stages run, in order."""
    from db.requests import Lease
    from pipeline.runner import run_stage
    from pipeline.stages import SPECS

    stages = []
    while sent:
        d = sent.pop(0)
        stages.append(str(d.stage))
        sent += await run_stage(SPECS[d.stage], ctx, d.request_id, Lease(str(uuid.uuid4()), 0))
    return stages
