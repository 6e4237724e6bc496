"""`vividly db upgrade|downgrade|current` and `vividly seed`."""

from __future__ import annotations

import typer

from pipeline.settings import get_settings
from workers.cli.common import app, clear_errors, db_app, out, run


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Migrate the database up to REVISION (default: head); creates the database if missing."""
    from db import migrate

    url = get_settings().database_url
    clear_errors(lambda: migrate.upgrade(url, revision))
    out.print(f"database at revision {run(lambda: migrate.current_revision(url))}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument("-1")) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' removes everything)."""
    from db import migrate

    url = get_settings().database_url
    clear_errors(lambda: migrate.downgrade(url, revision))
    out.print(f"database at revision {run(lambda: migrate.current_revision(url))}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision ('none' when unmigrated)."""
    from db import migrate

    rev = run(lambda: migrate.current_revision(get_settings().database_url))
    out.print(rev or "none")


@app.command("seed")
def seed_command(
    catalog_only: bool = typer.Option(
        False,
        "--catalog-only",
        help="Load the shipped topics and interests only into an empty catalog; never "
        "update it, never create the demo school (what a deployment runs at each start).",
    ),
) -> None:
    """Load the topic catalog, interests and a demo school (idempotent)."""
    from db import migrate
    from db.seed import seed_database

    url = get_settings().database_url

    async def go() -> None:
        await migrate.require_schema(url)
        report = await seed_database(url, catalog_only=catalog_only)
        details = ", ".join(f"{k} {v}" for k, v in report.written.items())
        out.print(f"seeded: {report.total} rows written ({details})")

    run(go)
