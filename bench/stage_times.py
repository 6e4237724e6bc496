"""Time of each stage, in this process (no Celery, no broker): the runner and stages on a
scratch database with the instant speech/video stand-ins, one request at a time.

    .venv/bin/python bench/stage_times.py [--requests 300] [--repo PATH]

`--repo` runs another checkout's code (e.g. a `git worktree` of an older commit) with
this virtualenv, for a before/after comparison in one sitting. Prints each stage's
median and mean milliseconds per delivery (the first 20 requests are warm-up), the CPU
this process spent on it (PostgreSQL's is not counted), and the statements each delivery
sends to PostgreSQL (a transaction's BEGIN and COMMIT included).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
WARM_UP = 20
# Not in /tmp: see BENCH_DIR in pipeline_bench.py.
BENCH_DIR = Path(
    os.environ.get("BENCH_DIR") or Path(__file__).resolve().parents[1] / "var" / "bench"
)


def count_statements(engine: Any) -> list[int]:
    """A one-item counter of the round trips to PostgreSQL: statements sent through
    SQLAlchemy, statements asyncpg sends itself (db/driver.py), and every BEGIN and
    COMMIT (asyncpg sends those for either; an autocommit statement has none)."""
    import asyncpg
    from sqlalchemy import event

    sent = [0]

    def statement(*_: Any) -> None:
        sent[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    execute, execute_with_args = asyncpg.Connection.execute, asyncpg.Connection._execute

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # with arguments it goes through _execute, counted there
            sent[0] += 1
        return await execute(self, query, *args, **kw)

    async def counted_execute_with_args(self: Any, *args: Any, **kw: Any) -> Any:
        sent[0] += 1
        return await execute_with_args(self, *args, **kw)

    asyncpg.Connection.execute = counted_execute  # type: ignore[method-assign]
    asyncpg.Connection._execute = counted_execute_with_args  # type: ignore[method-assign]
    return sent


async def measure(
    requests: int, dbname: str
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    import asyncpg
    import structlog

    from db.requests import Lease
    from db.session import create_engine
    from pipeline.api import PipelineAPI
    from pipeline.context import Context
    from pipeline.providers.factory import build_providers
    from pipeline.runner import Dispatch, run_stage
    from pipeline.scratch import scratch_root
    from pipeline.settings import get_settings
    from pipeline.stages import SPECS

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    settings = get_settings()
    engine = create_engine(settings.database_url)
    sent_statements = count_statements(engine)
    ctx = Context(settings, engine, build_providers(settings), scratch_root(settings))
    conn = await asyncpg.connect(f"{PG}/{dbname}")
    pairs = await conn.fetch(
        "SELECT t.title, i.id AS interest FROM topics t CROSS JOIN interests i "
        "WHERE t.depth >= 2 AND NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) "
        "ORDER BY i.display_order, t.id LIMIT $1",
        requests,
    )
    await conn.close()
    sent: list[Dispatch] = []
    api = PipelineAPI(ctx.engine, sent.append)
    times: dict[str, list[float]] = collections.defaultdict(list)
    statements: dict[str, list[int]] = collections.defaultdict(list)
    cpu_times: dict[str, list[float]] = collections.defaultdict(list)
    for p in pairs:
        await api.submit_request("user_demo_student_1", f"explain {p['title']}", p["interest"])
        while sent:
            d = sent.pop(0)
            before, started, cpu = sent_statements[0], time.perf_counter(), time.process_time()
            sent += await run_stage(SPECS[d.stage], ctx, d.request_id, Lease(uuid.uuid4().hex, 0))
            times[str(d.stage)].append((time.perf_counter() - started) * 1000)
            cpu_times[str(d.stage)].append((time.process_time() - cpu) * 1000)
            statements[str(d.stage)].append(sent_statements[0] - before)
    await engine.dispose()
    return times, cpu_times, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    repo = args.repo.resolve()
    sys.path.insert(0, str(repo))
    os.chdir(repo)
    dbname = f"vividly_stages_{uuid.uuid4().hex[:8]}"
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="vividly-stages-", dir=BENCH_DIR))
    os.environ.update(
        DATABASE_URL=f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{dbname}",
        STORAGE_URL=f"file://{workdir / 'storage'}",
        ARCHIVE_URL=f"file://{workdir / 'archive'}",
        WORKDIR=str(workdir),
        PROVIDER_FACTORY="pipeline.providers.instant:build_instant",
    )
    from db import migrate
    from db.seed import seed_database

    migrate.upgrade(os.environ["DATABASE_URL"])
    asyncio.run(seed_database(os.environ["DATABASE_URL"]))
    try:
        times, cpu_times, statements = asyncio.run(measure(args.requests, dbname))
    finally:
        drop = f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'
        subprocess.run(["psql", f"{PG}/postgres", "-qc", drop], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{repo}: {args.requests} requests, one at a time, in process")
    total, total_cpu, round_trips = 0.0, 0.0, 0
    for stage, values in times.items():
        kept = values[WARM_UP:]
        median, mean = statistics.median(kept), statistics.mean(kept)
        cpu = statistics.median(cpu_times[stage][WARM_UP:])
        counts = statements[stage][WARM_UP:]
        most = statistics.mode(counts)
        total, total_cpu, round_trips = total + median, total_cpu + cpu, round_trips + most
        print(
            f"  {stage:12} median {median:6.2f} ms   mean {mean:6.2f} ms   CPU {cpu:5.2f} ms"
            f"   statements {most} (mostly; {min(counts)}-{max(counts)})"
        )
    print(
        f"  {'sum':12} median {total:6.2f} ms, CPU {total_cpu:.2f} ms (this process, all its"
        f" threads), {round_trips} statements per request"
    )


if __name__ == "__main__":
    main()
