"""What the engine really sends matches the JSON Schemas: rendered alerts and the tasks they make.

The contract tests elsewhere check hand-made objects; these render every kind of decision
the engine makes (alerts/render.py, alerts/inspection.py), and every alert of a small
offline detect run, and validate each against schemas/*.schema.json.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from alerts.inspection import TASK_SEVERITIES, TASK_STATUSES, TASK_TYPES, task_of
from alerts.render import render
from detectors.decisions import (
    CONCENTRATED_DEMAND,
    CRITICAL,
    FIRM,
    FIRM_ISSUE,
    GROUP_DISPUTE,
    INFO,
    ISSUE,
    MAX_EVIDENCE,
    OPEN,
    PLATFORM_TERM,
    PRODUCT,
    RESOLVED,
    TERM,
    TERM_SURGE,
    UPDATE,
    WARNING,
    Decision,
)
from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from schemas.alerts import alert_from_dict, alert_id, check
from streams.settings import from_env

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
START = 1740794400.0  # 2025-03-01T10:00:00+08:00

# (type, dimension, key, label): every subject each alert type is raised on
SUBJECTS = [
    (GROUP_DISPUTE, FIRM, "91310115MA1K3ABCD8", "上海某某健身有限公司"),
    (GROUP_DISPUTE, FIRM, "name:某某健身(浦东店)", "某某健身（浦东店）"),
    (GROUP_DISPUTE, FIRM_ISSUE, "91310115MA1K3ABCD8|退费", "上海某某健身有限公司·退费"),
    (CONCENTRATED_DEMAND, PRODUCT, "预付卡", "预付卡"),
    (CONCENTRATED_DEMAND, ISSUE, "虚假宣传", "虚假宣传"),
    (CONCENTRATED_DEMAND, TERM, "跑路", "跑路"),
    (CONCENTRATED_DEMAND, PLATFORM_TERM, "京选商城|免密支付", "京选商城·免密支付"),
    (TERM_SURGE, TERM, "勾选", "勾选"),
]


def decision(type: str, dimension: str, key: str, label: str, status: str, severity: str,
             **changes: Any) -> Decision:
    d = Decision(
        alert_id=alert_id(type, dimension, key, START), type=type, status=status, severity=severity,
        dimension=dimension, key=key, label=label, district_code="310115", window_start=START,
        window_end=START + 3 * 3600, raised_at=START + 3 * 3600, observed=14, expected=1.215, score=0.9987,
        distinct_complainants=13, ticket_ids=tuple(f"T{i:04d}" for i in range(14)), top_terms=("闭店", "退卡"),
        firms=4, amount=23_500.0, top_issue="退费")
    return dataclasses.replace(d, **changes)


VARIANTS = {  # what the engine leaves out or pushes to the limit
    "as-usual": {},
    "no-district-amount-issue-terms": {"district_code": None, "amount": 0.0, "top_issue": None, "top_terms": ()},
    "most-evidence": {"ticket_ids": tuple(f"T{i}" for i in range(MAX_EVIDENCE)), "observed": 950,
                      "distinct_complainants": 731, "amount": 1_234_567.0},
    "nothing-expected": {"expected": 0.0, "score": 1.0},
    "resolved-empty": {"observed": 0, "expected": 0.0, "score": 0.0, "ticket_ids": (), "firms": 0},
    "week-long": {"window_start": START - 7 * 86400},
}
KINDS = [
    pytest.param(subject, status, severity, id=f"{subject[0]}-{subject[1]}-{status}-{severity}")
    for subject, status, severity in itertools.product(SUBJECTS, (OPEN, UPDATE, RESOLVED), (INFO, WARNING, CRITICAL))
]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


ALERT = validator("alert.v1.schema.json")
TASK = validator("inspection_task.v1.schema.json")


def errors(v: jsonschema.Draft202012Validator, obj: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(obj)]


def assert_valid(alert: dict[str, Any]) -> dict[str, Any] | None:
    """*alert* and the task it makes (if any) match their schemas and pass check(); the task."""
    assert errors(ALERT, alert) == []
    assert check(alert_from_dict(alert)) == []
    wire = orjson.loads(orjson.dumps(alert))  # as a consumer of the topic reads it
    assert wire == alert and errors(ALERT, wire) == []
    task = task_of(alert)
    makes = (alert["type"] in TASK_TYPES and alert["severity"] in TASK_SEVERITIES
             and alert["status"] in TASK_STATUSES)
    assert (task is not None) == makes
    if task is not None:
        assert errors(TASK, task) == []
        assert errors(TASK, orjson.loads(orjson.dumps(task))) == []
    return task


@pytest.mark.parametrize(("subject", "status", "severity"), KINDS)
def test_every_kind_of_decision_renders_to_a_valid_alert_and_task(subject: tuple[str, str, str, str], status: str,
                                                                  severity: str) -> None:
    for changes in VARIANTS.values():
        assert_valid(render(decision(*subject, status, severity, **changes)))


@pytest.fixture(scope="module")
def detected() -> list[dict[str, Any]]:
    tickets, _ = generate(SimConfig(seed=5, days=9, tickets_per_day=300))  # a week to learn, then incidents
    return list(detect((orjson.dumps(t) for t in tickets), from_env({}).with_throwaway_secret(), workers=0))


def test_every_alert_of_an_offline_run_and_its_task_match_the_schemas(detected: list[dict[str, Any]]) -> None:
    tasks = [assert_valid(a) for a in detected]
    kinds = {(a["type"], a["status"]) for a in detected}
    # The run is varied enough to mean something: disputes that make tasks, demands, surges, endings.
    assert {(GROUP_DISPUTE, OPEN), (GROUP_DISPUTE, UPDATE), (GROUP_DISPUTE, RESOLVED), (CONCENTRATED_DEMAND, OPEN),
            (TERM_SURGE, OPEN)} <= kinds
    assert any(t is not None for t in tasks)
    assert {a["severity"] for a in detected} == {INFO, WARNING, CRITICAL}


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, {"amount_total": 23500.0, "firms": 4, "top_issue": "退费"}),
    ({"dimension": FIRM, "firms": 0}, {"amount_total": 23500.0, "firms": 1, "top_issue": "退费"}),  # a firm's own
    ({"dimension": FIRM_ISSUE, "firms": 0, "top_issue": None}, {"amount_total": 23500.0, "firms": 1}),
    ({"amount": 0.1 + 0.2, "firms": 0}, {"amount_total": 0.3, "firms": 0, "top_issue": "退费"}),  # to the fen
], ids=["demand", "firm", "firm-issue-no-issue", "amount-rounded"])
def test_rendered_alerts_carry_the_optional_v1_fields(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    d = decision(CONCENTRATED_DEMAND, PRODUCT, "预付卡", "预付卡", OPEN, WARNING)
    alert = render(dataclasses.replace(d, **changes))
    assert {k: alert[k] for k in ("amount_total", "firms", "top_issue") if k in alert} == expected
    assert_valid(alert)
