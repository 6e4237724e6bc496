"""The provider guard's scenarios at full length, against the Gemini stand-in:

- outage: 50 requests through the NLU on Gemini while it answers 500 for 30 s, with the
  production breaker (opens after 5 failures, for 30 s) and production backoff. Prints
  how many calls reached the provider during the outage; fails if any request failed or
  the calls were not bounded.
- rate: 150 requests through two worker processes under GEMINI_RATE_LIMIT=60 per
  minute. Prints the most calls the stand-in saw in any window; fails above the limit.

  .venv/bin/python bench/provider_outage.py [--scenario outage|rate|all] [--outage 30]
                                            [--requests 50]

The CI versions (tests/workers/test_provider_guard.py) run 6 s and 4 per 2 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--scenario", choices=["outage", "rate", "all"], default="all")
    args = parser.parse_args()
    env = {
        **os.environ,
        "GUARD_OUTAGE_SECONDS": str(args.outage),
        "GUARD_OPEN_SECONDS": "30",
        "GUARD_FAILURES_TO_OPEN": "5",
        "GUARD_REQUESTS": str(args.requests),
        "GUARD_RETRY_BACKOFF_BASE_SECONDS": "2",
        "GUARD_RETRY_BACKOFF_MAX_SECONDS": "60",
        "GUARD_RATE_COUNT": "60",
        "GUARD_RATE_WINDOW_SECONDS": "60",
        "GUARD_RATE_REQUESTS": "150",
    }
    tests = {
        "outage": "test_an_outage_opens_the_breaker_and_fails_nothing",
        "rate": "test_a_rate_limit_holds_across_two_workers",
    }
    chosen = list(tests.values()) if args.scenario == "all" else [tests[args.scenario]]
    path = "tests/workers/test_provider_guard.py"
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    command += [f"{path}::{test}" for test in chosen]
    sys.exit(subprocess.run(command, cwd=REPO, env=env).returncode)


if __name__ == "__main__":
    main()
