"""Fixtures shared by all tests; the helpers behind them live in tests/support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import migrate, run_seed, scratch_database


@pytest.fixture
def empty_db() -> Iterator[str]:
    """The name of a fresh, empty database, dropped after the test."""
    with scratch_database() as name:
        yield name


@pytest.fixture
def migrated_db() -> Iterator[str]:
    """A fresh database migrated to head (no seed data)."""
    with scratch_database() as name:
        migrate(name)
        yield name


@pytest.fixture(scope="session")
def seeded_db() -> Iterator[str]:
    """One database for the session, migrated and seeded; tests add their own rows."""
    with scratch_database("vividly_seeded") as name:
        migrate(name)
        run_seed(name)
        yield name
