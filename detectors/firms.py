"""Abnormal firms (异常涉诉企业): firms whose complaints depart, for weeks, from their peers and their own past.

Judged once a day (:meth:`FirmJudge.judge` at a local midnight) over the last
``recent_days`` (14): a repeat offender, not a one-day spike, which group disputes cover.
Each firm keeps one record per local day (complaints, reports, consultations, money
involved, tickets per issue and per product) for ``history_days`` (56).

What is judged, each as a tail probability against a false-alarm budget
(``false_alarms_per_day`` spread over every (firm, measure) judged that day):

=================  =========================================================================
measure            observed vs expected
=================  =========================================================================
``volume``         claims (complaints + reports) in the recent window vs a Gamma-Poisson
                   expectation: the firm's own earlier days, with its peers' rate (same
                   category and district, ``detectors.baseline.Prior``) as the prior;
                   Negative Binomial tail (``detectors.tail``)
``peer_volume``    the same count vs its peers' recent counts (NB fitted by moments over
                   the peers, the firm left out)
``issue_mix``      its most frequent recent issue vs the share that issue had in its own
                   past, shrunk toward the peers' share (Poisson tail)
``claim_share``    claims among all its tickets (complaints vs consultations) vs its past and peers'
``amount``         tickets involving more money than the peers' 90th percentile vs the one
                   in ten expected
=================  =========================================================================

A measure fires only when it still fires with the busiest day of the window left out:
that is what makes the firm a repeat offender rather than a spike. Everything is a
function of the day records, so batching and arrival order do not matter.

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

from detectors.baseline import LOCAL_OFFSET, Prior, predictive
from detectors.tail import log_nb_sf, log_poisson_sf

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


@dataclass(slots=True)
class _Day:
    claims: int = 0
    consultations: int = 0
    amount: float = 0.0
    amounts: list[float] = field(default_factory=list)
    issues: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)


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


class FirmJudge:
    """Day records per firm, and the daily judgement of which firms are abnormal.

    Parameters
    ----------
    recent_days, history_days
        The window judged, and how far back a firm's own past and records reach.
    false_alarms_per_day
        Firms wrongly found per day, spread over every (firm, measure) judged.
    """

    def __init__(self, *, recent_days: int = 14, history_days: int = 56, false_alarms_per_day: float = 0.05,
                 prior_days: float = 7.0) -> None:
        self.recent_days = recent_days
        self.history_days = history_days
        self.false_alarms_per_day = false_alarms_per_day
        self.prior_days = prior_days
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
        past_days = max(0, rlo - max(hlo, self._first_day if self._first_day is not None else rlo))
        views = {}
        for key, f in self._firms.items():
            recent = [f.days[d] for d in range(rlo, end) if d in f.days]
            if not recent:
                continue
            past = [f.days[d] for d in range(hlo, rlo) if d in f.days]
            views[key] = (f, recent, past)
        groups: dict[tuple[str | None, str | None], list[str]] = {}
        for key, (f, _, _) in views.items():
            groups.setdefault((f.category, f.district), []).append(key)
        all_firms = {k: (f, [f.days[d] for d in range(rlo, end) if d in f.days]) for k, f in self._firms.items()}
        peer_sets = {}
        for key, f in self._firms.items():
            peer_sets.setdefault((f.category, f.district), []).append(key)
        budget = self.false_alarms_per_day / max(1, 5 * len(views))
        r_cap = _drift_shape(views.values(), past_days, self.recent_days)
        out = []
        for key in sorted(views):
            f, recent, past = views[key]
            peers = [p for p in peer_sets[(f.category, f.district)] if p != key]
            peer_counts = [sum(d.claims for d in all_firms[p][1]) for p in peers]
            measures = self._measures(f, recent, past, past_days, peer_counts, peers, all_firms, budget, r_cap)
            # Departing from peers alone is what a big firm always does: it takes a departure from its own past.
            if any(m.name != "peer_volume" for m in measures):
                claims = sum(d.claims for d in recent)
                issues: dict[str, int] = {}
                products: dict[str, int] = {}
                for d in recent:
                    for k, v in d.issues.items():
                        issues[k] = issues.get(k, 0) + v
                    for k, v in d.products.items():
                        products[k] = products.get(k, 0) + v
                out.append(FirmFinding(
                    key, f.label, f.category, f.district, rlo * DAY - LOCAL_OFFSET, end * DAY - LOCAL_OFFSET,
                    claims, round(sum(d.amount for d in recent), 2), tuple(measures),
                    _top(issues), _top(products)))
        return out

    def _measures(self, f: _Firm, recent: list[_Day], past: list[_Day], past_days: int, peer_counts: list[int],
                  peers: list[str], all_firms: dict[str, tuple[_Firm, list[_Day]]], budget: float,
                  r_cap: float) -> list[Measure]:
        lb = math.log(budget)
        claims = [d.claims for d in recent]
        n = sum(claims)
        if n == 0:
            return []
        n_wo = n - max(claims)  # the busiest day left out
        keep = (self.recent_days - 1) / self.recent_days
        out: list[Measure] = []
        # Peers' rate per day (Gamma by moments over peers' recent counts), the firm's prior.
        if peer_counts:
            pm = sum(peer_counts) / len(peer_counts)
            pv = sum((c - pm) ** 2 for c in peer_counts) / max(len(peer_counts) - 1, 1)
        else:
            pm, pv = 0.0, 0.0
        prior_rate = max(pm, 0.5) / self.recent_days
        prior = Prior(prior_rate, self.prior_days)
        # volume vs own past (peers as prior)
        hist = sum(d.claims for d in past)
        r, mean = predictive(float(hist), float(past_days), prior, float(self.recent_days))
        r = min(r, r_cap)  # a firm's rate drifts between fortnights however long its history
        lp = _log_sf(n, r, mean)
        if lp < lb and _log_sf(n_wo, r, mean * keep) < lb:
            out.append(Measure("volume", n, round(mean, 2), _score(lp),
                               f"{past_days} earlier days: {hist}"))
        # volume vs peers now
        if len(peer_counts) >= 3:
            pmean = max(pm, 0.5 / len(peer_counts))
            pr = pmean * pmean / (pv - pmean) if pv > pmean * 1.0001 else math.inf
            lp = _log_sf(n, pr, pmean)
            if lp < lb and _log_sf(n_wo, pr, pmean * keep) < lb:
                out.append(Measure("peer_volume", n, round(pmean, 2), _score(lp), f"{len(peer_counts)} peers"))
        # issue mix: the most frequent recent issue vs its past share, shrunk toward peers'
        issues: dict[str, list[int]] = {}
        for i, d in enumerate(recent):
            for k, v in d.issues.items():
                issues.setdefault(k, [0] * len(recent))[i] += v
        if issues:
            top = min(issues, key=lambda k: (-sum(issues[k]), k))
            x = sum(issues[top])
            x_wo = x - max(issues[top])
            past_total = sum(sum(d.issues.values()) for d in past)
            past_x = sum(d.issues.get(top, 0) for d in past)
            peer_total = sum(sum(d.issues.values()) for p in peers for d in all_firms[p][1])
            peer_x = sum(d.issues.get(top, 0) for p in peers for d in all_firms[p][1])
            peer_share = (peer_x + 0.5) / (peer_total + 1.0)
            share = (past_x + 5 * peer_share) / (past_total + 5)  # five pseudo-tickets of peers' mix
            exp = share * n
            lp = log_poisson_sf(x, exp)
            if lp < lb and log_poisson_sf(x_wo, share * n_wo) < lb:
                out.append(Measure("issue_mix", x, round(exp, 2), _score(lp), f"issue {top}: {x} of {n}"))
        # share of claims among all tickets (complaints vs consultations)
        total = n + sum(d.consultations for d in recent)
        past_all = hist + sum(d.consultations for d in past)
        peer_claims = sum(peer_counts)
        peer_all = peer_claims + sum(d.consultations for p in peers for d in all_firms[p][1])
        cshare = (hist + 5 * (peer_claims + 0.5) / (peer_all + 1)) / (past_all + 5)
        if total > n and log_poisson_sf(n, cshare * total) < lb:
            out.append(Measure("claim_share", n, round(cshare * total, 2), _score(log_poisson_sf(n, cshare * total)),
                               f"{n} claims of {total} tickets"))
        # money: tickets above the peers' 90th percentile amount vs one in ten
        peer_amounts = sorted(a for p in peers for d in all_firms[p][1] for a in d.amounts)
        if len(peer_amounts) >= 10:
            cut = peer_amounts[int(0.9 * (len(peer_amounts) - 1))]
            big = [sum(1 for a in d.amounts if a > cut) for d in recent]
            k = sum(big)
            past_big = sum(1 for d in past for a in d.amounts if a > cut)
            share = (past_big + 10 * 0.1) / (hist + 10)  # its own past share, ten pseudo-tickets at one in ten
            lp = log_poisson_sf(k, share * n)
            if lp < lb and log_poisson_sf(k - max(big), share * n_wo) < lb:
                out.append(Measure("amount", k, round(share * n, 2), _score(lp), f"above {cut:.0f} CNY"))
        return out


def _drift_shape(views: Iterable[tuple[_Firm, list[_Day], list[_Day]]], past_days: int, recent_days: int) -> float:
    """The NB shape that allows for how much firms' rates drift between the past and the
    recent window: 1 / phi^2, phi the robust spread (1.4826 MAD) of log(recent / past rate)
    over firms with 20+ claims in both (their Poisson noise is small beside the drift)."""
    if past_days <= 0:
        return math.inf
    logs = []
    for _f, recent, past in views:
        a, b = sum(d.claims for d in recent), sum(d.claims for d in past)
        if a >= 20 and b >= 20:
            logs.append(math.log((a / recent_days) / (b / past_days)))
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

def _score(log_p: float) -> float:
    return round(-log_p / math.log(10), 2)


def _top(counts: dict[str, int]) -> str | None:
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None
