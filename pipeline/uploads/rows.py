"""The student CSV: parsing and row rules, pure (no database, no storage). The format is
described in pipeline/uploads/__init__.py. Error texts never quote a value."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

REQUIRED_COLUMNS = ("email", "first_name", "last_name", "grade_level")
OPTIONAL_COLUMNS = ("student_id", "class_id")
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path, below the column's 255
MAX_LOCAL_PART_CHARS = 64
MAX_NAME_CHARS = 100  # users.first_name / last_name
MAX_ID_CHARS = 50  # users.student_id, classes.id
GRADE_LEVELS = range(9, 13)  # high school, as classes.grade_level's CHECK

_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_GRADE = re.compile(r"^[0-9]{1,2}$")
_FORMULA_STARTS = frozenset("=+-@")


@dataclass(frozen=True)
class StudentRow:
    row: int
    email: str
    first_name: str
    last_name: str
    grade_level: int
    student_id: str | None
    class_id: str | None


@dataclass(frozen=True)
class RowError:
    row: int
    error: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "error": self.error}


class UnusableFile(Exception):
    """The file cannot be read as a student CSV."""


# ---- parsing (pure) ----------------------------------------------------------------------


def parse_csv(data: bytes) -> list[StudentRow | RowError]:
    """The file's data rows, each either checked and normalised or a row error.
    Raises UnusableFile when the file as a whole cannot be used."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UnusableFile(
            f"the file is not UTF-8 text (invalid byte at offset {e.start}); "
            "save it as 'CSV UTF-8' and upload it again"
        ) from None
    if not text.strip():
        raise UnusableFile("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as e:
        raise UnusableFile(f"the header line is not valid CSV ({e})") from None
    columns = _columns(header)
    width = len(header)
    out: list[StudentRow | RowError] = []
    n = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            n += 1
            out.append(RowError(n, _csv_error(e)))
            continue
        n += 1
        if not any(f.strip() for f in fields):
            continue
        out.append(check_row(n, fields, columns, width))
    if not out:
        raise UnusableFile("the file has a header but no data rows")
    return out


def _columns(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if not key:
            continue
        if key in index:
            raise UnusableFile(f"the header names column {key!r} twice")
        index[key] = i
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise UnusableFile(
            f"the header lacks the required column(s) {', '.join(missing)}; the first line "
            f"must name the columns: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)} "
            "(the last two optional)"
        )
    return index


def _csv_error(e: csv.Error) -> str:
    # The csv module's messages are fixed texts: they never quote the data.
    if "unexpected end of data" in str(e):
        return "malformed CSV: a quote is never closed, so the rest of the file was unreadable"
    return f"malformed CSV: {e}"


def check_row(
    n: int, fields: list[str], columns: dict[str, int], width: int
) -> StudentRow | RowError:
    """One data record: the first problem found, or the normalised row."""
    if len(fields) < width or any(f.strip() for f in fields[width:]):
        return RowError(n, f"expected {width} fields, found {len(fields)}")

    def get(column: str) -> str:
        i = columns.get(column)
        return fields[i].strip() if i is not None else ""

    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        if _has_control(get(column)):
            return RowError(n, f"{column} contains a line break or control character")

    email = get("email").lower()
    problem = _email_problem(email)
    if problem:
        return RowError(n, problem)
    first, last = get("first_name"), get("last_name")
    for column, value in (("first_name", first), ("last_name", last)):
        problem = _name_problem(column, value)
        if problem:
            return RowError(n, problem)
    grade = get("grade_level")
    if not grade:
        return RowError(n, "grade_level is missing")
    if not _GRADE.match(grade) or int(grade) not in GRADE_LEVELS:
        return RowError(n, "grade_level must be a whole number from 9 to 12")
    district_id = get("student_id")
    if len(district_id) > MAX_ID_CHARS:
        return RowError(n, f"student_id is longer than {MAX_ID_CHARS} characters")
    class_id = get("class_id")
    if len(class_id) > MAX_ID_CHARS:
        return RowError(n, "unknown class")
    return StudentRow(
        row=n,
        email=email,
        first_name=first,
        last_name=last,
        grade_level=int(grade),
        student_id=district_id or None,
        class_id=class_id or None,
    )


def _email_problem(email: str) -> str | None:
    if not email:
        return "email is missing"
    if len(email) > MAX_EMAIL_CHARS:
        return f"email is longer than {MAX_EMAIL_CHARS} characters"
    local, at, domain = email.rpartition("@")
    if (
        not at
        or len(local) > MAX_LOCAL_PART_CHARS
        or not _LOCAL_PART.match(local)
        or not _DOMAIN.match(domain)
    ):
        return "email is not a valid address"
    return None


def _name_problem(column: str, value: str) -> str | None:
    if not value:
        return f"{column} is missing"
    if len(value) > MAX_NAME_CHARS:
        return f"{column} is longer than {MAX_NAME_CHARS} characters"
    if value[0] in _FORMULA_STARTS:
        # Stored as given, it would run as a formula in a roster exported to a spreadsheet.
        return f"{column} starts with = + - or @ (a spreadsheet formula)"
    return None


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in value)
