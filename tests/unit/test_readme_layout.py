"""The README's layout section names every module of the tree, and only modules that exist:
a newcomer reads it to find where a thing lives."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("db", "pipeline", "workers", "bench", "migrations/versions")


def layout_section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("\n## Layout\n")
    return readme[start : readme.index("\n## ", start + 1)]


def named(section: str) -> set[str]:
    """The words of the section's code spans: `db/requests.py` gives db, requests, py."""
    return {w for span in re.findall(r"`([^`]+)`", section) for w in re.split(r"[^\w]+", span)}


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name != "__init__.py" and "data" not in path.relative_to(REPO).parts:
                found.append(path)
    return found


def test_every_module_is_named_in_the_layout() -> None:
    words = named(layout_section())
    # A migration is named by its file's stem, e.g. `007_request_status_events`.
    missing = [str(p.relative_to(REPO)) for p in modules() if p.stem not in words]
    assert not missing, f"README's layout does not name: {missing}"


def test_every_file_the_layout_names_exists() -> None:
    files = {p.name for p in REPO.rglob("*.py") if ".venv" not in p.parts}
    spans = re.findall(r"`([^`]+\.py)`", layout_section())
    stale = [s for s in spans if Path(s).name not in files]
    assert not stale, f"README's layout names files that do not exist: {stale}"
