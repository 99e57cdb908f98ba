"""Inspection result contract v1 (input; topic ``inspection.results``): what inspectors found.

An inspection system that took a task from ``inspection.tasks`` (contract v1) reports back
here, one JSON object per message, key = ``result_id``. The desk attaches each result to
its alert and shows it on the alert's page. ``inspection_result.v1.schema.json`` states
the same contract as JSON Schema; the tests check that the two agree.

================  ==========  ========  ==================================================
field             type        required  meaning
================  ==========  ========  ==================================================
result_id         string      yes       unique from the inspection system; a result sent
                                        again with the same id replaces the earlier one
                                        (a correction), so consumers upsert by it
schema_version    "1"         yes
task_id           ``it-`` +   yes       the task inspected (contract v1)
                  24 hex
alert_id          ``ew-`` +   yes       the task's alert; ``task_id`` must be the id a
                  24 hex                task of this alert has (warning or critical)
outcome           enum        yes       ``violation`` 查实违法违规, ``rectification``
                                        责令整改, ``no_violation`` 未发现问题,
                                        ``not_inspected`` 未能检查 (closed, moved, …)
inspected_at      RFC 3339    yes       when the visit was made
findings          string      yes       what was found, in Chinese (≤ 5000 characters)
office            string      no        who inspected: the office (市场监管所)
case_id           string      no        the case opened (立案编号), if any
penalty_amount    number ≥ 0  no        CNY
================  ==========  ========  ==================================================

Unknown extra fields are kept (a later v1 may add optional ones). Checking never raises:
it returns the result as a dict or a :class:`Rejection` with a :class:`Reason`.

>>> from alerts.inspection import task_id
>>> aid = "ew-" + "0" * 24
>>> ok = {"result_id": "R1", "schema_version": "1", "task_id": task_id(aid, "warning"), "alert_id": aid,
...       "outcome": "rectification", "inspected_at": "2025-03-05T15:00:00+08:00", "findings": "已责令退费"}
>>> check(orjson.dumps(ok))["outcome"]
'rectification'
>>> check(orjson.dumps({**ok, "task_id": "it-" + "1" * 24})).reason
<Reason.TASK_MISMATCH: 'task_mismatch'>
>>> check(b"{").reason, check(orjson.dumps({**ok, "outcome": "fined"})).reason
(<Reason.NOT_JSON: 'not_json'>, <Reason.BAD_FIELD: 'bad_field'>)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from alerts.inspection import TASK_SEVERITIES, task_id
from schemas.tickets import _parse_ts

__all__ = ["MAX_BYTES", "OUTCOMES", "Reason", "Rejection", "check"]

MAX_BYTES = 64 * 1024
MAX_FINDINGS_CHARS = 5000
OUTCOMES = {"violation": "查实违法违规", "rectification": "责令整改", "no_violation": "未发现问题",
            "not_inspected": "未能检查"}
_TASK_ID = re.compile(r"it-[0-9a-f]{24}")
_ALERT_ID = re.compile(r"ew-[0-9a-f]{24}")
_REQUIRED_STRINGS = ("result_id", "task_id", "alert_id", "outcome", "inspected_at", "findings")
_OPTIONAL_STRINGS = ("office", "case_id")


class Reason(StrEnum):
    """Why a message is not a usable result (the dead-letter reason and a metrics label)."""

    OVERSIZE = "oversize"
    NOT_JSON = "not_json"  # not UTF-8 JSON
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_VERSION = "wrong_version"
    BAD_FIELD = "bad_field"  # a field of the wrong type or form
    TASK_MISMATCH = "task_mismatch"  # the task id is not one of this alert's tasks
    UNKNOWN_ALERT = "unknown_alert"  # well formed, but the consumer holds no such alert (decided there)
    UNKNOWN_TASK = "unknown_task"  # the alert's, but no such task was made (decided there)


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str


def check(raw: bytes | None) -> dict[str, Any] | Rejection:
    """The result in a Kafka message value, or why it is not one. Never raises."""
    if raw is None or len(raw) > MAX_BYTES:
        return Rejection(Reason.OVERSIZE if raw else Reason.NOT_JSON,
                         f"{len(raw)} bytes > {MAX_BYTES}" if raw else "no value")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(Reason.NOT_JSON, str(exc))
    if not isinstance(obj, dict):
        return Rejection(Reason.NOT_OBJECT, f"a JSON {type(obj).__name__}, not an object")
    for name in ("schema_version", *_REQUIRED_STRINGS):
        if obj.get(name) is None:
            return Rejection(Reason.MISSING_FIELD, f"{name} is required")
    if obj["schema_version"] != "1":
        return Rejection(Reason.WRONG_VERSION, f"schema_version {obj['schema_version']!r}: this reader takes \"1\"")
    for name in _REQUIRED_STRINGS:
        if not isinstance(obj[name], str) or not obj[name].strip():
            return Rejection(Reason.BAD_FIELD, f"{name} must be a non-empty string")
    for name in _OPTIONAL_STRINGS:
        if not isinstance(obj.get(name, ""), str | None):
            return Rejection(Reason.BAD_FIELD, f"{name} must be a string or null")
    if _TASK_ID.fullmatch(obj["task_id"]) is None or _ALERT_ID.fullmatch(obj["alert_id"]) is None:
        return Rejection(Reason.BAD_FIELD, "task_id must be it- and alert_id ew- followed by 24 hex digits")
    if obj["outcome"] not in OUTCOMES:
        return Rejection(Reason.BAD_FIELD, f"outcome {obj['outcome']!r}: expected one of {', '.join(OUTCOMES)}")
    if _parse_ts(obj["inspected_at"]) is None:
        return Rejection(Reason.BAD_FIELD, f"inspected_at {obj['inspected_at']!r} is not RFC 3339 with an offset")
    if len(obj["findings"]) > MAX_FINDINGS_CHARS:
        return Rejection(Reason.BAD_FIELD, f"findings longer than {MAX_FINDINGS_CHARS} characters")
    amount = obj.get("penalty_amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)
                               or not math.isfinite(amount) or amount < 0):
        return Rejection(Reason.BAD_FIELD, f"penalty_amount {amount!r}: a number >= 0")
    if obj["task_id"] not in {task_id(obj["alert_id"], s) for s in TASK_SEVERITIES}:
        return Rejection(Reason.TASK_MISMATCH, f"task {obj['task_id']} is not a task of alert {obj['alert_id']}")
    return obj
