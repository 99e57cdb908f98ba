"""Alert contract v1: ids, times, round trips, check() and the JSON Schema file agreeing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from schemas.alerts import (
    MAX_EVIDENCE,
    OPTIONAL_FIELDS,
    Alert,
    AlertType,
    Severity,
    Status,
    Subject,
    alert_from_dict,
    alert_id,
    alert_to_dict,
    alert_to_json,
    check,
    rfc3339,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "alert.v1.schema.json"
START = 1740794400.0  # 2025-03-01T10:00:00+08:00
CONTRACT_FIELDS = [
    "alert_id", "schema_version", "type", "status", "severity", "subject", "district_code",
    "window_start", "window_end", "raised_at", "observed", "expected", "score",
    "distinct_complainants", "ticket_ids", "top_terms", "summary",
]  # fmt: skip
OPTIONAL = ["amount_total", "firms", "top_issue"]  # added within v1: optional only


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        alert_id=alert_id(AlertType.GROUP_DISPUTE, "firm", "name:某某健身(浦东店)", START),
        type=AlertType.GROUP_DISPUTE,
        status=Status.OPEN,
        severity=Severity.WARNING,
        subject=Subject("firm", "name:某某健身(浦东店)", "某某健身（浦东店）"),
        district_code="310115",
        window_start=rfc3339(START),
        window_end=rfc3339(START + 3600),
        raised_at=rfc3339(START + 3600),
        observed=12,
        expected=1.4,
        score=0.98,
        distinct_complainants=11,
        ticket_ids=tuple(f"T-{i:04d}" for i in range(12)),
        top_terms=("闭店", "退卡", "预付卡"),
        summary="浦东新区某某健身（浦东店）一小时内被11名消费者投诉12次，集中反映闭店后无法退卡，建议核查。",
    )
    return dataclasses.replace(alert, **changes)


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------- ids and times


def test_alert_id_is_the_documented_hash() -> None:
    digest = hashlib.sha256("term_surge|term|跑路|1740794400".encode()).hexdigest()
    assert alert_id("term_surge", "term", "跑路", 1740794400.7) == "ew-" + digest[:24]


@pytest.mark.parametrize(
    "other",
    [
        ("concentrated_demand", "firm", "k", START),
        ("group_dispute", "product", "k", START),
        ("group_dispute", "firm", "k2", START),
        ("group_dispute", "firm", "k", START + 1),
    ],
    ids=["type", "dimension", "key", "episode"],
)
def test_alert_id_changes_with_each_part(other: tuple[str, str, str, float]) -> None:
    assert alert_id("group_dispute", "firm", "k", START) != alert_id(*other)


def test_alert_id_is_stable_across_calls_and_enum_or_text() -> None:
    a = alert_id(AlertType.GROUP_DISPUTE, "firm", "k", START + 0.9)
    assert a == alert_id("group_dispute", "firm", "k", START)
    assert len(a) == 27 and a.startswith("ew-")


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0, "1970-01-01T08:00:00+08:00"),
        (1740795300, "2025-03-01T10:15:00+08:00"),
        (1740795300.9, "2025-03-01T10:15:00+08:00"),
        (1740758400, "2025-03-01T00:00:00+08:00"),  # 16:00 UTC the day before
        (1740787199, "2025-03-01T07:59:59+08:00"),
        (1719763200, "2024-07-01T00:00:00+08:00"),  # summer: no daylight saving in China
    ],
)
def test_rfc3339(ts: float, text: str) -> None:
    assert rfc3339(ts) == text
    assert datetime.fromisoformat(text).timestamp() == int(ts)


# ---------------------------------------------------------------- round trips and JSON


def test_dict_round_trip() -> None:
    a = make_alert()
    d = alert_to_dict(a)
    assert list(d) == CONTRACT_FIELDS
    assert d["subject"] == {"dimension": "firm", "key": "name:某某健身(浦东店)", "label": "某某健身（浦东店）"}
    assert d["type"] == "group_dispute" and type(d["type"]) is str
    assert isinstance(d["ticket_ids"], list)
    back = alert_from_dict(d)
    assert back == a
    assert back.type is AlertType.GROUP_DISPUTE and back.status is Status.OPEN and back.severity is Severity.WARNING


def test_json_round_trip_keeps_chinese_as_utf8() -> None:
    a = make_alert(district_code=None, status=Status.RESOLVED)
    line = alert_to_json(a)
    assert "某某健身（浦东店）".encode() in line and b"\\u" not in line and b"\n" not in line
    assert alert_from_dict(orjson.loads(line)) == a
    assert json.loads(line.decode("utf-8"))["district_code"] is None


def test_from_dict_keeps_an_unknown_type_for_check_to_flag() -> None:
    d = alert_to_dict(make_alert())
    d["type"] = "price_gouging"
    a = alert_from_dict(d)
    assert a.type == "price_gouging"
    assert any(p.startswith("type 'price_gouging'") for p in check(a))


@pytest.mark.parametrize("missing", ["alert_id", "subject", "score", "ticket_ids"])
def test_from_dict_names_a_missing_field(missing: str) -> None:
    d = alert_to_dict(make_alert())
    del d[missing]
    with pytest.raises(ValueError, match=missing):
        alert_from_dict(d)


def test_from_dict_rejects_a_malformed_subject() -> None:
    d = alert_to_dict(make_alert())
    d["subject"] = "firm"
    with pytest.raises(ValueError, match="malformed"):
        alert_from_dict(d)


# ---------------------------------------------------------------- check() and the schema


def test_valid_alert_passes_check_and_schema(schema_validator: jsonschema.Draft202012Validator) -> None:
    for a in (
        make_alert(),
        make_alert(district_code=None, ticket_ids=tuple(f"T{i}" for i in range(MAX_EVIDENCE))),
        make_alert(subject=Subject("complainant", "p_0123456789abcdef", "p_0123456789abcdef"), score=0.0),
        make_alert(expected=0, score=1, observed=0, distinct_complainants=0, ticket_ids=(), top_terms=()),
    ):
        assert check(a) == []
        assert list(schema_validator.iter_errors(alert_to_dict(a))) == []


def bad(changes: dict[str, Any], problem: str, id: str, schema: bool = True) -> Any:
    """One row: what to break, a phrase check() must report, and whether the schema can see it."""
    return pytest.param(changes, problem, schema, id=id)


VIOLATIONS = [
    bad({"score": 1.5}, "score", "score-above-1"),
    bad({"score": -0.01}, "score", "score-below-0"),
    bad({"score": math.nan}, "score", "score-nan", schema=False),  # NaN passes min/max in JSON Schema
    bad({"observed": -1}, "observed", "observed-negative"),
    bad({"observed": 2.5}, "observed", "observed-fraction"),
    bad({"observed": True}, "observed", "observed-bool"),
    bad({"distinct_complainants": -3}, "distinct_complainants", "distinct-negative"),
    bad({"expected": -0.5}, "expected", "expected-negative"),
    bad({"expected": math.inf}, "expected", "expected-inf", schema=False),
    bad({"ticket_ids": tuple(f"T{i}" for i in range(MAX_EVIDENCE + 1))}, "ticket_ids", "too-much-evidence"),
    bad({"ticket_ids": ("T1", 2)}, "ticket_ids", "ticket-id-number"),
    bad({"top_terms": ("闭店", None)}, "top_terms", "term-null"),
    bad({"alert_id": "ew-123"}, "alert_id", "alert-id-short"),
    bad({"alert_id": "EW-" + "a" * 24}, "alert_id", "alert-id-prefix"),
    bad({"type": "price_gouging"}, "type", "unknown-type"),
    bad({"status": "closed"}, "status", "unknown-status"),
    bad({"severity": "high"}, "severity", "unknown-severity"),
    bad({"schema_version": "2"}, "schema_version", "schema-version"),
    bad({"district_code": "3101"}, "district_code", "district-short"),
    bad({"window_end": "2025-03-01T11:00:00"}, "window_end", "window-end-naive"),
    bad({"raised_at": "yesterday"}, "raised_at", "raised-at-text"),
    bad({"subject": Subject("firm", "", "某某")}, "subject", "subject-empty-key"),
    bad({"subject": Subject("complainant", "P0001", "投诉人")}, "pseudonym", "complainant-raw-id"),
    bad({"summary": "  "}, "summary", "summary-blank"),
    bad({"amount_total": -1.0}, "amount_total", "amount-negative"),
    bad({"amount_total": "12"}, "amount_total", "amount-text"),
    bad({"amount_total": math.inf}, "amount_total", "amount-inf", schema=False),
    bad({"firms": -1}, "firms", "firms-negative"),
    bad({"firms": 1.5}, "firms", "firms-fraction"),
    bad({"top_issue": 3}, "top_issue", "top-issue-number"),
    bad({"window_start": rfc3339(START + 7200)}, "window_start is after window_end", "window-reversed", schema=False),
    bad({"summary": "投诉人13800138000反映闭店。"}, "phone number", "phone-in-summary", schema=False),
    bad({"top_terms": ("闭店", "13900139000")}, "phone number", "phone-in-terms", schema=False),
]


@pytest.mark.parametrize(("changes", "problem", "schema"), VIOLATIONS)
def test_check_reports(changes: dict[str, Any], problem: str, schema: bool) -> None:
    problems = check(make_alert(**changes))
    assert len(problems) == 1, problems
    assert problem in problems[0]


@pytest.mark.parametrize(("changes", "problem", "schema"), [v for v in VIOLATIONS if v.values[2]])
def test_schema_agrees_with_check(
    schema_validator: jsonschema.Draft202012Validator, changes: dict[str, Any], problem: str, schema: bool
) -> None:
    assert list(schema_validator.iter_errors(alert_to_dict(make_alert(**changes)))) != []


def test_schema_lists_the_contract_fields(schema_validator: jsonschema.Draft202012Validator) -> None:
    schema = schema_validator.schema
    assert list(schema["properties"]) == CONTRACT_FIELDS + OPTIONAL
    assert list(OPTIONAL_FIELDS) == OPTIONAL
    assert sorted(schema["required"]) == sorted(CONTRACT_FIELDS)  # the optional ones are not required
    assert schema["properties"]["schema_version"] == {"const": "1"}
    assert schema["additionalProperties"] is False
    assert schema["$id"] and schema["title"]
    assert schema["properties"]["ticket_ids"]["maxItems"] == MAX_EVIDENCE
    assert schema["properties"]["type"]["enum"] == [t.value for t in AlertType]
    assert schema["properties"]["status"]["enum"] == [s.value for s in Status]
    assert schema["properties"]["severity"]["enum"] == [s.value for s in Severity]


def test_optional_fields_round_trip_and_are_left_out_when_not_given(
        schema_validator: jsonschema.Draft202012Validator) -> None:
    plain = alert_to_dict(make_alert())
    assert not set(OPTIONAL) & set(plain)  # an alert without them is still a v1 alert
    full = make_alert(amount_total=123456.5, firms=4, top_issue="退费")
    d = alert_to_dict(full)
    assert [d[k] for k in OPTIONAL] == [123456.5, 4, "退费"]
    assert alert_from_dict(d) == full and check(full) == [] and schema_validator.is_valid(d)
    assert schema_validator.is_valid({**d, "top_issue": None})
    for name in OPTIONAL:  # each one alone may be absent
        assert schema_validator.is_valid({k: v for k, v in d.items() if k != name})


def test_schema_refuses_unknown_fields(schema_validator: jsonschema.Draft202012Validator) -> None:
    d = alert_to_dict(make_alert())
    assert schema_validator.is_valid(d)
    d["complainant_phone"] = "13800138000"
    assert not schema_validator.is_valid(d)
    d = alert_to_dict(make_alert())
    d["subject"]["phone"] = "13800138000"
    assert not schema_validator.is_valid(d)
