"""Reliability at full length: the fault scenarios of tests/workers/test_reliability.py
with production timings (20 s leases, a 60 s watchdog sweep, 120 s to presume a message
lost) and more requests, printing what a healthy system must never show.

  .venv/bin/python bench/reliability.py [--scenario kills|postgres|postgres-crash|redis|
                                                   pause|poison|all]
                                        [--requests 100] [--kill-seconds 60]
                                        [--pause-seconds 240]

Needs root on a machine whose PostgreSQL and Redis it may restart (this machine kind:
the env entry's python-svc page). It creates its own database and Redis db number and
removes them at the end; the services it stops are running again when it exits.
Per scenario it prints: requests, completed, failed, degraded, lost_or_stuck,
duplicate_content, the longest submit-to-terminal time, and for kills the time from the
last kill to the last request ending.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Production timings, set before any setting is read (tests/support sets short ones).
FULL_LENGTH = {
    "LEASE_SECONDS": "20",
    "WATCHDOG_PERIOD_SECONDS": "60",
    "WATCHDOG_LOST_AFTER_SECONDS": "120",
    "RETRY_BACKOFF_BASE_SECONDS": "2",
    "RETRY_BACKOFF_MAX_SECONDS": "60",
}


async def scenario(name: str, api, args) -> None:
    from tests import chaos, fakes

    fakes.reset()
    fakes.set_failure("speech", "slow 0.5")
    fakes.set_failure("video", "slow 1")
    load = chaos.Workload()
    n = args.requests
    started = time.monotonic()
    extra = ""
    if name == "kills":
        rng = random.Random(2026)
        kills: list[str] = []
        with chaos.Cluster(workers=2, concurrency=2) as cluster:
            submitting = asyncio.create_task(
                chaos.submit(api, load, n=n, dups=n // 2, spread_s=args.kill_seconds / 2)
            )
            end = time.monotonic() + args.kill_seconds
            while time.monotonic() < end:
                await asyncio.sleep(rng.uniform(1.0, 4.0))
                kills.append(cluster.kill_something(rng))
            last_kill = time.monotonic()
            await submitting
            tally = await chaos.settle_all(api, load, within=900)
            after_last_kill = time.monotonic() - last_kill
        extra = (
            f" kills={len(kills) - kills.count('none')} (children={kills.count('child')}, "
            f"workers={kills.count('worker')}) terminal_after_last_kill_s={after_last_kill:.1f}"
        )
    elif name in ("postgres", "postgres-crash", "redis"):
        with chaos.Cluster(workers=1, concurrency=2) as cluster:
            await chaos.submit(api, load, n=n, dups=n // 3)
            await asyncio.sleep(3)
            if name.startswith("postgres"):
                mode = "immediate" if name == "postgres-crash" else "fast"
                await asyncio.to_thread(chaos.restart_postgres, mode)
                await api.engine.dispose()
            else:
                await asyncio.to_thread(chaos.restart_redis)
            tally = await chaos.settle_all(api, load, within=900)
            extra = f" redispatched_lost={cluster.redispatched('lost')}"
    elif name == "pause":
        env = {"TASK_MAX_ATTEMPTS": "2"}
        with chaos.Cluster(workers=1, concurrency=2, env=env) as cluster:
            await chaos.submit(api, load, n=n, dups=n // 3)
            await asyncio.sleep(3)
            with cluster.paused_worker(cluster.workers[0]):
                await asyncio.sleep(args.pause_seconds)
            resumed = time.monotonic()
            tally = await chaos.settle_all(api, load, within=900)
            extra = (
                f" paused_s={args.pause_seconds} after_resume_s={time.monotonic() - resumed:.1f}"
                f" redispatched_dead_lease={cluster.redispatched('dead_lease')}"
            )
    elif name == "poison":
        topic_id, title, interest = chaos.free_keys(1)[0]
        fakes.set_failure("script", f"kill {topic_id} {interest}")
        with chaos.Cluster(workers=1, concurrency=2):
            rid = await api.submit_request(chaos.STUDENT, f"can you explain {title}?", interest)
            load.ids.append(rid)
            load.topic_of[rid] = topic_id
            load.submitted_at[rid] = time.monotonic()
            await chaos.submit(
                api, load, n=max(2, n // 10), dups=0, avoid_topics=frozenset({topic_id})
            )
            tally = await chaos.settle_all(api, load, within=900)
        extra = f" poison_script_deliveries={fakes.calls('script') - (len(load.ids) - 1)}"
    else:
        raise SystemExit(f"unknown scenario {name}")
    took = time.monotonic() - started
    print(f"{name:9} {tally.line()}{extra} scenario_s={took:.0f}", flush=True)
    for d in tally.details[:10]:
        print(f"          {d}")


async def main(args) -> None:
    from tests import chaos
    from tests.support import TEST_ENV, migrate, run_seed, scratch_database
    from workers.client import pipeline_api

    if not chaos.services_controllable():
        raise SystemExit("needs root and the machine's PostgreSQL and Redis")
    names = ["kills", "postgres", "postgres-crash", "redis", "pause", "poison"]
    names = names if args.scenario == "all" else [args.scenario]
    for sub in ("calls", "fail"):
        (Path(os.environ["VIVIDLY_FAKE_DIR"]) / sub).mkdir(parents=True, exist_ok=True)
    try:
        with scratch_database(name=TEST_ENV.database) as db:
            await asyncio.to_thread(migrate, db)
            await asyncio.to_thread(run_seed, db)
            from db.session import create_engine
            from pipeline.settings import get_settings

            engine = create_engine(get_settings().database_url)
            api = pipeline_api(engine)
            print(f"timings: {FULL_LENGTH}")
            for name in names:
                await scenario(name, api, args)
            await engine.dispose()
    finally:
        chaos.ensure_postgres()
        chaos.ensure_redis()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="all")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--kill-seconds", type=float, default=60)
    parser.add_argument("--pause-seconds", type=float, default=240)
    from tests.support import configure_test_env

    configure_test_env()
    os.environ.update(FULL_LENGTH)
    asyncio.run(main(parser.parse_args()))
