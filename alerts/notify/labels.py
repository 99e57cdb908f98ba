"""An alert event's labels, and matchers over them (Alertmanager's syntax).

Routes, silences and inhibition rules all select alerts by matchers over a small set of
labels derived from the alert contract: ``type``, ``severity``, ``status``,
``dimension`` (``subject.dimension``), ``subject`` (its key), ``label`` (its label),
``district_code``, ``alert_id``; ``firm`` for alerts about a firm (a firm's or a firm's
issue's key), ``term`` for a term or a platform's practice, ``product`` for a product;
``product_category`` when the alert carries one (alert v1 does not yet: the label is
then empty, and ``product_category=""`` matches); ``story``, what the alert is about for
grouping: its firm when it has one, else its dimension and subject.

A matcher is ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``; a
value may be double-quoted; a regex must match the whole value, as in Alertmanager.

>>> a = {"alert_id": "ew-1", "type": "group_dispute", "status": "open", "severity": "critical",
...      "subject": {"dimension": "firm_issue", "key": "9131|退费", "label": "某健身·退费"},
...      "district_code": "310115"}
>>> labels = labels_of(a)
>>> labels["firm"], labels["district_code"], labels["product_category"]
('9131', '310115', '')
>>> [parse_matcher(m).matches(labels) for m in ('severity=~"warning|critical"', "district_code!=310104", "type=term_surge")]
[True, True, False]
>>> parse_matcher("severity=~(")
Traceback (most recent call last):
...
ValueError: severity=~(: bad regular expression: missing ), unterminated subpattern at position 0
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
LABELS = ("alert_id", "type", "status", "severity", "dimension", "subject", "label", "district_code",
          "firm", "term", "product", "product_category", "story")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def labels_of(alert: Mapping[str, Any]) -> dict[str, str]:
    """The labels routes, silences and inhibition rules match on."""
    subject = alert.get("subject") or {}
    dim, key = str(subject.get("dimension", "")), str(subject.get("key", ""))
    firm = key.rpartition("|")[0] if dim == "firm_issue" else key if dim == "firm" else ""
    term = key.rpartition("|")[2] if dim == "platform_term" else key if dim == "term" else ""
    return {
        "alert_id": str(alert.get("alert_id", "")),
        "type": str(alert.get("type", "")),
        "status": str(alert.get("status", "")),
        "severity": str(alert.get("severity", "")),
        "dimension": dim,
        "subject": key,
        "label": str(subject.get("label", "")),
        "district_code": str(alert.get("district_code") or ""),
        "firm": firm,
        "term": term,
        "product": key if dim == "product" else "",
        "product_category": str(alert.get("product_category") or ""),
        "story": f"firm:{firm}" if firm else f"{dim}:{key}",
    }


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (have == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, have) is not None) == (self.op == "=~")

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """A matcher from ``name=value`` text; ValueError saying what is wrong."""
    m = _MATCHER.match(str(text))
    if not m:
        raise ValueError(f"{text}: not a matcher (want name=value, name!=value, name=~regex or name!~regex)")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if name not in LABELS:
        raise ValueError(f"{text}: unknown label {name!r} (labels: {', '.join(LABELS)})")
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{text}: bad regular expression: {exc}") from None
    return Matcher(name, op, value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
