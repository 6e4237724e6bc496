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
from typing import TypeVar

import psycopg
import redis

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

    from db.seed import seed
    from db.session import create_engine, create_sessionmaker, unit_of_work

    async def go() -> None:
        engine = create_engine(asyncpg_url(dbname))
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                await seed(session)
        finally:
            await engine.dispose()

    asyncio.run(go())


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
        WORKDIR=str(TEST_ENV.tmp / "work"),
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


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process group (resumed first: a paused process cannot stop), SIGKILL it
    if it has not gone within 20 s."""
    os.killpg(proc.pid, signal.SIGCONT)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class WorkerProcess:
    """`celery worker` in a subprocess (its own process group); stdout+stderr go to
    `log_path`. `env` overrides settings for this worker only."""

    # Its Prometheus endpoint: each worker gets a free port and its own multiprocess dir.
    metrics_url = ""

    def __init__(self, concurrency: int, queues: str, env: dict[str, str] | None = None) -> None:
        self.concurrency, self.queues, self.env = concurrency, queues, dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
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
        self.log_path = TEST_ENV.tmp / f"worker-{tag}.log"
        self.logs.append(self.log_path)
        self.name = f"test-{tag}@{os.uname().nodename}"
        metrics_port = free_port()
        metrics_dir = Path(tempfile.mkdtemp(prefix="metrics-", dir=TEST_ENV.tmp))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "workers.app", "worker",
                    "-P", "prefork", "-c", str(self.concurrency), "-Q", self.queues,
                    "--without-gossip", "--without-mingle", "-l", "INFO", "-n", self.name,
                ],
                cwd=REPO,
                env={
                    **os.environ,
                    "METRICS_PORT": str(metrics_port),
                    "METRICS_ADDR": "127.0.0.1",
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                    **self.env,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        proc = self.proc
        wait_for(lambda: b"ready." in self.log_path.read_bytes() or proc.poll() is not None, 60)
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {self.log_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """The pids of the pool children (prefork), from /proc."""
        if not self.alive():
            return []
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(x) for x in path.read_text().split()]
        except OSError:
            return []

    def signal_all(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

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
        """SIGKILL the whole worker: main process and pool children, no goodbye."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            stop_group(self.proc)

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
