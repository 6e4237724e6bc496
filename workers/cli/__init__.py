"""The `vividly` command line: one module per command group, all on one Typer app."""

from __future__ import annotations

from workers.cli import db, demo, ops, requests  # noqa: F401  (they register their commands)
from workers.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
