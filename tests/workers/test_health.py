"""Liveness and readiness on the worker's metrics port, and `vividly doctor`, against the
real services and against ones that are missing or behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

from db import migrate
from tests.support import asyncpg_url, free_port, scratch_database


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_worker_is_live_and_ready(worker) -> None:
    base = worker.metrics_url.removesuffix("/metrics")
    assert get(f"{base}/healthz") == (200, {"status": "live"})
    code, body = get(f"{base}/readyz")
    assert code == 200 and body["status"] == "ready", body
    assert [c["name"] for c in body["checks"]] == ["database", "broker", "storage"]
    assert all(c["ok"] for c in body["checks"])
    # /metrics is still served beside them.
    with urllib.request.urlopen(worker.metrics_url, timeout=20) as r:
        assert b"vividly_" in r.read()


def doctor(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "doctor"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_says_all_is_well(pipeline_db: str) -> None:
    result = doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.split()[0] == "ok" for line in lines)


def test_doctor_names_what_is_wrong_in_one_line_each() -> None:
    with scratch_database() as name:
        url = asyncpg_url(name)
        migrate.upgrade(url)
        migrate.downgrade(url, "006")
        result = doctor(DATABASE_URL=url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    by_name = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert by_name["database"].split()[0] == "FAIL"
    says = f"schema at revision 006, head is {migrate.head_revision()}: run `vividly db upgrade`"
    assert says in by_name["database"]
    assert by_name["broker"].split()[0] == "FAIL" and "unreachable" in by_name["broker"]
    assert by_name["storage"].split()[0] == "ok"
    # No password or URL in what it prints.
    assert "redis://" not in result.stdout and "postgresql" not in result.stdout
