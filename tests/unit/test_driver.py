"""How db/driver.py numbers a plain-SQL statement's `:name` parameters for asyncpg."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from db.driver import Sql


def test_each_name_is_one_numbered_parameter_in_order_of_first_use() -> None:
    sql = Sql("UPDATE t SET a = :to WHERE id = :id AND b = :frm AND c = (SELECT :id)")
    assert sql.sql == "UPDATE t SET a = $1 WHERE id = $2 AND b = $3 AND c = (SELECT $2)"
    assert sql.names == ("to", "id", "frm")


def test_casts_and_literals_with_colons_are_left_alone() -> None:
    sql = Sql("SELECT status::text, '{history}', x->>'k' FROM t WHERE id = :id")
    assert sql.sql == "SELECT status::text, '{history}', x->>'k' FROM t WHERE id = $1"
    assert sql.names == ("id",)


def test_a_statement_without_parameters_is_unchanged() -> None:
    assert Sql("SELECT 1").sql == "SELECT 1"
    assert Sql("SELECT 1").names == ()


@given(st.lists(st.sampled_from(["id", "to", "frm", "lease", "x_stage"]), min_size=1))
def test_every_occurrence_maps_back_to_its_name(names: list[str]) -> None:
    sql = Sql(" AND ".join(f"c{i} = :{n}" for i, n in enumerate(names)))
    numbered = [part.split(" = $")[1] for part in sql.sql.split(" AND ")]
    assert [sql.names[int(n) - 1] for n in numbered] == names
    assert len(set(sql.names)) == len(sql.names)
