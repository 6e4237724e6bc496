"""The `vividly` commands that later issues and ops rely on, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.workers.helpers import fresh_topic

pytestmark = pytest.mark.usefixtures("fakes")


def vividly(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status(request_id: str) -> dict:
    result = vividly("status", request_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_submit_wait_then_status_json() -> None:
    topic_id, query = fresh_topic()
    result = vividly("submit", "--student", "user_demo_student_3", "--wait", query)
    assert result.returncode == 0, result.stderr
    request_id = result.stdout.strip().splitlines()[-1]
    assert request_id.startswith("req_")
    view = status(request_id)
    for field in (
        "id",
        "status",
        "topic_id",
        "interest_id",
        "style",
        "cache_hit",
        "generated_content_id",
        "error_message",
        "retry_count",
        "content_type",
        "script_url",
        "audio_url",
        "video_url",
        "thumbnail_url",
    ):
        assert field in view, field
    assert view["status"] == "completed" and view["topic_id"] == topic_id
    assert view["interest_id"] == "int_video_games"  # student 3's rank-1 interest
    assert view["content_type"] == "vivid_learning"
    assert view["video_url"].endswith("/video.mp4")


def test_submit_with_interest_and_style() -> None:
    _, query = fresh_topic()
    result = vividly(
        "submit",
        "--student",
        "user_demo_student_1",
        "--interest",
        "int_cooking",
        "--style",
        "simpler",
        "--wait",
        query,
    )
    assert result.returncode == 0, result.stderr
    view = status(result.stdout.strip().splitlines()[-1])
    assert (view["interest_id"], view["style"], view["status"]) == (
        "int_cooking",
        "simpler",
        "completed",
    )


def test_clarify_and_retry_from_the_command_line() -> None:
    result = vividly("submit", "--student", "user_demo_student_1", "--wait", "atoms")
    request_id = result.stdout.strip().splitlines()[-1]
    view = status(request_id)
    assert view["status"] == "needs_clarification"
    chosen = view["clarification"]["options"][0]["topic_id"]
    assert vividly("clarify", request_id, "--topic", chosen).returncode == 0

    again = vividly("clarify", request_id, "--topic", chosen)
    assert again.returncode == 1 and "not waiting for a clarification" in again.stderr

    retry = vividly("retry", request_id)
    assert retry.returncode == 1 and "only failed requests can be retried" in retry.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit", "--student", "user_nobody", "newton"], "Unknown student 'user_nobody'"),
        (["submit", "--student", "user_demo_student_1", ""], "The query is empty"),
        (["status", "req_missing"], "No request 'req_missing'"),
        (["clarify", "req_missing", "--topic", "topic_phys"], "No request 'req_missing'"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = vividly(*args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


async def test_failed_lists_by_stage_and_retry_by_filter(api) -> None:
    from tests import fakes
    from tests.workers.helpers import settle

    fakes.set_failure("script", "permanent")
    queries = [fresh_topic()[1] + " quibblewick" for _ in range(2)]
    ids = [await api.submit_request("user_demo_student_1", q) for q in queries]
    for rid in ids:
        assert (await settle(rid))["status"] == "failed"

    listing = vividly("failed", "--stage", "script", "--since", "1h", "--ids")
    assert listing.returncode == 0, listing.stderr
    assert "script" in listing.stdout and "permanent" in listing.stdout
    assert all(rid in listing.stdout for rid in ids)
    assert "quibblewick" not in listing.stdout  # no student text

    fakes.set_failure("script", None)
    retried = vividly("retry", "--stage", "script", "--since", "1h")
    assert retried.returncode == 0, retried.stderr
    assert all(f"{rid} retrying from script" in retried.stdout for rid in ids)
    for rid in ids:
        assert (await settle(rid, {"completed", "failed"}))["status"] == "completed"

    nothing = vividly("retry")
    assert nothing.returncode == 2 and "give a request id" in nothing.stderr


async def test_cache_purge_takes_a_lesson_out_so_the_next_request_regenerates(api) -> None:
    from tests import fakes
    from tests.workers.helpers import content, scalar, settle

    topic_id, query = fresh_topic()
    first = await settle(await api.submit_request("user_demo_student_1", query))
    assert first["status"] == "completed" and fakes.calls("script") == 1

    refused = vividly("cache", "purge")
    assert refused.returncode == 1 and "at least one of" in refused.stderr
    purged = vividly("cache", "purge", "--topic", topic_id)
    assert purged.returncode == 0 and "1 lesson(s) taken out" in purged.stdout, purged.stderr
    old = content(first["generated_content_id"])
    assert old["cache_key"] == f"retired:{old['id']}"  # the row stays, out of the cache
    assert (
        scalar(
            "SELECT count(*) FROM audit_logs WHERE action = 'cache.purge' AND metadata->'ids' ? %s",
            old["id"],
        )
        == 1
    )

    again = await settle(await api.submit_request("user_demo_student_1", query))
    assert again["status"] == "completed", again["error_message"]
    assert again["cache_hit"] is False
    assert again["generated_content_id"] != old["id"] and fakes.calls("script") == 2
