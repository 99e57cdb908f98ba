"""Inspection task contract v1: which alerts make a task, its id, and the JSON Schema file agreeing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alerts.inspection import task_id, task_of
from schemas.alerts import alert_id, rfc3339

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "inspection_task.v1.schema.json"
START = 1740794400.0  # 2025-03-01T10:00:00+08:00


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def alert(**changes: Any) -> dict[str, Any]:
    """An alert-contract-v1 event: a group dispute at a fitness club, warning."""
    a = {
        "alert_id": alert_id("group_dispute", "firm", "91310115MA1K3ABCD8", START),
        "schema_version": "1", "type": "group_dispute", "status": "open", "severity": "warning",
        "subject": {"dimension": "firm", "key": "91310115MA1K3ABCD8", "label": "上海某某健身有限公司"},
        "district_code": "310115", "window_start": rfc3339(START), "window_end": rfc3339(START + 3600),
        "raised_at": rfc3339(START + 3600), "observed": 14, "expected": 1.2, "score": 0.99,
        "distinct_complainants": 13, "ticket_ids": [f"T{i}" for i in range(14)], "top_terms": ["闭店", "退费"],
        "summary": "【群体纠纷预警·较重】“上海某某健身有限公司”（浦东新区）……建议属地市场监管所当日核实经营状况。",
    }
    a.update(changes)
    return a


def test_a_group_dispute_at_warning_makes_a_task_that_matches_the_schema(
        validator: jsonschema.Draft202012Validator) -> None:
    a = alert()
    task = task_of(a)
    assert task is not None
    assert list(validator.iter_errors(task)) == []
    assert task["alert_id"] == a["alert_id"] and task["severity"] == "warning"
    assert task["firm"] == {"key": "91310115MA1K3ABCD8", "label": "上海某某健身有限公司"}
    assert task["issue"] is None
    assert (task["district_code"], task["district_name"]) == ("310115", "浦东新区")
    assert task["ticket_ids"] == a["ticket_ids"] and task["reason"] == a["summary"]
    assert (task["observed"], task["distinct_complainants"]) == (14, 13)


def test_a_firm_issue_dispute_names_the_firm_and_the_issue(validator: jsonschema.Draft202012Validator) -> None:
    a = alert(subject={"dimension": "firm_issue", "key": "91310115MA1K3ABCD8|售后服务",
                       "label": "上海某某健身有限公司·售后服务"}, severity="critical", district_code=None)
    task = task_of(a)
    assert task is not None and list(validator.iter_errors(task)) == []
    assert task["firm"] == {"key": "91310115MA1K3ABCD8", "label": "上海某某健身有限公司"}
    assert task["issue"] == "售后服务"
    assert task["district_code"] is None and task["district_name"] is None


@pytest.mark.parametrize("changes", [
    {"severity": "info"},
    {"status": "resolved"},
    {"type": "concentrated_demand"},
    {"type": "term_surge", "severity": "critical"},
])
def test_other_alerts_make_no_task(changes: dict[str, Any]) -> None:
    assert task_of(alert(**changes)) is None


def test_the_task_id_is_one_per_episode_and_severity() -> None:
    a = alert()
    update = alert(status="update", observed=20, distinct_complainants=19)
    worse = alert(status="update", severity="critical")
    other = alert(alert_id=alert_id("group_dispute", "firm", "91310115MA1K3ABCD8", START + 86400))
    ids = [task_of(x)["task_id"] for x in (a, update, worse, other)]  # type: ignore[index]
    assert ids[0] == ids[1] == task_id(a["alert_id"], "warning")  # a repeat upserts the same task
    assert len({ids[0], ids[2], ids[3]}) == 3


def test_the_schema_refuses_what_the_contract_does_not_allow(validator: jsonschema.Draft202012Validator) -> None:
    task = task_of(alert())
    assert task is not None
    for bad in ({"severity": "info"}, {"task_id": "T-1"}, {"firm": {"key": "", "label": "x"}},
                {"reason": " "}, {"extra": 1}):
        assert list(validator.iter_errors({**task, **bad})), bad
