"""Inspection result contract v1: the Python check and the JSON Schema file agree on every case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from alerts.inspection import task_id
from schemas.inspection_results import Reason, Rejection, check

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "inspection_result.v1.schema.json"
AID = "ew-" + "a" * 24
GOOD = {"result_id": "R1", "schema_version": "1", "task_id": task_id(AID, "critical"), "alert_id": AID,
        "outcome": "violation", "inspected_at": "2025-03-05T15:00:00+08:00", "findings": "查实虚假宣传。",
        "office": "静安区市场监管局", "case_id": None, "penalty_amount": 12000.5, "x_extra": {"kept": True}}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != name}


CASES: list[tuple[str, dict[str, Any], Reason | None]] = [
    ("good", GOOD, None),
    ("minimal", {k: GOOD[k] for k in ("result_id", "schema_version", "task_id", "alert_id", "outcome",
                                      "inspected_at", "findings")}, None),
    ("no findings", without("findings"), Reason.MISSING_FIELD),
    ("no task", without("task_id"), Reason.MISSING_FIELD),
    ("version 2", {**GOOD, "schema_version": "2"}, Reason.WRONG_VERSION),
    ("blank findings", {**GOOD, "findings": "  "}, Reason.BAD_FIELD),
    ("numeric id", {**GOOD, "result_id": 7}, Reason.BAD_FIELD),
    ("bad task id", {**GOOD, "task_id": "it-XYZ"}, Reason.BAD_FIELD),
    ("bad outcome", {**GOOD, "outcome": "fined"}, Reason.BAD_FIELD),
    ("date only", {**GOOD, "inspected_at": "2025-03-05"}, Reason.BAD_FIELD),
    ("negative penalty", {**GOOD, "penalty_amount": -1}, Reason.BAD_FIELD),
    ("office a number", {**GOOD, "office": 3}, Reason.BAD_FIELD),
    ("findings too long", {**GOOD, "findings": "查" * 5001}, Reason.BAD_FIELD),
]


@pytest.mark.parametrize(("name", "obj", "reason"), CASES, ids=[c[0] for c in CASES])
def test_check_and_schema_agree(validator: jsonschema.Draft202012Validator, name: str, obj: dict[str, Any],
                                reason: Reason | None) -> None:
    got = check(orjson.dumps(obj))
    schema_ok = not list(validator.iter_errors(obj))
    if reason is None:
        assert got == obj and schema_ok
    else:
        assert isinstance(got, Rejection) and got.reason == reason, got
        assert not schema_ok


def test_a_task_of_another_alert_is_refused_though_well_formed(validator: jsonschema.Draft202012Validator) -> None:
    obj = {**GOOD, "task_id": task_id("ew-" + "b" * 24, "warning")}
    assert not list(validator.iter_errors(obj))  # JSON Schema cannot tell
    assert check(orjson.dumps(obj)).reason == Reason.TASK_MISMATCH


@pytest.mark.parametrize("raw", [b"", b"[1]", b"\xff", b"x" * 70000, None])
def test_what_is_not_an_object_is_refused(raw: bytes | None) -> None:
    assert isinstance(check(raw), Rejection)
