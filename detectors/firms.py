"""Abnormal firms (异常涉诉企业): firms whose complaints depart, for weeks, from their peers and their own past.

Judged once a day (:meth:`FirmJudge.judge` at a local midnight) over the last
``recent_days`` (14): a repeat offender, not a one-day spike, which group disputes cover.
Each firm keeps one record per local day (complaints, reports, consultations, money
involved, tickets per issue and per product) for ``history_days`` (56).

A firm is judged when it has ``min_claims`` (6) claims in the window and the records
reach ``min_past_days`` (14) before it. What is judged, each as a tail probability
against a false-alarm budget (``false_alarms_per_day`` spread over every (firm, measure)
judged that day):

=================  =========================================================================
measure            observed vs expected
=================  =========================================================================
``volume``         claims (complaints + reports) in the window vs a Gamma-Poisson
                   expectation: the firm's own earlier days, with its peers' rate (same
                   category and district; a Gamma fitted by moments over them) as the
                   prior, times its category's city-wide move between its past and the
                   window (the firm left out: a season lifts every firm of a category);
                   Negative Binomial tail (``detectors.tail``), its shape capped by how
                   much firms' rates drift between fortnights
``peer_volume``    the same count vs its peers' counts in the window (NB fitted by moments
                   over the peers, the firm left out); never enough alone (a big firm
                   always departs from its peers)
``issue_mix``      its most frequent issue in the window vs that issue's share in its past
``claim_share``    claims among all its tickets (complaints and reports vs consultations)
``amount``         claims naming more money than its category's 90th percentile sum
=================  =========================================================================

The three shares are Beta-Binomial tails: the firm's share is a Beta whose prior is fitted
by moments over its category's firms (how much they differ) and updated by its own past
without its busiest days (a burst there says nothing of its usual mix).

A measure fires only when it still fires, at ``spread_p`` (0.001), with the window's
``spread_days`` (3) busiest days left out: that is what makes the firm a repeat offender
rather than a spike or a group dispute of a day or two. Everything is a function of the
day records, so batching and arrival order do not matter.

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
from dataclasses import dataclass, field
from typing import Any

from detectors.baseline import LOCAL_OFFSET, Prior, predictive
from detectors.tail import log_nb_sf, log_poisson_sf
from schemas.alerts import MAX_EVIDENCE

DAY = 86400.0


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


@dataclass(slots=True)
class _Day:
    claims: int = 0
    consultations: int = 0
    amount: float = 0.0
    amounts: list[float] = field(default_factory=list)
    issues: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # the claims' ticket ids
    people: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Firm:
    category: str | None
    district: str | None
    label: str | None
    days: dict[int, _Day] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Measure:
    """One way the firm departs: observed against expected, and how surprising (−log10 p)."""

    name: str
    observed: float
    expected: float
    score: float
    detail: str = ""


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
        self._firms: dict[str, _Firm] = {}
        self._first_day: int | None = None  # the first day anything was seen: a firm's past starts there

    def add(self, t: FirmTicket) -> None:
        f = self._firms.get(t.firm)
        if f is None:
            f = self._firms[t.firm] = _Firm(t.category, t.district, t.label)
        else:  # first-seen category and district stay; the least label, whatever the order
            f.category = f.category or t.category
            f.district = f.district or t.district
            if t.label and (f.label is None or t.label < f.label):
                f.label = t.label
        day = local_day(t.ts)
        self._first_day = day if self._first_day is None else min(self._first_day, day)
        d = f.days.setdefault(day, _Day())
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
        views: dict[str, _View] = {}
        for key, f in self._firms.items():
            days = f.days
            recent = [days.get(d) or _EMPTY for d in range(rlo, end)]
            past = [days[d] for d in range(max(hlo, self._first_day), rlo) if d in days]
            views[key] = _View(f, recent, past)
        cats: dict[str | None, _Totals] = {}
        groups: dict[tuple[str | None, str | None], list[str]] = {}
        for key, v in views.items():
            cats.setdefault(v.firm.category, _Totals()).add(v)
            groups.setdefault((v.firm.category, v.firm.district), []).append(key)
        judged = sorted(k for k, v in views.items() if v.claims >= self.min_claims)
        lb = math.log(self.false_alarms_per_day / max(1, _MEASURES * len(judged)))
        r_cap = _drift_shape(views.values(), cats, past_days, self.recent_days)
        cuts = {c: _cut(t.amounts) for c, t in cats.items()}
        members: dict[str | None, list[_View]] = {}
        for v in views.values():
            members.setdefault(v.firm.category, []).append(v)
        priors = _Priors(members, cuts)
        out = []
        for key in judged:
            v = views[key]
            peers = [views[p] for p in groups[(v.firm.category, v.firm.district)] if p != key]
            measures, expected = self._measures(v, peers, cats[v.firm.category], cuts[v.firm.category], priors,
                                                past_days, lb, r_cap)
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

    def _measures(self, v: _View, peers: list[_View], cat: _Totals, cut: float | None, priors: _Priors,
                  past_days: int, lb: float, r_cap: float) -> tuple[list[Measure], float]:
        """The measures that depart, and the claims expected from its own past."""
        recent, past, n = v.recent, v.past, v.claims
        days = self.recent_days
        ls = math.log(self.spread_p)
        by_claims = sorted(range(days), key=lambda i: -recent[i].claims)[:self.spread_days]
        n_wo = n - sum(recent[i].claims for i in by_claims)  # the busiest days left out
        keep = (days - self.spread_days) / days
        out: list[Measure] = []
        # Peers' claims over the window: the firm's prior rate, and what it is compared with.
        peer_counts = [p.claims for p in peers]
        pm = sum(peer_counts) / len(peer_counts) if peer_counts else 0.0
        pv = sum((c - pm) ** 2 for c in peer_counts) / max(len(peer_counts) - 1, 1)
        # A Gamma by moments over the peers' counts: peers far apart (a platform among small
        # shops) make a weak prior, however high their mean. Its weight is at least one
        # claim's worth (a moment fit of skewed rates piles its mass near zero, which would
        # make a quiet firm's first few claims look impossible) and at most ``prior_days``.
        rate = max(pm, 0.5) / days
        weight = 1.0 / rate
        if pv > pm > 0:
            weight = max(weight, pm / (pv - pm) * days)  # shape / rate per day = (pm² / (pv - pm)) / (pm / days)
        prior = Prior(rate, min(weight, self.prior_days))
        # volume vs its own past (peers as prior), scaled by how its category moved meanwhile
        hist = v.past_claims
        growth = cat.growth(v, past_days, days)
        r, mean = predictive(float(hist), float(past_days), prior, float(days))
        mean *= growth
        r = min(r, r_cap)  # a firm's rate drifts between fortnights however long its history
        lp = _log_sf(n, r, mean)
        if lp < lb and _log_sf(n_wo, r, mean * keep) < ls:
            out.append(Measure("volume", n, round(mean, 2), _score(lp),
                               f"{past_days} earlier days: {hist}; category ×{growth:.2f}"))
        # volume vs peers now
        if len(peer_counts) >= 3:
            pmean = max(pm, 0.5 / len(peer_counts))
            pr = pmean * pmean / (pv - pmean) if pv > pmean * 1.0001 else math.inf
            lp = _log_sf(n, pr, pmean)
            if lp < lb and _log_sf(n_wo, pr, pmean * keep) < ls:
                out.append(Measure("peer_volume", n, round(pmean, 2), _score(lp), f"{len(peer_counts)} peers"))
        # Shares are judged against its past without its busiest days: a burst there (a group
        # dispute about one issue) says nothing of its usual mix.
        calm = sorted(past, key=lambda d: d.claims)[:max(0, len(past) - self.spread_days)]
        # issue mix: the most frequent recent issue vs its past share, shrunk toward its category's
        issues: dict[str, list[int]] = {}
        for i, d in enumerate(recent):
            for k, x in d.issues.items():
                issues.setdefault(k, [0] * days)[i] += x
        if issues:
            top = min(issues, key=lambda k: (-sum(issues[k]), k))
            per_day = issues[top]
            x = sum(per_day)
            total = [sum(d.issues.values()) for d in recent]
            wo = sorted(range(days), key=lambda i: -per_day[i])[:self.spread_days]
            x_wo = x - sum(per_day[i] for i in wo)
            t_wo = sum(total) - sum(total[i] for i in wo)
            past_total = sum(sum(d.issues.values()) for d in calm)
            past_x = sum(d.issues.get(top, 0) for d in calm)
            # Its share of the issue: its category's firms' spread of shares (the prior), then its own past.
            a0, b0 = priors.issue(v.firm.category, top)
            a, b = a0 + past_x, b0 + past_total - past_x
            exp = a / (a + b) * sum(total)
            lp = _log_bb_sf(x, sum(total), a, b) + math.log(len(issues))  # the top of several issues
            if lp < lb and _log_bb_sf(x_wo, t_wo, a, b) < ls:
                out.append(Measure("issue_mix", x, round(exp, 2), _score(lp), f"issue {top}: {x} of {sum(total)}"))
        # share of claims among all its tickets (complaints and reports vs consultations)
        cons = [d.consultations for d in recent]
        total_t = n + sum(cons)
        calm_claims = sum(d.claims for d in calm)
        past_all = calm_claims + sum(d.consultations for d in calm)
        a0, b0 = priors.claim_share(v.firm.category)
        a, b = a0 + calm_claims, b0 + past_all - calm_claims
        lp = _log_bb_sf(n, total_t, a, b)
        t_wo = total_t - sum(recent[i].claims + cons[i] for i in by_claims)
        if total_t > n and lp < lb and _log_bb_sf(n_wo, t_wo, a, b) < ls:
            out.append(Measure("claim_share", n, round(a / (a + b) * total_t, 2), _score(lp),
                               f"{n} claims of {total_t} tickets"))
        # money: claims above its category's 90th percentile sum vs its own past share
        if cut is not None:
            big = [sum(1 for a in d.amounts if a > cut) for d in recent]
            k = sum(big)
            with_amount = sum(len(d.amounts) for d in recent)
            past_big = sum(1 for d in calm for a in d.amounts if a > cut)
            past_with = sum(len(d.amounts) for d in calm)
            # Its share of large sums: its category's firms' spread of shares (the prior), then its own past.
            a0, b0 = priors.amount(v.firm.category)
            a, b = a0 + past_big, b0 + past_with - past_big
            wo = sorted(range(days), key=lambda i: -big[i])[:self.spread_days]
            k_wo = k - sum(big[i] for i in wo)
            w_wo = with_amount - sum(len(recent[i].amounts) for i in wo)
            lp = _log_bb_sf(k, with_amount, a, b)
            if lp < lb and _log_bb_sf(k_wo, w_wo, a, b) < ls:
                out.append(Measure("amount", k, round(a / (a + b) * with_amount, 2), _score(lp),
                                   f"above {cut:.0f} CNY"))
        return out, mean


_MEASURES = 5  # measures judged per firm: the budget is spread over them
_EMPTY = _Day()


@dataclass(slots=True)
class _View:
    """A firm's days as one judgement sees them: the window day by day, and its past."""

    firm: _Firm
    recent: list[_Day]
    past: list[_Day]
    claims: int = 0
    past_claims: int = 0
    consultations: int = 0
    issue_total: int = 0

    def __post_init__(self) -> None:
        self.claims = sum(d.claims for d in self.recent)
        self.past_claims = sum(d.claims for d in self.past)
        self.consultations = sum(d.consultations for d in self.recent)
        self.issue_total = sum(sum(d.issues.values()) for d in self.recent)

    def issue_count(self, issue: str) -> int:
        return sum(d.issues.get(issue, 0) for d in self.recent)


@dataclass(slots=True)
class _Totals:
    """A category's claims city-wide, in the window and before it, and the sums they named."""

    claims: int = 0
    past_claims: int = 0
    amounts: list[float] = field(default_factory=list)

    def add(self, v: _View) -> None:
        self.claims += v.claims
        self.past_claims += v.past_claims
        for d in (*v.recent, *v.past):
            self.amounts.extend(d.amounts)

    def growth(self, v: _View, past_days: int, recent_days: int) -> float:
        """How the category's daily claims moved from the past to the window, the firm left out
        (a season or a festival lifts every firm of a category: no firm stands out by it).
        Ten pseudo-claims at no change keep a small category from swinging it."""
        recent = self.claims - v.claims
        past = (self.past_claims - v.past_claims) * recent_days / past_days
        return (recent + 10.0) / (past + 10.0)


class _Priors:
    """Beta priors for a firm's shares (of an issue, of claims among its tickets, of large
    sums), fitted by moments over the past of its category's firms: how much firms of the
    category differ is what a firm's own short past is weighed against. Fitted on demand."""

    def __init__(self, members: dict[str | None, list[_View]], cuts: dict[str | None, float | None]) -> None:
        self._members = members
        self._cuts = cuts
        self._fitted: dict[tuple[str, str | None, str | None], tuple[float, float]] = {}

    def _get(self, what: str, category: str | None, issue: str | None, pairs: Any) -> tuple[float, float]:
        key = (what, category, issue)
        if key not in self._fitted:
            self._fitted[key] = _beta_prior(list(pairs()))
        return self._fitted[key]

    def issue(self, category: str | None, issue: str) -> tuple[float, float]:
        vs = self._members.get(category, [])
        return self._get("issue", category, issue, lambda: (
            (sum(d.issues.get(issue, 0) for d in v.past), sum(sum(d.issues.values()) for d in v.past)) for v in vs))

    def claim_share(self, category: str | None) -> tuple[float, float]:
        vs = self._members.get(category, [])
        return self._get("claims", category, None, lambda: (
            (v.past_claims, v.past_claims + sum(d.consultations for d in v.past)) for v in vs))

    def amount(self, category: str | None) -> tuple[float, float]:
        vs, cut = self._members.get(category, []), self._cuts.get(category)
        return self._get("amount", category, None, lambda: (
            (sum(1 for d in v.past for a in d.amounts if cut is not None and a > cut),
             sum(len(d.amounts) for d in v.past)) for v in vs))


_PRIOR_MIN, _PRIOR_MAX = 2.0, 100.0  # a prior weighs at least 2 and at most 100 pseudo-tickets


def _beta_prior(pairs: list[tuple[int, int]]) -> tuple[float, float]:
    """Beta(a, b) for firms' shares, by moments from (k, n) of each firm with n >= 5: its
    mean is the pooled share, its weight a + b how little firms differ beyond binomial noise
    (between ``_PRIOR_MIN`` and ``_PRIOR_MAX`` pseudo-tickets).

    >>> a, b = _beta_prior([(10, 100)] * 20); round(a / (a + b), 3), round(a + b, 1)   # alike firms: the strongest
    (0.1, 100.0)
    >>> a, b = _beta_prior([(0, 50), (50, 50)] * 10); round(a + b, 1)          # all or nothing: the weakest
    2.0
    """
    pairs = [(k, n) for k, n in pairs if n >= 5]
    big_k, big_n = sum(k for k, _ in pairs), sum(n for _, n in pairs)
    m = (big_k + 0.5) / (big_n + 1.0)
    if len(pairs) < 5:
        return m * _PRIOR_MIN, (1 - m) * _PRIOR_MIN
    spread = sum(n * (k / n - m) ** 2 for k, n in pairs) / big_n  # what binomial noise alone gives: m(1-m)·count/N
    between = spread - m * (1 - m) * len(pairs) / big_n
    weight = m * (1 - m) / between - 1 if between > 0 else _PRIOR_MAX
    weight = min(max(weight, _PRIOR_MIN), _PRIOR_MAX)
    return m * weight, (1 - m) * weight


def _cut(amounts: list[float]) -> float | None:
    """The 90th percentile of a category's sums, when it has 30 or more."""
    if len(amounts) < 30:
        return None
    s = sorted(amounts)
    return s[int(0.9 * (len(s) - 1))]


def _drift_shape(views: Iterable[_View], cats: dict[str | None, _Totals], past_days: int, recent_days: int) -> float:
    """The NB shape that allows for how much firms' rates drift between the past and the
    recent window beyond their category's move: 1 / phi^2, phi the robust spread (1.4826 MAD)
    of log(recent / past rate) over firms with 20+ claims in both (their Poisson noise is
    small beside the drift)."""
    logs = []
    for v in views:
        a, b = v.claims, v.past_claims
        if a >= 20 and b >= 20:
            g = cats[v.firm.category].growth(v, past_days, recent_days)
            logs.append(math.log((a / recent_days) / (b / past_days) / g))
    if len(logs) < 10:
        return math.inf
    logs.sort()
    med = logs[len(logs) // 2]
    mad = sorted(abs(x - med) for x in logs)[len(logs) // 2]
    phi = 1.4826 * mad
    return 1.0 / (phi * phi) if phi > 0 else math.inf


def _log_sf(k: int, r: float, mean: float) -> float:
    """log P(X >= k): Negative Binomial, or Poisson when there is no over-dispersion."""
    return log_poisson_sf(k, mean) if math.isinf(r) or r > 1e6 else log_nb_sf(k, r=r, mean=mean)

def _log_bb_sf(k: int, n: int, a: float, b: float) -> float:
    """log P(X >= k) for X ~ Beta-Binomial(n, a, b): k of n when the share is only known as Beta(a, b).

    >>> round(math.exp(_log_bb_sf(1, 1, 1.0, 3.0)), 6), _log_bb_sf(0, 5, 1.0, 1.0)
    (0.25, 0.0)
    """
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    const = math.lgamma(n + 1) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) - math.lgamma(n + a + b)
    acc = -math.inf
    for x in range(k, n + 1):
        term = (const - math.lgamma(x + 1) - math.lgamma(n - x + 1) + math.lgamma(x + a) + math.lgamma(n - x + b))
        if acc - term > 40:  # the terms only fall from here on
            break
        acc = term if acc == -math.inf else max(acc, term) + math.log1p(math.exp(-abs(acc - term)))
    return min(0.0, acc)


def _score(log_p: float) -> float:
    return round(-log_p / math.log(10), 2)


def _top(counts: dict[str, int]) -> str | None:
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None
