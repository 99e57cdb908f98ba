"""Alert contract v1: the model every detector's decision becomes, and its JSON form.

Constructors are dumb on purpose (the hot path builds alerts it has already reasoned
about); :func:`check` lists contract violations for tests and for a sink that wants to
refuse a bad alert. ``alert.v1.schema.json`` states the same contract as JSON Schema.

Times are RFC 3339 text at Asia/Shanghai's fixed +08:00 offset (China has no daylight
saving time since 1991, so no tz database is needed).

>>> a = Alert(alert_id("group_dispute", "firm", "name:某健身", 1740794400.0),
...           AlertType.GROUP_DISPUTE, Status.OPEN, Severity.WARNING,
...           Subject("firm", "name:某健身", "某健身（浦东店）"), "310115",
...           rfc3339(1740794400), rfc3339(1740798000), rfc3339(1740798000),
...           observed=12, expected=1.5, score=0.97, distinct_complainants=11,
...           ticket_ids=("T1", "T2"), top_terms=("退卡", "闭店"), summary="某健身一小时内被投诉12次。")
>>> a.alert_id, a.window_start, check(a)
('ew-3c0b7daa24dc0cd58be67076', '2025-03-01T10:00:00+08:00', [])
>>> alert_from_dict(alert_to_dict(a)) == a
True
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import orjson

from schemas.tickets import _RFC3339  # one RFC 3339 pattern for both contracts

__all__ = [
    "MAX_EVIDENCE",
    "OPTIONAL_FIELDS",
    "Alert",
    "AlertType",
    "Severity",
    "Status",
    "Subject",
    "alert_from_dict",
    "alert_id",
    "alert_to_dict",
    "alert_to_json",
    "check",
    "rfc3339",
]

MAX_EVIDENCE = 200
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class AlertType(StrEnum):
    """What kind of episode an alert reports (more may follow in later versions)."""

    GROUP_DISPUTE = "group_dispute"
    CONCENTRATED_DEMAND = "concentrated_demand"
    ABNORMAL_COMPLAINANT = "abnormal_complainant"
    ABNORMAL_FIRM = "abnormal_firm"
    TERM_SURGE = "term_surge"
    SUBSCRIPTION_MATCH = "subscription_match"


class Status(StrEnum):
    """Where the episode is: newly open, grown or escalated, or over."""

    OPEN = "open"
    UPDATE = "update"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Subject:
    """What the alert is about: a firm, product, district, term or complainant pseudonym."""

    dimension: str
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert (contract v1). Field order is the JSON field order."""

    alert_id: str
    type: AlertType
    status: Status
    severity: Severity
    subject: Subject
    district_code: str | None
    window_start: str  # RFC 3339, +08:00
    window_end: str
    raised_at: str
    observed: int
    expected: float
    score: float  # in [0, 1]
    distinct_complainants: int
    ticket_ids: tuple[str, ...]  # evidence, at most MAX_EVIDENCE
    top_terms: tuple[str, ...]
    summary: str  # one paragraph in Chinese
    schema_version: str = "1"
    # Optional fields added within v1 (None: not given, and left out of the JSON).
    amount_total: float | None = None  # money involved in the episode's tickets, CNY
    firms: int | None = None  # distinct firms in the episode's tickets
    top_issue: str | None = None  # the issue category most of its tickets name

OPTIONAL_FIELDS = ("amount_total", "firms", "top_issue")  # added within v1; consumers may not know them


def alert_id(type: str, dimension: str, key: str, episode_start_ts: float) -> str:
    """The id of one episode: the same inputs give the same id on every replay and restart.

    >>> alert_id("term_surge", "term", "跑路", 1740794400.9) == alert_id("term_surge", "term", "跑路", 1740794400)
    True
    >>> alert_id(AlertType.TERM_SURGE, "term", "跑路", 0) == alert_id("term_surge", "term", "跑路", 0)
    True
    """
    # str() of a StrEnum member is its value, so enum and plain string give one id.
    text = f"{type}|{dimension}|{key}|{int(episode_start_ts)}"
    return "ew-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 text in Shanghai time, whole seconds.

    >>> rfc3339(1740795300), rfc3339(0)
    ('2025-03-01T10:15:00+08:00', '1970-01-01T08:00:00+08:00')
    """
    return datetime.fromtimestamp(ts, SHANGHAI).isoformat(timespec="seconds")


def _value(v: Any) -> Any:
    # An unknown enum value may be held as a plain str (see alert_from_dict).
    return v.value if isinstance(v, StrEnum) else v


def alert_to_dict(a: Alert) -> dict[str, Any]:
    """The alert as a contract-v1 dict (JSON types only: enums as strings, tuples as lists)."""
    return {
        "alert_id": a.alert_id,
        "schema_version": a.schema_version,
        "type": _value(a.type),
        "status": _value(a.status),
        "severity": _value(a.severity),
        "subject": {"dimension": a.subject.dimension, "key": a.subject.key, "label": a.subject.label},
        "district_code": a.district_code,
        "window_start": a.window_start,
        "window_end": a.window_end,
        "raised_at": a.raised_at,
        "observed": a.observed,
        "expected": a.expected,
        "score": a.score,
        "distinct_complainants": a.distinct_complainants,
        "ticket_ids": list(a.ticket_ids),
        "top_terms": list(a.top_terms),
        "summary": a.summary,
        **{name: getattr(a, name) for name in OPTIONAL_FIELDS if getattr(a, name) is not None},
    }


def _enum_or_str(enum: type[StrEnum], value: Any) -> Any:
    # Forward compatible: a type or status added in a later version is kept as text for
    # check() to flag, instead of making a consumer crash on it.
    try:
        return enum(value)
    except ValueError:
        return value


def alert_from_dict(d: dict[str, Any]) -> Alert:
    """An Alert from a contract-v1 dict. Raises ValueError naming the field when one is missing.

    Unknown enum values are kept as plain strings (check() reports them).
    """
    try:
        subject = d["subject"]
        return Alert(
            alert_id=d["alert_id"],
            type=_enum_or_str(AlertType, d["type"]),
            status=_enum_or_str(Status, d["status"]),
            severity=_enum_or_str(Severity, d["severity"]),
            subject=Subject(subject["dimension"], subject["key"], subject["label"]),
            district_code=d.get("district_code"),
            window_start=d["window_start"],
            window_end=d["window_end"],
            raised_at=d["raised_at"],
            observed=d["observed"],
            expected=d["expected"],
            score=d["score"],
            distinct_complainants=d["distinct_complainants"],
            ticket_ids=tuple(d["ticket_ids"]),
            top_terms=tuple(d["top_terms"]),
            summary=d["summary"],
            schema_version=d.get("schema_version", "1"),
            amount_total=d.get("amount_total"),
            firms=d.get("firms"),
            top_issue=d.get("top_issue"),
        )
    except KeyError as exc:
        raise ValueError(f"alert is missing field {exc.args[0]!r}") from None
    except TypeError as exc:
        raise ValueError(f"alert is malformed: {exc}") from None


def alert_to_json(a: Alert) -> bytes:
    """One line of the alert topic / ``detect`` output: compact JSON, UTF-8 (Chinese kept as is).

    >>> line = alert_to_json(Alert("ew-0", AlertType.TERM_SURGE, Status.OPEN, Severity.INFO,
    ...     Subject("term", "跑路", "跑路"), None, "", "", "", 0, 0.0, 0.0, 0, (), (), ""))
    >>> line[:60], "跑路".encode() in line, line.isascii()
    (b'{"alert_id":"ew-0","schema_version":"1","type":"term_surge",', True, False)
    """
    return orjson.dumps(alert_to_dict(a))


_ALERT_ID = re.compile(r"ew-[0-9a-f]{24}")
_DISTRICT = re.compile(r"[0-9]{6}")
_PSEUDONYM = re.compile(r"p_[0-9a-f]{16}")
# A mainland mobile number anywhere in free text: alerts must never carry one.
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or _RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check(a: Alert) -> list[str]:
    """Contract violations of *a*, one readable line each; empty when it keeps the contract.

    >>> bad = Alert("x", "panic", Status.OPEN, Severity.INFO, Subject("firm", "k", "l"), None,
    ...             "2025-03-01T11:00:00+08:00", "2025-03-01T10:00:00+08:00", "2025-03-01T11:00:00+08:00",
    ...             -1, 0.5, 1.5, 0, ("T1",), (), "摘要")
    >>> for line in check(bad): print(line)
    alert_id 'x' is not 'ew-' + 24 hex digits
    type 'panic' is not one of group_dispute, concentrated_demand, abnormal_complainant, abnormal_firm, term_surge, subscription_match
    window_start is after window_end
    observed must be an integer >= 0, got -1
    score must be a number in [0, 1], got 1.5
    """
    problems: list[str] = []
    if not (isinstance(a.alert_id, str) and _ALERT_ID.fullmatch(a.alert_id)):
        problems.append(f"alert_id {a.alert_id!r} is not 'ew-' + 24 hex digits")
    if a.schema_version != "1":
        problems.append(f"schema_version must be '1', got {a.schema_version!r}")
    for name, enum in (("type", AlertType), ("status", Status), ("severity", Severity)):
        value = getattr(a, name)
        if value not in enum.__members__.values():
            problems.append(f"{name} {value!r} is not one of {', '.join(m.value for m in enum)}")

    s = a.subject
    if not (isinstance(s, Subject) and all(isinstance(v, str) and v for v in (s.dimension, s.key, s.label))):
        problems.append("subject must have non-empty dimension, key and label strings")
    elif s.dimension == "complainant" and not _PSEUDONYM.fullmatch(s.key):
        problems.append("a complainant subject's key must be a pseudonym 'p_' + 16 hex digits")
    if a.district_code is not None and not (
        isinstance(a.district_code, str) and _DISTRICT.fullmatch(a.district_code)
    ):
        problems.append(f"district_code {a.district_code!r} is not null or a 6-digit string")

    times = {name: _time(getattr(a, name)) for name in ("window_start", "window_end", "raised_at")}
    for name, parsed in times.items():
        if parsed is None:
            problems.append(f"{name} {getattr(a, name)!r} is not an RFC 3339 date-time with an offset")
    start, end = times["window_start"], times["window_end"]
    if start is not None and end is not None and start > end:
        problems.append("window_start is after window_end")

    for name in ("observed", "distinct_complainants"):
        if not _is_count(getattr(a, name)):
            problems.append(f"{name} must be an integer >= 0, got {getattr(a, name)!r}")
    if not (_is_number(a.expected) and a.expected >= 0):
        problems.append(f"expected must be a finite number >= 0, got {a.expected!r}")
    if not (_is_number(a.score) and 0 <= a.score <= 1):
        problems.append(f"score must be a number in [0, 1], got {a.score!r}")

    if not all(isinstance(t, str) for t in a.ticket_ids):
        problems.append("ticket_ids must all be strings")
    if len(a.ticket_ids) > MAX_EVIDENCE:
        problems.append(f"ticket_ids has {len(a.ticket_ids)} ids, more than {MAX_EVIDENCE}")
    if not all(isinstance(t, str) for t in a.top_terms):
        problems.append("top_terms must all be strings")
    if a.amount_total is not None and not (_is_number(a.amount_total) and a.amount_total >= 0):
        problems.append(f"amount_total must be a finite number >= 0 when given, got {a.amount_total!r}")
    if a.firms is not None and not _is_count(a.firms):
        problems.append(f"firms must be an integer >= 0 when given, got {a.firms!r}")
    if a.top_issue is not None and not isinstance(a.top_issue, str):
        problems.append(f"top_issue must be a string or null, got {a.top_issue!r}")
    if not (isinstance(a.summary, str) and a.summary.strip()):
        problems.append("summary must be a non-empty string")

    free_text = [a.summary, s.label, s.key, *a.top_terms] if isinstance(s, Subject) else [a.summary]
    if any(isinstance(t, str) and _MOBILE.search(t) for t in free_text):
        problems.append("a phone number appears in summary, subject or top_terms (alerts carry no personal data)")
    return problems
