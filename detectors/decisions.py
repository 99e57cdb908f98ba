"""The decision vocabulary: the ``Decision`` the core emits and the words it is made of.

One vocabulary for the whole tree: alert types, statuses and severities are the
``schemas.alerts`` enums (alert contract v1), so a decision and the alert rendered from it
cannot disagree on a word. The dimensions are the kinds of key the windows count under;
they are not in the alert contract's closed sets (``subject.dimension`` is free text), so
they are plain strings here, and the wire formats (``detectors.wire``) carry them as is.

>>> d = Decision("ew-1", GROUP_DISPUTE, OPEN, WARNING, FIRM, "F1", "某店", None, 0.0, 900.0, 900.0,
...              12, 1.5, 0.97, 11, ("T1",), ("闭店",))
>>> d.type == "group_dispute", decision_from_dict(dataclasses.asdict(d)) == d
(True, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from schemas.alerts import MAX_EVIDENCE, AlertType, Severity, Status

# The dimensions a key is counted under.
FIRM, PRODUCT, ISSUE, TERM = "firm", "product", "issue", "term"
DISTRICT = "district"  # a district's whole volume (its 6-digit code): a surge there is a regional concentrated demand
PLATFORM_TERM = "platform_term"  # a named practice among one platform's tickets: "京选商城|七天无理由"
FIRM_ISSUE = "firm_issue"  # a firm's issue: judged inside the firm's key, never counted alone
COMPLAINANT = "complainant"  # a complainant's keyed pseudonym (detectors.complainant_stage; never counted here)
COUNTED = (FIRM, PRODUCT, ISSUE, TERM, PLATFORM_TERM, DISTRICT)  # the dimensions the aggregator counts under

# The alert types the engine raises, the statuses of an episode, the severities.
GROUP_DISPUTE, CONCENTRATED_DEMAND, TERM_SURGE = (
    AlertType.GROUP_DISPUTE, AlertType.CONCENTRATED_DEMAND, AlertType.TERM_SURGE)
ABNORMAL_COMPLAINANT = AlertType.ABNORMAL_COMPLAINANT
OPEN, UPDATE, RESOLVED = Status.OPEN, Status.UPDATE, Status.RESOLVED
INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL
SEVERITY_RANK = {INFO: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Decision:
    """One alert event the core decided on; alerts/ renders it into contract v1."""

    alert_id: str
    type: str  # an AlertType
    status: str  # a Status
    severity: str  # a Severity
    dimension: str
    key: str
    label: str
    district_code: str | None
    window_start: float
    window_end: float
    raised_at: float
    observed: int
    expected: float
    score: float
    distinct_complainants: int
    ticket_ids: tuple[str, ...]  # at most MAX_EVIDENCE
    top_terms: tuple[str, ...]
    firms: int = 0  # distinct firms in the window (for demands across firms)
    amount: float = 0.0
    top_issue: str | None = None
    members: tuple[str, ...] = ()  # abnormal_complainant: every member's pseudonym (a ring names them all)


def decision_order(d: Decision) -> tuple[float, str, str]:
    """A total order on decisions that does not depend on partitions or arrival."""
    return (d.raised_at, d.alert_id, d.status)


def decision_from_dict(v: dict[str, Any]) -> Decision:
    """A :class:`Decision` back from ``dataclasses.asdict`` (JSON turns tuples into lists)."""
    return Decision(**{**v, "ticket_ids": tuple(v["ticket_ids"]), "top_terms": tuple(v["top_terms"]),
                       "members": tuple(v.get("members", ()))})


__all__ = [
    "ABNORMAL_COMPLAINANT", "COMPLAINANT", "CONCENTRATED_DEMAND", "COUNTED", "CRITICAL", "DISTRICT", "FIRM", "FIRM_ISSUE", "GROUP_DISPUTE", "INFO", "ISSUE",
    "MAX_EVIDENCE", "OPEN", "PLATFORM_TERM", "PRODUCT", "RESOLVED", "SEVERITY_RANK", "TERM", "TERM_SURGE",
    "UPDATE", "WARNING", "Decision", "decision_from_dict", "decision_order",
]
