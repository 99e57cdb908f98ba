"""Abnormal firms (异常涉诉企业): firms whose complaints depart, for weeks, from their peers and their own past.

Judged once a day (:meth:`FirmJudge.judge` at a local midnight) over the last
``recent_days`` (14): a repeat offender, not a one-day spike, which group disputes cover.
Each firm keeps one record per local day (complaints, reports, consultations, money
involved, tickets per issue and per product) for ``history_days`` (56).

A firm is judged when it has ``min_claims`` (6) claims in the window and the records
reach ``min_past_days`` (14) before it. Five measures (``volume``, ``peer_volume``,
``issue_mix``, ``claim_share``, ``amount``; :mod:`detectors.firm_measures`) are each a tail
probability against a false-alarm budget (``false_alarms_per_day`` spread over every
(firm, measure) judged that day). A measure fires only when it still fires, at
``spread_p`` (0.001), with the window's ``spread_days`` (3) busiest days left out: that is
what makes the firm a repeat offender rather than a spike or a group dispute of a day or
two. Everything is a function of the day records, so batching and arrival order do not
matter.

>>> j = FirmJudge()
>>> day0 = 20000                                    # local day number
>>> for d in range(day0, day0 + 56):
...     for f in range(12):                         # twelve alike peers, ~1 claim a day each
...         j.add(FirmTicket(f"F{f}", d * 86400.0 - 8 * 3600 + 36000, "complaint", "餐饮服务", "310115", issue="价格"))
...     if d >= day0 + 42:                          # F0 sours for two weeks: four claims a day, on hygiene
...         for _ in range(3):
...             j.add(FirmTicket("F0", d * 86400.0 - 8 * 3600 + 40000, "complaint", "餐饮服务", "310115", issue="食品安全"))
>>> [(f.firm, sorted(m.name for m in f.measures)) for f in j.judge((day0 + 56) * 86400.0 - 8 * 3600)]
[('F0', ['issue_mix', 'peer_volume', 'volume'])]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from detectors.baseline import LOCAL_OFFSET
from detectors.firm_measures import (MEASURES, Day, Departures, FirmRecord, Measure, Priors, Totals, View,
                                     amount_cut, drift_shape)
from schemas.alerts import MAX_EVIDENCE

DAY = 86400.0
_EMPTY = Day()  # a day with nothing in it


def local_day(ts: float) -> int:
    return int((ts + LOCAL_OFFSET) // DAY)


@dataclass(frozen=True, slots=True)
class FirmTicket:
    """What the firm judge reads of one ticket."""

    firm: str
    ts: float
    kind: str  # complaint | report | consultation
    category: str | None
    district: str | None
    issue: str | None = None
    product: str | None = None
    amount: float = 0.0
    label: str | None = None
    ticket_id: str | None = None  # evidence
    person: str | None = None  # the complainant's keyed pseudonym, to count distinct people

    @classmethod
    def from_ticket(cls, ticket: Any, person: str | None) -> FirmTicket | None:
        """From a validated ``schemas.tickets.Ticket`` and its pseudonym; None when it names no firm."""
        from schemas.normalise import firm_key

        key = firm_key(ticket.firm_id, ticket.firm_name)
        if key is None:
            return None
        return cls(key, ticket.ts, getattr(ticket.kind, "value", ticket.kind), ticket.product_category,
                   ticket.district_code, ticket.issue_category, ticket.product_name, float(ticket.amount or 0.0),
                   (ticket.firm_name or "").strip() or None, ticket.ticket_id, person)


@dataclass(frozen=True, slots=True)
class FirmFinding:
    firm: str
    label: str | None
    category: str | None
    district: str | None
    window_start: float
    window_end: float
    claims: int
    amount: float
    measures: tuple[Measure, ...]
    top_issue: str | None
    top_product: str | None
    expected: float = 0.0  # claims expected in the window from its own past (and its category's move)
    people: int = 0  # distinct complainants among the claims
    ticket_ids: tuple[str, ...] = ()  # the window's claims, newest first, at most ``MAX_EVIDENCE``


class FirmJudge:
    """Day records per firm, and the daily judgement of which firms are abnormal.

    Parameters
    ----------
    recent_days, history_days
        The window judged, and how far back a firm's own past and records reach.
    false_alarms_per_day
        Firms wrongly found per day, spread over every (firm, measure) judged.
    prior_days
        Weight of the peers' rate in a firm's own expectation, in days of its own history.
    min_claims
        Claims in the window below which a firm is not judged (too few to depart for weeks).
    min_past_days
        Days of history before the window that must exist before anything is judged.
    spread_days, spread_p
        A departure must hold with the window's busiest ``spread_days`` days left out, at
        tail probability ``spread_p``: spread over the weeks, not one burst.
    """

    def __init__(self, *, recent_days: int = 14, history_days: int = 56, false_alarms_per_day: float = 0.05,
                 prior_days: float = 7.0, min_claims: int = 6, min_past_days: int = 14, spread_days: int = 3,
                 spread_p: float = 0.001) -> None:
        self.recent_days = recent_days
        self.history_days = history_days
        self.false_alarms_per_day = false_alarms_per_day
        self.prior_days = prior_days
        self.min_claims = min_claims
        self.min_past_days = min_past_days
        self.spread_days = spread_days
        self.spread_p = spread_p
        self._firms: dict[str, FirmRecord] = {}
        self._first_day: int | None = None  # the first day anything was seen: a firm's past starts there

    def add(self, t: FirmTicket) -> None:
        f = self._firms.get(t.firm)
        if f is None:
            f = self._firms[t.firm] = FirmRecord(t.category, t.district, t.label)
        else:  # first-seen category and district stay; the least label, whatever the order
            f.category = f.category or t.category
            f.district = f.district or t.district
            if t.label and (f.label is None or t.label < f.label):
                f.label = t.label
        day = local_day(t.ts)
        self._first_day = day if self._first_day is None else min(self._first_day, day)
        d = f.days.setdefault(day, Day())
        if t.kind == "consultation":
            d.consultations += 1
            return
        d.claims += 1
        if t.ticket_id:
            d.ids.append(t.ticket_id)
        if t.person:
            d.people.add(t.person)
        if t.amount > 0:
            d.amount += t.amount
            d.amounts.append(t.amount)
        if t.issue:
            d.issues[t.issue] = d.issues.get(t.issue, 0) + 1
        if t.product:
            d.products[t.product] = d.products.get(t.product, 0) + 1

    def add_many(self, ts: Iterable[FirmTicket]) -> None:
        for t in ts:
            self.add(t)

    def expire(self, at: float) -> None:
        lo = local_day(at) - self.history_days
        for key in list(self._firms):
            f = self._firms[key]
            for d in [d for d in f.days if d < lo]:
                del f.days[d]
            if not f.days:
                del self._firms[key]

    def judge(self, at: float) -> list[FirmFinding]:
        """Firms abnormal over the ``recent_days`` days ending at local midnight *at*, by firm key."""
        end = local_day(at)  # days [end - recent, end) are recent, [end - history, end - recent) the past
        rlo, hlo = end - self.recent_days, end - self.history_days
        if self._first_day is None:
            return []
        past_days = rlo - max(hlo, self._first_day)
        if past_days < self.min_past_days:
            return []
        views: dict[str, View] = {}
        for key, f in self._firms.items():
            days = f.days
            recent = [days.get(d) or _EMPTY for d in range(rlo, end)]
            past = [days[d] for d in range(max(hlo, self._first_day), rlo) if d in days]
            views[key] = View(f, recent, past)
        cats: dict[str | None, Totals] = {}
        groups: dict[tuple[str | None, str | None], list[str]] = {}
        for key, v in views.items():
            cats.setdefault(v.firm.category, Totals()).add(v)
            groups.setdefault((v.firm.category, v.firm.district), []).append(key)
        judged = sorted(k for k, v in views.items() if v.claims >= self.min_claims)
        lb = math.log(self.false_alarms_per_day / max(1, MEASURES * len(judged)))
        r_cap = drift_shape(views.values(), cats, past_days, self.recent_days)
        cuts = {c: amount_cut(t.amounts) for c, t in cats.items()}
        members: dict[str | None, list[View]] = {}
        for v in views.values():
            members.setdefault(v.firm.category, []).append(v)
        priors = Priors(members, cuts)
        departures = Departures(days=self.recent_days, past_days=past_days, spread_days=self.spread_days,
                                spread_p=self.spread_p, prior_days=self.prior_days, lb=lb, r_cap=r_cap, priors=priors)
        out = []
        for key in judged:
            v = views[key]
            peers = [views[p] for p in groups[(v.firm.category, v.firm.district)] if p != key]
            measures, expected = departures.of(v, peers, cats[v.firm.category], cuts[v.firm.category])
            # Departing from peers alone is what a big firm always does: it takes a departure from its own past.
            if any(m.name != "peer_volume" for m in measures):
                issues: dict[str, int] = {}
                products: dict[str, int] = {}
                for d in v.recent:
                    for k, x in d.issues.items():
                        issues[k] = issues.get(k, 0) + x
                    for k, x in d.products.items():
                        products[k] = products.get(k, 0) + x
                out.append(FirmFinding(
                    key, v.firm.label, v.firm.category, v.firm.district, rlo * DAY - LOCAL_OFFSET,
                    end * DAY - LOCAL_OFFSET, v.claims, round(sum(d.amount for d in v.recent), 2),
                    tuple(measures), _top(issues), _top(products), round(expected, 2),
                    len(set().union(*(d.people for d in v.recent))),
                    tuple(i for d in reversed(v.recent) for i in sorted(d.ids))[:MAX_EVIDENCE]))
        return out


def _top(counts: dict[str, int]) -> str | None:
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None
