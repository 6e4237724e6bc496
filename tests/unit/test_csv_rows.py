"""The bulk upload's CSV row rules (pipeline/uploads/rows.py), with no database."""

from __future__ import annotations

import pytest

from pipeline.uploads.rows import RowError, StudentRow, check_row, parse_csv

HEADER = "email,first_name,last_name,grade_level,student_id,class_id"


def csv_text(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


COLUMNS = {c: i for i, c in enumerate(HEADER.split(","))}


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("ada@school.example", True),
        ("a.b+c@sub.school.example", True),
        ("o'neil@school.example", True),
        ("no-at-sign.example", False),
        ("two@@school.example", False),
        ("a@b", False),
        ("a b@school.example", False),
        (".dot@school.example", False),
        ("dot.@school.example", False),
        ("a@-bad.example", False),
        ("x" * 65 + "@school.example", False),
        ("x@" + "d" * 250 + ".com", False),
    ],
)
def test_email_rules(email: str, ok: bool) -> None:
    row = check_row(1, [email, "A", "B", "10", "", ""], COLUMNS, len(COLUMNS))
    assert isinstance(row, StudentRow) is ok, row


def test_names_with_control_characters_are_refused() -> None:
    row = check_row(3, ["a@school.example", "A\nB", "C", "10", "", ""], COLUMNS, 6)
    assert row == RowError(3, "first_name contains a line break or control character")


def test_row_numbers_count_records_not_lines() -> None:
    content = csv_text('a@school.example,"Multi\nLine",X,10,,', "b@school.example,B,B,7,,")
    rows = parse_csv(content.encode())
    assert rows[0] == RowError(1, "first_name contains a line break or control character")
    assert rows[1] == RowError(2, "grade_level must be a whole number from 9 to 12")


@pytest.mark.parametrize("column", ["email", "first_name", "last_name", "student_id", "class_id"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x85", "\n"])
def test_a_control_character_in_any_field_is_a_row_error(column: str, char: str) -> None:
    fields = ["ada@school.example", "Ada", "Lovelace", "10", "S-1", "class_demo_physics"]
    fields[COLUMNS[column]] = fields[COLUMNS[column]][:2] + char + fields[COLUMNS[column]][2:]
    row = check_row(1, fields, COLUMNS, len(COLUMNS))
    assert row == RowError(1, f"{column} contains a line break or control character")


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_names_that_a_spreadsheet_would_run_are_row_errors(name: str) -> None:
    row = check_row(1, ["ada@school.example", name, "B", "10", "", ""], COLUMNS, len(COLUMNS))
    assert row == RowError(1, "first_name starts with = + - or @ (a spreadsheet formula)")
    assert "HYPERLINK" not in row.error


def test_names_with_inner_hyphens_and_apostrophes_are_fine() -> None:
    row = check_row(1, ["ada@school.example", "Anne-Marie", "O'Neil", "10", "", ""], COLUMNS, 6)
    assert isinstance(row, StudentRow)
