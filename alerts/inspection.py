"""Alert -> inspection task (contract v1, topic ``inspection.tasks``): 一键生成现场检查任务.

A group dispute at warning or critical severity names one firm that regulators may need to
visit: the alert's summary already advises the district office to check the business and
"视情生成现场检查任务". The task is that visit drafted for the inspection system: the firm,
where, why (the alert's summary), how many people, and the evidence tickets.

Other alerts make no task: a concentrated demand spans many firms and calls for a
cross-firm review, not one visit; a hot word is information; a resolved alert ends the
episode, which the inspection system learns from the alert topic.

``task_id`` is deterministic from the alert and its severity, so an episode makes one task
when it reaches warning and another if it escalates to critical; an update at the same
severity repeats that task's id with fresher evidence (consumers upsert by ``task_id``),
and a replay or restart never makes a new one.

>>> alert = {"alert_id": "ew-0123456789abcdef01234567", "type": "group_dispute", "status": "open",
...          "severity": "warning", "subject": {"dimension": "firm_issue", "key": "91310115MA1K3ABCD8|退费",
...          "label": "某健身·退费"}, "district_code": "310115", "raised_at": "2025-03-04T10:15:00+08:00",
...          "observed": 14, "distinct_complainants": 13, "ticket_ids": ["T1"], "summary": "……"}
>>> task = task_of(alert)
>>> task["firm"], task["issue"], task["task_id"] == task_of(alert)["task_id"]
({'key': '91310115MA1K3ABCD8', 'label': '某健身'}, '退费', True)
>>> task_of({**alert, "severity": "info"}) is None
True
>>> manual = task_on_request({**alert, "type": "term_surge", "severity": "info",
...     "subject": {"dimension": "term", "key": "预付卡", "label": "预付卡"}})
>>> manual["severity"], manual["firm"], manual["task_id"] == task_id(alert["alert_id"], "warning")
('warning', {'key': '预付卡', 'label': '预付卡'}, True)

A task asked for by staff (the desk's 一键生成现场检查任务) may come from any alert.
``task_on_request`` drafts it the same way, with two differences the contract forces:
the subject is the thing to visit whatever its dimension (a product or term names what
inspectors look for), and an info alert's task is filed at ``warning``, the least a task
carries. Its id is the automatic one's for the same alert and severity, so a request for
a task the stream already drafted repeats that task (consumers upsert) instead of
sending inspectors twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

from schemas.regions import district_name

TASK_TYPES = frozenset({"group_dispute"})
TASK_SEVERITIES = frozenset({"warning", "critical"})
TASK_STATUSES = frozenset({"open", "update"})


def task_id(alert_id: str, severity: str) -> str:
    """``it-`` and 24 hex digits, from the alert and the severity the task was made at."""
    return "it-" + hashlib.sha256(f"{alert_id}|{severity}".encode()).hexdigest()[:24]


def task_of(alert: dict[str, Any]) -> dict[str, Any] | None:
    """The inspection task an alert-contract-v1 event makes, or None."""
    if (alert["type"] not in TASK_TYPES or alert["severity"] not in TASK_SEVERITIES
            or alert["status"] not in TASK_STATUSES):
        return None
    return _draft(alert, alert["severity"])


def task_on_request(alert: dict[str, Any]) -> dict[str, Any]:
    """The inspection task staff ask for from any alert event (see the module's notes)."""
    return _draft(alert, alert["severity"] if alert["severity"] in TASK_SEVERITIES else "warning")


def _draft(alert: dict[str, Any], severity: str) -> dict[str, Any]:
    subject = alert["subject"]
    key, label, issue = subject["key"], subject["label"], None
    if subject["dimension"] == "firm_issue":  # "firm key|issue", labelled "firm·issue"
        key, _, issue = key.rpartition("|")
        suffix = f"·{issue}"
        label = label[: -len(suffix)] if label.endswith(suffix) else label
    district = alert["district_code"]
    return {
        "task_id": task_id(alert["alert_id"], severity),
        "schema_version": "1",
        "alert_id": alert["alert_id"],
        "severity": severity,
        "firm": {"key": key, "label": label},
        "issue": issue,
        "district_code": district,
        "district_name": district_name(district) if district else None,
        "raised_at": alert["raised_at"],
        "distinct_complainants": alert["distinct_complainants"],
        "observed": alert["observed"],
        "ticket_ids": list(alert["ticket_ids"]),
        "reason": alert["summary"],
    }
