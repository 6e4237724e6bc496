"""Where a worker's CPU goes on the hot path: N cache misses through the whole state
machine (instant speech/video) on one prefork worker (-c 2), with py-spy recording its
pool children. Writes py-spy's raw stacks (artifacts/profile.<pid>) and prints the top frames,
with and without their callees.

    .venv/bin/python bench/profile_stages.py [--requests 400] [--out artifacts/profile.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pipeline_bench import LEAF_PAIRS, PG, STUDENT, scratch, wait_all, worker  # noqa: E402


def record(pids: list[int], out: Path, mode: str) -> list[subprocess.Popen[bytes]]:
    """py-spy on each pool child: 200 samples/s of its running threads' stacks, in raw
    format. `mode` "gil": only the thread holding the GIL (where the Python CPU goes);
    "idle": idle threads too (where a child waits: the database, the broker, its next
    task); "": running threads."""
    spy = str(Path(sys.executable).parent / "py-spy")
    return [
        subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", f"{out}.{pid}"]
            + ["--nonblocking"]
            + {"gil": ["--gil"], "idle": ["--idle"], "": []}[mode],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def top_frames(files: list[Path], most: int) -> None:
    """Print the functions holding the most samples, with and without their callees."""
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    total = 0
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():  # py-spy's blank and idle-only lines
                continue
            frames = [_name(f) for f in stack.split(";")]
            total += int(n)
            own[frames[-1]] += int(n)
            for f in set(frames):
                under[f] += int(n)
    for title, counts in (("with callees", under), ("own time", own)):
        print(f"--- {title} (% of {total} samples)")
        for name, n in counts.most_common(most):
            print(f"{100 * n / total:5.1f}%  {name}")


def _name(frame: str) -> str:
    """`fn (path/to/module.py:12)` -> `fn module/path`, site-packages and repo dropped."""
    m = re.match(r"(\S+) \((.*?):\d+\)", frame)
    if not m:
        return frame
    where = m.group(2).split("site-packages/")[-1].replace(f"{REPO}/", "")
    return f"{m.group(1)}  {where}"


async def run(n: int, env: dict[str, str], dbname: str, out: Path, mode: str) -> None:
    import asyncpg

    from db.session import create_engine
    from workers.client import pipeline_api

    engine = create_engine(env["DATABASE_URL"], pool_size=4)
    api = pipeline_api(engine)
    conn = await asyncpg.connect(f"{PG}/{dbname}")
    pairs = await conn.fetch(f"{LEAF_PAIRS} LIMIT $1", n + 1)
    with worker(env, "pipeline.providers.instant:build_instant") as w:
        first = await api.submit_request(STUDENT, "explain momentum")
        await wait_all(conn, [first], "completed", 60)
        spies = record(w.children(), out, mode)
        await asyncio.sleep(1.0)
        t0 = time.perf_counter()
        ids = [
            await api.submit_request(STUDENT, f"explain {p['title']}", interest_id=p["interest"])
            for p in pairs[1:]
        ]
        await wait_all(conn, ids, "completed", 600)
        print(f"{n} requests in {time.perf_counter() - t0:.1f} s")
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait()
    await conn.close()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "profile")
    parser.add_argument("--gil", action="store_true", help="only the GIL holder's stacks")
    parser.add_argument("--idle", action="store_true", help="waiting threads' stacks too")
    parser.add_argument("--most", type=int, default=40, help="rows of each table")
    args = parser.parse_args()
    args.out.parent.mkdir(exist_ok=True)
    for old in args.out.parent.glob(f"{args.out.name}.*"):  # an earlier run's children
        old.unlink()
    with scratch("profile") as (env, dbname):
        mode = "gil" if args.gil else "idle" if args.idle else ""
        asyncio.run(run(args.requests, env, dbname, args.out, mode))
    top_frames(sorted(args.out.parent.glob(f"{args.out.name}.*")), args.most)


if __name__ == "__main__":
    main()
