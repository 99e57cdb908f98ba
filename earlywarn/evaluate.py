"""Scoring alerts against the simulator's labelled incidents: precision, recall, delay, false-alert rate.

Scoring only: whoever runs the detectors hands :func:`score` the alert-contract-v1 dicts
they produced for one scenario, with that scenario's :class:`~earlywarn.simulate.Incident`
labels. Reports of several scenarios combine with :meth:`Report.merge`.

Rules (each is a choice; the reasons are in the comments where they are applied):

* **One alert per ``alert_id``.** Its first ``open`` event (earliest ``raised_at``) stands
  for it; ``update`` and ``resolved`` events of the same id are not more alerts. An id seen
  only as ``update`` is counted once from its earliest update; one seen only as
  ``resolved`` is ignored.
* **Match.** An alert matches an incident when the types agree (``group_dispute`` ↔
  ``group_dispute``, ``concentrated_demand`` ↔ ``concentrated_demand``), its
  ``subject.key`` is one of ``incident.keys``, and ``raised_at`` lies in ``[start_ts,
  end_ts + grace]``. For group disputes a firm-issue key ``"K|issue"`` also matches a
  firm incident keyed ``K`` and a firm key ``K`` matches a firm-issue incident
  ``"K|issue"``: both name the firm a duty officer must act on. For concentrated demands
  a practice at one platform, ``"P|term"``, matches an incident keyed ``term``.
* **Cross-type.** An alert of the *other* scored type that would match an incident (a
  concentrated demand raised on a prepaid-card closure's firm, say) is a cross-type hit:
  reported, neither true nor false. It points at the right episode, so counting it false
  would punish a detector for a labelling judgement; counting it true would let one type
  earn the other's recall.
* **False alerts** are scored alerts matching no real incident either way. Those that
  fall on a decoy (its keys and window, firm-issue relaxation included) are attributed
  to that decoy family. The rate is false alerts per 100 000 background tickets (every
  ticket not in a real incident).
* **Delay** of a detected incident: from its first ticket to the first matching alert,
  in event-time hours and in tickets (how many of the incident's tickets had
  ``received_at`` ≤ that alert's ``raised_at``). Ticket times come from
  ``Incident.ticket_ts`` or, when a label lacks them, the ``ticket_times`` mapping.
* **term_surge** alerts are counted apart: precision only, against every real
  incident's keys and window regardless of type; no target.
* Other alert types (``abnormal_complainant`` …) are listed as unscored.

>>> from earlywarn.simulate import Incident
>>> inc = Incident("i1", "prepaid_closure", "group_dispute", "firm", ("F1",), 0.0, 7200.0, 12,
...                ("t1", "t2", "t3"), (0.0, 1800.0, 3600.0))
>>> alert = {"alert_id": "a1", "type": "group_dispute", "status": "open",
...          "subject": {"dimension": "firm_issue", "key": "F1|预付卡", "label": ""},
...          "raised_at": "1970-01-01T09:00:00+08:00"}
>>> r = score([alert, dict(alert, status="update")], [inc], background_tickets=100_000)
>>> row = r.type_row("group_dispute")
>>> row.detected, row.precision, row.recall, row.delay_median_hours, row.delay_median_tickets
(1, 1.0, 1.0, 1.0, 3.0)
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from earlywarn.simulate import Incident

__all__ = [
    "CONCENTRATED_DEMAND",
    "GROUP_DISPUTE",
    "SCORED_TYPES",
    "TARGETS",
    "TERM_SURGE",
    "AlertOutcome",
    "IncidentOutcome",
    "Report",
    "TargetCheck",
    "TypeRow",
    "score",
]

GROUP_DISPUTE = "group_dispute"
CONCENTRATED_DEMAND = "concentrated_demand"
TERM_SURGE = "term_surge"
SCORED_TYPES: tuple[str, ...] = (GROUP_DISPUTE, CONCENTRATED_DEMAND)
BIG_GROUP = 12  # "group disputes of >= 12 people" have their own delay target

# (name, metric, comparison, threshold) — the targets on holdout scenarios.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("group_dispute precision", "group_dispute.precision", ">=", 0.9),
    ("group_dispute recall", "group_dispute.recall", ">=", 0.95),
    ("concentrated_demand precision", "concentrated_demand.precision", ">=", 0.9),
    ("concentrated_demand recall", "concentrated_demand.recall", ">=", 0.95),
    ("group_dispute >=12 people median delay (h)", "group_dispute_12.delay_median_hours", "<=", 2.0),
    ("false alerts per 100k background tickets", "all.false_per_100k", "<=", 1.0),
)


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """How one alert (one ``alert_id``) was judged.

    ``verdict``: ``true``, ``false`` or ``cross_type`` for the scored types;
    ``term_true`` / ``term_false`` for term surges; ``unscored`` otherwise.
    """

    alert_id: str
    type: str
    key: str
    raised_ts: float
    verdict: str
    incident_ids: tuple[str, ...] = ()
    decoy_family: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentOutcome:
    """How one labelled incident (or decoy) fared."""

    incident_id: str
    family: str
    expected_type: str | None
    people: int
    tickets: int
    detected: bool
    delay_hours: float | None = None
    delay_tickets: int | None = None
    alerts: int = 0  # matching alerts of its type (more than one: redundant pushes)
    cross_type: int = 0
    decoy_hits: int = 0  # for decoys: false alerts on it


@dataclass(frozen=True, slots=True)
class TypeRow:
    """One line of the report (``None``: undefined, e.g. precision with no alerts)."""

    type: str
    incidents: int
    detected: int
    precision: float | None
    recall: float | None
    delay_median_hours: float | None
    delay_worst_hours: float | None
    delay_median_tickets: float | None
    delay_worst_tickets: int | None
    alerts: int  # true + false (cross-type hits are neither)
    true_alerts: int
    false_alerts: int
    cross_type: int
    false_per_100k: float | None


@dataclass(frozen=True, slots=True)
class TargetCheck:
    name: str
    value: float | None
    comparison: str
    target: float
    ok: bool


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _first_events(alerts: Iterable[Mapping[str, Any]]) -> list[tuple[float, Mapping[str, Any]]]:
    """One (raised_ts, event) per alert_id: its earliest open, else its earliest update."""
    best: dict[str, tuple[int, float, int, Mapping[str, Any]]] = {}
    for n, a in enumerate(alerts):
        status = a.get("status", "open")
        if status == "resolved":
            continue
        try:
            aid, raised = a["alert_id"], _ts(a["raised_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"alert #{n} lacks a usable alert_id or raised_at: {exc!r}") from exc
        rank = 0 if status == "open" else 1  # an open always beats an update
        cur = best.get(aid)
        if cur is None or (rank, raised, n) < cur[:3]:
            best[aid] = (rank, raised, n, a)
    return sorted(((raised, a) for _r, raised, _n, a in best.values()), key=lambda x: (x[0], str(x[1]["alert_id"])))


def _key_match(key: str, keys: Sequence[str], group: bool) -> bool:
    if key in keys:
        return True
    if not group:
        # A practice at one platform ("京选商城|七天无理由") names the practice.
        return "|" in key and key.rpartition("|")[2] in keys
    # Firm and firm-issue name the same firm for a group dispute: "K|issue" ~ "K" both ways
    # (but "K|issue" is not "K|other": that is another firm-issue episode).
    base = key.rpartition("|")[0] if "|" in key else None
    return any(k == base or ("|" in k and k.rpartition("|")[0] == key) for k in keys)


def _in_window(inc: Incident, ts: float, grace: float) -> bool:
    return inc.start_ts <= ts <= inc.end_ts + grace


def score(
    alerts: Iterable[Mapping[str, Any]],
    incidents: Sequence[Incident],
    *,
    background_tickets: int,
    grace_hours: float = 24,
    ticket_times: Mapping[str, float] | None = None,
) -> Report:
    """Judge one scenario's alerts against its labels (see the module docstring for the rules)."""
    grace = grace_hours * 3600
    real = [i for i in incidents if i.expected_type is not None]
    decoys = [i for i in incidents if i.expected_type is None]
    first_alert: dict[str, float] = {}
    n_alerts: dict[str, int] = {}
    n_cross: dict[str, int] = {}
    n_decoy: dict[str, int] = {}
    outcomes: list[AlertOutcome] = []
    for raised, a in _first_events(alerts):
        kind = str(a.get("type", ""))
        key = str((a.get("subject") or {}).get("key", ""))
        aid = str(a["alert_id"])
        if kind in SCORED_TYPES:
            hits = [
                i for i in real
                if i.expected_type == kind and _in_window(i, raised, grace)
                and _key_match(key, i.keys, kind == GROUP_DISPUTE)
            ]  # fmt: skip
            if hits:
                for i in hits:
                    n_alerts[i.incident_id] = n_alerts.get(i.incident_id, 0) + 1
                    first_alert.setdefault(i.incident_id, raised)  # alerts come in raised order
                outcomes.append(AlertOutcome(aid, kind, key, raised, "true", tuple(i.incident_id for i in hits)))
                continue
            cross = [
                i for i in real
                if i.expected_type in SCORED_TYPES and i.expected_type != kind and _in_window(i, raised, grace)
                and _key_match(key, i.keys, GROUP_DISPUTE in (kind, i.expected_type))
            ]  # fmt: skip
            if cross:
                for i in cross:
                    n_cross[i.incident_id] = n_cross.get(i.incident_id, 0) + 1
                outcomes.append(AlertOutcome(aid, kind, key, raised, "cross_type", tuple(i.incident_id for i in cross)))
                continue
            fooled = [i for i in decoys if _in_window(i, raised, grace) and _key_match(key, i.keys, True)]
            for i in fooled:
                n_decoy[i.incident_id] = n_decoy.get(i.incident_id, 0) + 1
            outcomes.append(
                AlertOutcome(aid, kind, key, raised, "false", tuple(i.incident_id for i in fooled),
                             fooled[0].family if fooled else None)  # fmt: skip
            )
        elif kind == TERM_SURGE:
            hits = [i for i in real if _in_window(i, raised, grace) and _key_match(key, i.keys, False)]
            verdict = "term_true" if hits else "term_false"
            outcomes.append(AlertOutcome(aid, kind, key, raised, verdict, tuple(i.incident_id for i in hits)))
        else:
            outcomes.append(AlertOutcome(aid, kind, key, raised, "unscored"))

    results: list[IncidentOutcome] = []
    for i in incidents:
        times = sorted(i.ticket_ts) if i.ticket_ts else sorted(
            ticket_times[t] for t in i.ticket_ids if ticket_times is not None and t in ticket_times
        )  # fmt: skip
        raised = first_alert.get(i.incident_id)
        delay_h = delay_n = None
        if raised is not None:
            delay_h = (raised - i.start_ts) / 3600
            delay_n = bisect.bisect_right(times, raised) if times else None
        results.append(
            IncidentOutcome(
                i.incident_id, i.family, i.expected_type, i.people, len(i.ticket_ids), raised is not None,
                delay_h, delay_n, n_alerts.get(i.incident_id, 0), n_cross.get(i.incident_id, 0),
                n_decoy.get(i.incident_id, 0),
            )  # fmt: skip
        )
    return Report(tuple(results), tuple(outcomes), background_tickets, grace_hours, accounts=accounts(alerts))


_PEOPLE_IN_SUMMARY = re.compile(r"(\d+)名消费者")
_TIMES_IN_SUMMARY = re.compile(r"(\d+)人次")


def accounts(alerts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How faithfully the alert events account for their episodes (issue 16, item 7).

    ``resolved``: resolved events; ``below_open``: resolved events whose peak (observed) or
    people are below an earlier event's of the same alert; ``no_evidence``: resolved events
    with no ticket ids; ``summary_mismatch``: events whose summary states a number of people
    that is none of its people fields, or fewer person-times than people.

    >>> a = {"alert_id": "a", "status": "open", "observed": 5, "distinct_complainants": 5,
    ...      "ticket_ids": ["t"], "summary": "有5名消费者反映问题"}
    >>> accounts([a, dict(a, status="resolved", observed=5, distinct_complainants=0, ticket_ids=[],
    ...                   summary="累计0名消费者")])
    {'events': 2, 'resolved': 1, 'below_open': 1, 'no_evidence': 1, 'summary_mismatch': 0}
    """
    out = {"events": 0, "resolved": 0, "below_open": 0, "no_evidence": 0, "summary_mismatch": 0}
    seen: dict[str, tuple[int, int]] = {}
    for a in sorted(alerts, key=lambda a: (str(a.get("raised_at", "")), a.get("status") == "resolved")):
        out["events"] += 1
        obs, people = int(a.get("observed", 0)), int(a.get("distinct_complainants", 0))
        aid = str(a.get("alert_id"))
        text = str(a.get("summary", ""))
        said = [int(x) for x in _PEOPLE_IN_SUMMARY.findall(text)]
        times = [int(x) for x in _TIMES_IN_SUMMARY.findall(text)]
        if any(x not in (obs, people) for x in said) or any(t < max(said, default=0) for t in times):
            out["summary_mismatch"] += 1
        if a.get("status") == "resolved":
            out["resolved"] += 1
            before = seen.get(aid)
            if before is not None and (obs < before[0] or people < before[1]):
                out["below_open"] += 1
            if not a.get("ticket_ids"):
                out["no_evidence"] += 1
        else:
            o, p = seen.get(aid, (0, 0))
            seen[aid] = (max(o, obs), max(p, people))
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _md(headers: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """A padded Markdown table: readable as fixed-width text and as rendered Markdown."""
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.ljust(w) if n < right else c.rjust(w) for n, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if n >= right else ":" + "-" * (w + 1)) for n, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


@dataclass(frozen=True)
class Report:
    """Everything :func:`score` decided, per incident and per alert; summaries are computed."""

    incidents: tuple[IncidentOutcome, ...]
    alerts: tuple[AlertOutcome, ...]
    background_tickets: int
    grace_hours: float = 24
    scenarios: int = field(default=1)
    accounts: dict[str, int] = field(default_factory=dict)  # see accounts()

    @classmethod
    def merge(cls, reports: Iterable[Report]) -> Report:
        """Several scenarios' reports as one (medians over all their incidents)."""
        parts = list(reports)
        if not parts:
            return cls((), (), 0)
        return cls(
            tuple(o for r in parts for o in r.incidents),
            tuple(o for r in parts for o in r.alerts),
            sum(r.background_tickets for r in parts),
            parts[0].grace_hours,
            sum(r.scenarios for r in parts),
            {k: sum(r.accounts.get(k, 0) for r in parts) for k in parts[0].accounts},
        )

    # ---- summaries -------------------------------------------------------------------

    def _row(self, name: str, incs: Sequence[IncidentOutcome], alert_types: Sequence[str]) -> TypeRow:
        mine = [a for a in self.alerts if a.type in alert_types]
        true = sum(a.verdict == "true" for a in mine)
        false = sum(a.verdict == "false" for a in mine)
        cross = sum(a.verdict == "cross_type" for a in mine)
        found = [i for i in incs if i.detected]
        hours = [i.delay_hours for i in found if i.delay_hours is not None]
        counts = [i.delay_tickets for i in found if i.delay_tickets is not None]
        per_100k = false / self.background_tickets * 1e5 if self.background_tickets and alert_types else None
        return TypeRow(
            type=name,
            incidents=len(incs),
            detected=len(found),
            precision=_ratio(true, true + false) if alert_types else None,
            recall=_ratio(len(found), len(incs)),
            delay_median_hours=statistics.median(hours) if hours else None,
            delay_worst_hours=max(hours) if hours else None,
            delay_median_tickets=float(statistics.median(counts)) if counts else None,
            delay_worst_tickets=max(counts) if counts else None,
            alerts=true + false,
            true_alerts=true,
            false_alerts=false,
            cross_type=cross,
            false_per_100k=per_100k,
        )

    def type_row(self, alert_type: str) -> TypeRow:
        """The row of one scored type."""
        return self._row(alert_type, [i for i in self.incidents if i.expected_type == alert_type], (alert_type,))

    def big_group_row(self) -> TypeRow:
        """Group disputes of >= 12 people: their recall and delay (alert columns left empty)."""
        incs = [i for i in self.incidents if i.expected_type == GROUP_DISPUTE and i.people >= BIG_GROUP]
        return self._row(f"{GROUP_DISPUTE} >={BIG_GROUP} people", incs, ())

    def all_row(self) -> TypeRow:
        incs = [i for i in self.incidents if i.expected_type in SCORED_TYPES]
        return self._row("all scored", incs, SCORED_TYPES)

    def term_surge(self) -> dict[str, Any]:
        terms = [a for a in self.alerts if a.type == TERM_SURGE]
        right = sum(a.verdict == "term_true" for a in terms)
        return {"alerts": len(terms), "matching": right, "precision": _ratio(right, len(terms))}

    def rows(self) -> list[TypeRow]:
        return [self.type_row(GROUP_DISPUTE), self.big_group_row(), self.type_row(CONCENTRATED_DEMAND), self.all_row()]

    def families(self) -> list[dict[str, Any]]:
        """Per incident family: recall and delay; per decoy family: how many were alerted on."""
        out = []
        for fam in sorted({i.family for i in self.incidents}, key=lambda f: (f.startswith("decoy"), f)):
            incs = [i for i in self.incidents if i.family == fam]
            found = [i for i in incs if i.detected]
            hours = [i.delay_hours for i in found if i.delay_hours is not None]
            out.append({
                "family": fam,
                "expected_type": incs[0].expected_type,
                "incidents": len(incs),
                "detected": len(found) if incs[0].expected_type else None,
                "recall": _ratio(len(found), len(incs)) if incs[0].expected_type else None,
                "delay_median_hours": statistics.median(hours) if hours else None,
                "delay_worst_hours": max(hours) if hours else None,
                "people_median": statistics.median(i.people for i in incs),
                "redundant_alerts": sum(max(0, i.alerts - 1) for i in incs),
                "cross_type": sum(i.cross_type for i in incs),
                "false_alerts": sum(i.decoy_hits for i in incs),
                "fooled": sum(i.decoy_hits > 0 for i in incs),  # decoys with at least one false alert
                # raised before half of its tickets had come (issue 16's test for slow disputes)
                "before_half": sum(i.delay_tickets is not None and i.delay_tickets <= i.tickets / 2 for i in found),
            })  # fmt: skip
        return out

    def targets(self) -> list[TargetCheck]:
        """The product targets, checked (a missing value fails)."""
        rows = {
            GROUP_DISPUTE: self.type_row(GROUP_DISPUTE),
            CONCENTRATED_DEMAND: self.type_row(CONCENTRATED_DEMAND),
            "group_dispute_12": self.big_group_row(),
            "all": self.all_row(),
        }
        out = []
        for name, metric, comparison, target in TARGETS:
            row, attr = metric.split(".")
            value = getattr(rows[row], attr)
            ok = value is not None and (value >= target if comparison == ">=" else value <= target)
            out.append(TargetCheck(name, value, comparison, target, ok))
        return out

    def meets_targets(self) -> bool:
        return all(t.ok for t in self.targets())

    # ---- rendering -------------------------------------------------------------------

    def table(self) -> str:
        """Fixed-width (Markdown) tables: per type, per family, term surges, targets."""
        head = ("type", "incidents", "detected", "precision", "recall", "delay med h", "delay max h",
                "delay med tickets", "delay max tickets", "alerts", "false", "cross-type", "false/100k bg")  # fmt: skip
        big = self.big_group_row().type  # a subset of group disputes: its alert columns mean nothing

        def alerts_cols(r: TypeRow) -> tuple[str, str, str]:
            return ("-", "-", "-") if r.type == big else (_fmt(r.alerts), _fmt(r.false_alerts), _fmt(r.cross_type))

        rows = [
            (r.type, _fmt(r.incidents), _fmt(r.detected), _fmt(r.precision), _fmt(r.recall),
             _fmt(r.delay_median_hours, 1), _fmt(r.delay_worst_hours, 1), _fmt(r.delay_median_tickets, 1),
             _fmt(r.delay_worst_tickets), *alerts_cols(r), _fmt(r.false_per_100k))
            for r in self.rows()
        ]  # fmt: skip
        fam_head = ("family", "expected", "incidents", "detected", "recall", "delay med h", "delay max h",
                    "median people", "extra alerts", "cross-type", "false alerts (on decoys)",
                    "raised before half")  # fmt: skip
        fam_rows = [
            (f["family"], f["expected_type"] or "none", _fmt(f["incidents"]), _fmt(f["detected"]), _fmt(f["recall"]),
             _fmt(f["delay_median_hours"], 1), _fmt(f["delay_worst_hours"], 1), _fmt(float(f["people_median"]), 0),
             _fmt(f["redundant_alerts"]), _fmt(f["cross_type"]),
             f"{f['false_alerts']} (on {f['fooled']})" if f["expected_type"] is None else "-",
             _fmt(f["before_half"]) if f["expected_type"] else "-")
            for f in self.families()
        ]  # fmt: skip
        ts = self.term_surge()
        term = _md(("term_surge", "alerts", "matching an incident", "precision"),
                   [("term_surge", _fmt(ts["alerts"]), _fmt(ts["matching"]), _fmt(ts["precision"]))])  # fmt: skip
        tgt = _md(("target", "value", "goal", "ok"),
                  [(t.name, _fmt(t.value), f"{t.comparison} {t.target:g}", "yes" if t.ok else "NO")
                   for t in self.targets()])  # fmt: skip
        unscored = sum(a.verdict == "unscored" for a in self.alerts)
        intro = (
            f"{self.scenarios} scenario(s), {self.background_tickets:,} background tickets, "
            f"grace {self.grace_hours:g} h; {unscored} alert(s) of unscored types."
        )
        acc = self.accounts
        books = _md(("alert events", "resolved", "resolved below an earlier event", "resolved without evidence",
                     "summary numbers not the alert's"),
                    [tuple(_fmt(acc.get(k)) for k in ("events", "resolved", "below_open", "no_evidence",
                                                       "summary_mismatch"))]) if acc else ""  # fmt: skip
        parts = [intro, _md(head, rows), _md(fam_head, fam_rows, right=2), term, tgt] + ([books] if books else [])
        return "\n\n".join(parts) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The summaries (and the false alerts and missed incidents, for digging), JSON-ready."""
        return {
            "scenarios": self.scenarios,
            "background_tickets": self.background_tickets,
            "grace_hours": self.grace_hours,
            "types": [asdict(r) for r in self.rows()],
            "term_surge": self.term_surge(),
            "families": self.families(),
            "targets": [asdict(t) for t in self.targets()],
            "accounts": self.accounts,
            "false_alerts": [asdict(a) for a in self.alerts if a.verdict == "false"],
            "missed": [i.incident_id for i in self.incidents if i.expected_type and not i.detected],
        }
