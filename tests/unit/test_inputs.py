"""The API's input rules: refusals name the problem, never the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import RequestError
from pipeline.inputs import checked_id, normalised, student_text

SECRET = "maria.lopez"


@pytest.mark.parametrize(
    "value, problem",
    [
        (f"{SECRET}\x00 gravity", "NUL"),
        (f"{SECRET}\x1b[31m gravity", "control character (U+001B)"),
        (f"{SECRET}\x85 gravity", "control character (U+0085)"),
        (f"{SECRET} \ud800 gravity", "lone surrogate"),
        (f"{SECRET} gravity".encode() + b"\xff\xfe", "not valid UTF-8"),
        (12, "must be text"),
        ("   \u200b\u200d  ", "empty"),
        (SECRET * 300, "characters long"),
    ],
)
def test_unsafe_text_is_refused_without_quoting_it(value: object, problem: str) -> None:
    with pytest.raises(RequestError) as e:
        student_text(value, "query", 2000)
    assert problem in str(e.value) and "query" in str(e.value)
    assert SECRET not in str(e.value)


def test_ordinary_whitespace_is_kept_inside() -> None:
    assert student_text("  why\tdo\nmagnets\r\nattract?  ", "query", 100) == (
        "why\tdo\nmagnets\r\nattract?"
    )


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("ｅｘｐｌａｉｎ ｇｒａｖｉｔｙ", "explain gravity"),  # fullwidth
        ("ex\u200bplain gra\u200dvity", "explain gravity"),  # zero-width
        ("\u202eytivarg\u202c explain", "ytivarg explain"),  # bidi override dropped
        ("\ufeffwhat is ﬁssion", "what is fission"),  # BOM, ligature
        ("x² + y²", "x2 + y2"),
    ],
)
def test_queries_are_normalised(raw: str, clean: str) -> None:
    assert normalised(raw) == clean


def test_personal_details_are_redacted_before_storing() -> None:
    assert student_text("explain torque, I'm maria@school.org", "query", 100) == (
        "explain torque, I'm [email]"
    )


@pytest.mark.parametrize("value", ["user_demo_student_1", "5d0c1e0e-3b7a-4c1f-9d1e-7a1b2c3d4e5f"])
def test_ids_that_are_plain_tokens_pass(value: str) -> None:
    assert checked_id(value, "request id") == value


@pytest.mark.parametrize(
    "value", ["", "a b", "x'; DROP TABLE users; --", "id\x00", "ｉｄ", "a" * 101, None, 7]
)
def test_other_ids_are_refused(value: object) -> None:
    with pytest.raises(RequestError, match="request id"):
        checked_id(value, "request id")


@given(st.text(max_size=300))
def test_any_text_is_refused_cleanly_or_comes_back_clean(value: str) -> None:
    try:
        text = student_text(value, "query", 2000)
    except RequestError as e:
        assert value.strip() == "" or value not in str(e)
        return
    text.encode("utf-8")  # never raises: no lone surrogate survives
    assert "\x00" not in text and text == text.strip() and text
