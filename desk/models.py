"""Request and response models of the API (its OpenAPI document), declared once.

``Alert`` mirrors ``schemas/alert.v1.schema.json``; ``InspectionTask`` mirrors
``schemas/inspection_task.v1.schema.json`` (tests check both against the schemas).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Subject(BaseModel):
    dimension: str
    key: str
    label: str


class Alert(BaseModel):
    """An alert event, contract v1 (the alert's current state, or one event of its timeline)."""

    alert_id: str
    schema_version: Literal["1"]
    type: str
    status: Literal["open", "update", "resolved"]
    severity: Literal["info", "warning", "critical"]
    subject: Subject
    district_code: str | None
    window_start: str
    window_end: str
    raised_at: str
    observed: int
    expected: float
    score: float
    distinct_complainants: int
    ticket_ids: list[str]
    top_terms: list[str]
    summary: str
    # Optional within v1 (older alerts lack them).
    amount_total: float | None = None
    firms: int | None = None
    top_issue: str | None = None


class AlertPage(BaseModel):
    total: int = Field(description="alerts matching the filters")
    offset: int
    limit: int
    items: list[Alert]


class Firm(BaseModel):
    key: str
    label: str


class InspectionTask(BaseModel):
    """Inspection task, contract v1 (as published on the inspection topic)."""

    task_id: str
    schema_version: Literal["1"]
    alert_id: str
    severity: Literal["warning", "critical"]
    firm: Firm
    issue: str | None
    district_code: str | None
    district_name: str | None
    raised_at: str
    distinct_complainants: int
    observed: int
    ticket_ids: list[str]
    reason: str


class TaskRecord(BaseModel):
    task: InspectionTask
    by: str
    at: float
    note: str


class InspectionResult(BaseModel):
    """Inspection result, contract v1 (``schemas/inspection_result.v1.schema.json``); extra fields kept."""

    model_config = {"extra": "allow"}
    result_id: str
    schema_version: Literal["1"]
    task_id: str
    alert_id: str
    outcome: Literal["violation", "rectification", "no_violation", "not_inspected"]
    inspected_at: str
    findings: str
    office: str | None = None
    case_id: str | None = None
    penalty_amount: float | None = None


class ResultRecord(BaseModel):
    result: InspectionResult
    received_at: float = Field(description="when the desk read it (epoch seconds)")
    source: dict[str, Any] | None = Field(description="topic, partition and offset it came from")


class TicketDisplay(BaseModel):
    """A ticket as the desk shows it: narrative and title masked, the complainant a pseudonym.
    Only ``ticket_id`` when the desk keeps no display fields for it (not read, or expired)."""

    ticket_id: str
    kind: str | None = None
    received_at: str | None = None
    district_code: str | None = None
    firm_name: str | None = None
    firm_key: str | None = None
    product_category: str | None = None
    product_name: str | None = None
    issue_category: str | None = None
    amount: float | None = None
    channel: str | None = None
    platform: str | None = None
    title: str | None = None
    content: str | None = None
    complainant: str | None = Field(None, description="keyed pseudonym (p_…), when the desk has the workers' key")


class Handled(BaseModel):
    verdict: Literal["true", "false", "duplicate"] | None
    verdict_reason: str | None
    acknowledged_by: str | None
    assignee: str | None
    tasks: int = Field(description="inspection tasks made on request")
    results: list[str] = Field(description="outcomes of the inspection results that came back")


SAME = Field(description="what it shares with the case asked about: firm, product, issue")


class SimilarAlert(BaseModel):
    alert: Alert
    similarity: float = Field(description="estimated Jaccard similarity (MinHash) in [0, 1]")
    same: list[Literal["firm", "product", "issue"]] = SAME
    handled: Handled


class SimilarTicket(BaseModel):
    ticket: TicketDisplay
    similarity: float = Field(description="estimated Jaccard similarity (MinHash) in [0, 1]")
    same: list[Literal["firm", "product", "issue"]] = SAME


class Ack(BaseModel):
    alert_id: str
    who: str
    why: str
    severity: str
    at: float


class Assignment(BaseModel):
    assignee: str
    note: str
    by: str
    at: float


class Verdict(BaseModel):
    verdict: Literal["true", "false", "duplicate"]
    reason: str
    by: str
    at: float
    duplicate_of: str | None


class Comment(BaseModel):
    text: str
    by: str
    at: float


class AuditEntry(BaseModel):
    at: float
    who: str
    action: str
    target: str
    before: Any
    after: Any


class ComplainantFlag(BaseModel):
    person: str = Field(description="the keyed pseudonym (p_ + 16 hex digits); never a name, phone or id")
    flag: dict[str, Any] | None = Field(description="the flag the engine holds: reasons, first_seen, last_seen, "
                                                    "expires, ticket_ids; null when none is held")
    clearing: dict[str, Any] | None = Field(description="staff's clearing (at, who, why), if any")


class AlertDetail(BaseModel):
    alert: Alert
    timeline: list[Alert]
    ack: Ack | None
    assignment: Assignment | None
    verdict: Verdict | None
    comments: list[Comment]
    tasks: list[TaskRecord]
    results: list[ResultRecord] = Field(description="inspection results that came back (inspection.results)")
    evidence: list[TicketDisplay] = Field(description="the evidence tickets, in ticket_ids' order, masked")
    activity: list[AuditEntry]
    complainants: list[ComplainantFlag] = Field(
        default_factory=list, description="an abnormal-complainant alert's people and their flags; [] otherwise")


class ClearFlagIn(BaseModel):
    reason: str = Field(description="why the person is an ordinary consumer after all (recorded)")


class AckIn(BaseModel):
    reason: str = Field(description="why (e.g. 已派员核查)")


class AssignIn(BaseModel):
    assignee: str = Field(description="a person or a district office")
    note: str = ""


class CommentIn(BaseModel):
    text: str


class VerdictIn(BaseModel):
    verdict: Literal["true", "false", "duplicate"]
    reason: str
    duplicate_of: str = Field("", description="with verdict duplicate: the alert this one repeats")


class TaskIn(BaseModel):
    note: str = ""


class SilenceIn(BaseModel):
    matchers: list[str] = Field(description='Alertmanager-style matchers over alert labels, e.g. firm="9131…"')
    minutes: float = Field(gt=0, description="how long, from now")
    reason: str
    alert_id: str | None = Field(None, description="the alert the silence was set from (audit trail)")


class Silence(BaseModel):
    id: str
    matchers: list[str]
    who: str
    why: str
    starts: float
    until: float


class TokenIn(BaseModel):
    label: str = Field(description="what the token is for")
    days: float = Field(90, gt=0, le=366)


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as Authorization: Bearer <token>")


class Me(BaseModel):
    name: str
    role: Literal["viewer", "officer", "admin"]
    districts: list[str]
    display: str


class Problem(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid token or session"},
    403: {"model": Problem, "description": "role too low, alert outside the user's districts, or bad CSRF token"},
    404: {"model": Problem, "description": "no such alert"},
}
