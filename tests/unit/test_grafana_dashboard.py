"""The chart's Grafana dashboard JSON, offline: it loads, and has the shape Grafana's
dashboard model (schemaVersion 39) needs. That PromQL names only real series is checked
against a live router in tests/integration/test_grafana_promql.py."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from tests.conftest import REPO

DASHBOARD = REPO / "helm" / "modelops" / "dashboards" / "modelops.json"
PANEL_TYPES = ["row", "timeseries", "stat", "gauge", "table", "bargauge", "text"]
DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
# The parts of Grafana's dashboard model (public/app/features/dashboard schema) that an
# import relies on; extra keys are allowed, as Grafana allows them.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "editable": {"type": "boolean"},
        "refresh": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "type"],
                        "properties": {
                            "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                            "type": {"enum": ["datasource", "query", "custom", "interval"]},
                        },
                    },
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "type": {"enum": PANEL_TYPES},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {
                            "h": {"type": "integer", "minimum": 1},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "y": {"type": "integer", "minimum": 0},
                        },
                    },
                    "datasource": DATASOURCE,
                    "targets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr"],
                            "properties": {
                                "refId": {"type": "string", "pattern": "^[A-Z]$"},
                                "expr": {"type": "string", "minLength": 1},
                                "datasource": DATASOURCE,
                            },
                        },
                    },
                },
            },
        },
    },
}


def load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_matches_grafanas_model() -> None:
    dashboard = load()
    jsonschema.validate(dashboard, SCHEMA)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']} queries nothing"
    assert len(expressions(dashboard)) >= 10


@pytest.mark.parametrize("bad", [{"panels": []}, {"uid": "has spaces"}, {"schemaVersion": "39"}])
def test_the_schema_check_rejects_broken_dashboards(bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**load(), **bad}, SCHEMA)


def test_every_variable_used_is_defined_and_brackets_balance() -> None:
    dashboard = load()
    defined = {v["name"] for v in dashboard["templating"]["list"]} | {"__rate_interval"}
    for expr in expressions(dashboard):
        used = set(re.findall(r"\$(\w+)", expr))
        assert used <= defined, expr
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), expr
