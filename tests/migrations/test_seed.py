"""`vividly seed` loads the catalog and demo school, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from db import migrate
from tests.migrations.catalog import tables_with_column
from tests.support import asyncpg_url, connect


def vividly(dbname: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": asyncpg_url(dbname)}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_contents(dbname: str) -> dict[str, list[tuple[object, ...]]]:
    with connect(dbname) as conn:
        tables = tables_with_column(conn, "id")
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in tables}


def test_seed_twice_changes_nothing(migrated_db: str) -> None:
    first = vividly(migrated_db, "seed")
    assert first.returncode == 0, first.stderr
    after_first = table_contents(migrated_db)
    second = vividly(migrated_db, "seed")
    assert second.returncode == 0, second.stderr
    assert "seeded: 0 rows written" in " ".join(second.stdout.split())
    assert table_contents(migrated_db) == after_first


def test_seed_loads_a_catalog_worth_the_name(migrated_db: str) -> None:
    assert vividly(migrated_db, "seed").returncode == 0
    with connect(migrated_db) as conn:
        topics = conn.execute(
            "SELECT id, parent_id, path, depth, subject, grade_level_min, grade_level_max "
            "FROM topics"
        ).fetchall()
        by_id = {t[0]: t for t in topics}
        assert len(topics) >= 60
        assert {t[3] for t in topics} == {0, 1, 2, 3}
        assert {t[4] for t in topics} == {
            "physics",
            "chemistry",
            "biology",
            "mathematics",
            "computer_science",
        }
        for tid, parent, path, depth, _, gmin, gmax in topics:
            assert path.count(".") == depth, tid
            if parent:
                assert path.startswith(by_id[parent][2] + "."), tid
                assert by_id[parent][3] == depth - 1, tid
            assert 9 <= gmin <= gmax <= 12, tid
        assert by_id["topic_phys_newton_3"][2] == "physics.mechanics.newtons_laws.third_law"
        assert conn.execute("SELECT count(*) FROM interests").fetchone()[0] >= 20
        ranks = conn.execute(
            "SELECT u.id, array_agg(si.rank ORDER BY si.rank) FROM users u "
            "JOIN student_interests si ON si.student_id = u.id "
            "WHERE u.role = 'student' GROUP BY u.id"
        ).fetchall()
        assert len(ranks) == 3
        assert all(r[1][0] == 1 and len(r[1]) >= 2 for r in ranks)
        enrolled = conn.execute("SELECT count(*) FROM class_students").fetchone()[0]
        assert enrolled == 3


def test_seed_without_schema_is_a_clear_error(empty_db: str) -> None:
    result = vividly(empty_db, "seed")
    assert result.returncode == 1
    assert "no Vividly schema" in result.stderr and "vividly db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_error() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"}
    for args in (["seed"], ["db", "upgrade"], ["db", "current"]):
        result = subprocess.run(
            [sys.executable, "-m", "workers.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, args
        assert "cannot reach the database" in " ".join(result.stderr.split()), result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_revision_is_a_clear_cli_error(migrated_db: str) -> None:
    for cmd in ("upgrade", "downgrade"):
        result = vividly(migrated_db, "db", cmd, "nope")
        assert result.returncode == 1
        assert "unknown revision 'nope'" in result.stderr


def test_db_current_reports_head(migrated_db: str) -> None:
    result = vividly(migrated_db, "db", "current")
    assert result.returncode == 0
    assert result.stdout.strip() == migrate.head_revision() == "008"


def test_a_deploys_seed_fills_only_an_empty_catalog_and_adds_no_demo_school(
    migrated_db: str,
) -> None:
    first = vividly(migrated_db, "seed", "--catalog-only")
    assert first.returncode == 0, first.stderr
    with connect(migrated_db) as c:
        assert c.execute("SELECT count(*) FROM topics").fetchone()[0] > 0
        assert c.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM organizations").fetchone()[0] == 0
        topic = c.execute("SELECT id FROM topics ORDER BY id LIMIT 1").fetchone()[0]
        c.execute("UPDATE topics SET title = 'Edited by curriculum staff' WHERE id = %s", (topic,))
        c.execute("DELETE FROM interests WHERE id = 'int_video_games'")
        c.commit()
    again = vividly(migrated_db, "seed", "--catalog-only")
    assert again.returncode == 0, again.stderr
    with connect(migrated_db) as c:
        title = c.execute("SELECT title FROM topics WHERE id = %s", (topic,)).fetchone()[0]
        assert title == "Edited by curriculum staff"  # the edit survived the deploy
        gone = "SELECT count(*) FROM interests WHERE id = 'int_video_games'"
        assert c.execute(gone).fetchone()[0] == 0  # nor does a removal come back
