"""The ops surfaces in the repository: Prometheus alert rules (promtool check + rule unit
tests) and the Grafana dashboard (its schema, and every query parsed by promtool and
reading only metrics the workers export)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel, Field, field_validator

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "vividly-pipeline.json"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool is not installed (apt-get install prometheus); CI requires it",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is not installed"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_fire_on_what_they_watch() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_test() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tested = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
    }
    # absent() and a source going down are one-line conditions, not worth a fixture.
    assert alerts - tested == {"VividlyNoBeatEver", "VividlyMetricsSourceDown"}


class Target(BaseModel):
    refId: str = Field(pattern=r"^[A-Z]$")
    expr: str = Field(min_length=1)
    legendFormat: str
    datasource: dict[str, str]


class GridPos(BaseModel):
    h: int = Field(ge=1)
    w: int = Field(ge=1, le=24)
    x: int = Field(ge=0, le=23)
    y: int = Field(ge=0)


class Panel(BaseModel):
    id: int
    type: Literal["timeseries", "stat", "gauge", "table"]
    title: str = Field(min_length=1)
    gridPos: GridPos
    datasource: dict[str, str]
    targets: list[Target] = Field(min_length=1)

    @field_validator("gridPos")
    @classmethod
    def _fits(cls, v: GridPos) -> GridPos:
        assert v.x + v.w <= 24, "a panel is wider than the dashboard's 24 columns"
        return v


class Dashboard(BaseModel):
    uid: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str
    schemaVersion: int = Field(ge=36)
    panels: list[Panel] = Field(min_length=1)
    templating: dict[str, list[dict[str, object]]]


def dashboard() -> Dashboard:
    return Dashboard.model_validate(json.loads(DASHBOARD.read_text()))


def exported_metrics() -> set[str]:
    """The metric names workers/metrics.py defines."""
    source = (ROOT / "workers" / "metrics.py").read_text()
    return set(re.findall(r'"(vividly_[a-z_]+)"', source))


def metrics_in(expr: str) -> set[str]:
    names = set(re.findall(r"\b(vividly_[a-z_]+)", expr))
    return {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}


def test_the_dashboard_loads_and_covers_what_ops_watch() -> None:
    d = dashboard()
    assert len({p.id for p in d.panels}) == len(d.panels)
    assert d.schemaVersion >= 36
    source = {"type": "prometheus", "uid": "${datasource}"}
    for p in d.panels:
        assert p.datasource == source and p.gridPos.h >= 4
        assert all(t.datasource == source and t.legendFormat for t in p.targets)
    assert d.templating["list"][0]["type"] == "datasource"
    queried = {m for p in d.panels for t in p.targets for m in metrics_in(t.expr)}
    for needed in (
        "vividly_stage_outcomes",
        "vividly_stage_duration_seconds",
        "vividly_cache_lookups",
        "vividly_queue_depth",
        "vividly_queue_oldest_age_seconds",
        "vividly_watchdog_redispatches",
        "vividly_provider_breaker_open",
        "vividly_job_last_success_timestamp_seconds",
    ):
        assert needed in queried, needed


def test_dashboard_and_alerts_read_only_exported_metrics() -> None:
    exported = exported_metrics()
    exprs = [t.expr for p in dashboard().panels for t in p.targets]
    exprs += [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    unknown = {m for e in exprs for m in metrics_in(e)} - exported
    assert unknown == set()


@needs_promtool
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool parses PromQL when it checks rules: each query becomes a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{p.id}_{t.refId.lower()}", "expr": t.expr}
                    for p in dashboard().panels
                    for t in p.targets
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
