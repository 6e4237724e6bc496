"""The provider-outage scenario at full length: 50 requests through the NLU on Gemini
(its stand-in) while it answers 500 for 30 s, with the production breaker (opens after 5
failures, for 30 s) and production backoff. Prints how many calls reached the provider
during the outage; fails if any request failed or if the calls were not bounded.

  .venv/bin/python bench/provider_outage.py [--outage 30] [--requests 50]

The CI version (tests/workers/test_provider_guard.py) runs the same test with 6 s.
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
    args = parser.parse_args()
    env = {
        **os.environ,
        "GUARD_OUTAGE_SECONDS": str(args.outage),
        "GUARD_OPEN_SECONDS": "30",
        "GUARD_FAILURES_TO_OPEN": "5",
        "GUARD_REQUESTS": str(args.requests),
        "GUARD_RETRY_BACKOFF_BASE_SECONDS": "2",
        "GUARD_RETRY_BACKOFF_MAX_SECONDS": "60",
    }
    test = (
        "tests/workers/test_provider_guard.py::test_an_outage_opens_the_breaker_and_fails_nothing"
    )
    sys.exit(
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test],
            cwd=REPO,
            env=env,
        ).returncode
    )


if __name__ == "__main__":
    main()
