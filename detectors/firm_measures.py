"""How far a firm departs: its day records, and the five measures :class:`detectors.firms.FirmJudge` judges.

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

A measure fires only when it still fires, at ``spread_p``, with the window's
``spread_days`` busiest days left out: that is what makes the firm a repeat offender
rather than a spike or a group dispute of a day or two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.baseline import Prior, predictive
from detectors.tail import log_nb_sf, log_poisson_sf

MEASURES = 5  # measures judged per firm: the day's budget is spread over them


@dataclass(slots=True)
class Day:
    """A firm's tickets of one local day."""

    claims: int = 0
    consultations: int = 0
    amount: float = 0.0
    amounts: list[float] = field(default_factory=list)
    issues: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # the claims' ticket ids
    people: set[str] = field(default_factory=set)


@dataclass(slots=True)
class FirmRecord:
    """A firm: where it belongs (category, district), its name, and its days by local day number."""

    category: str | None
    district: str | None
    label: str | None
    days: dict[int, Day] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Measure:
    """One way the firm departs: observed against expected, and how surprising (−log10 p)."""

    name: str
    observed: float
    expected: float
    score: float
    detail: str = ""


@dataclass(slots=True)
class View:
    """A firm's days as one judgement sees them: the window day by day, and its past."""

    firm: FirmRecord
    recent: list[Day]
    past: list[Day]
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
class Totals:
    """A category's claims city-wide, in the window and before it, and the sums they named."""

    claims: int = 0
    past_claims: int = 0
    amounts: list[float] = field(default_factory=list)

    def add(self, v: View) -> None:
        self.claims += v.claims
        self.past_claims += v.past_claims
        for d in (*v.recent, *v.past):
            self.amounts.extend(d.amounts)

    def growth(self, v: View, past_days: int, recent_days: int) -> float:
        """How the category's daily claims moved from the past to the window, the firm left out
        (a season or a festival lifts every firm of a category: no firm stands out by it).
        Ten pseudo-claims at no change keep a small category from swinging it."""
        recent = self.claims - v.claims
        past = (self.past_claims - v.past_claims) * recent_days / past_days
        return (recent + 10.0) / (past + 10.0)


class Priors:
    """Beta priors for a firm's shares (of an issue, of claims among its tickets, of large
    sums), fitted by moments over the past of its category's firms: how much firms of the
    category differ is what a firm's own short past is weighed against. Fitted on demand."""

    def __init__(self, members: dict[str | None, list[View]], cuts: dict[str | None, float | None]) -> None:
        self._members = members
        self._cuts = cuts
        self._fitted: dict[tuple[str, str | None, str | None], tuple[float, float]] = {}

    def _get(self, what: str, category: str | None, issue: str | None, pairs: Any) -> tuple[float, float]:
        key = (what, category, issue)
        if key not in self._fitted:
            self._fitted[key] = beta_prior(list(pairs()))
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


class Departures:
    """The five measures within one daily judgement.

    Parameters
    ----------
    days, past_days
        The window's length, and how many days of past precede it.
    spread_days, spread_p
        A measure must still fire, at ``spread_p``, with the window's busiest ``spread_days``
        days left out.
    prior_days
        Weight of the peers' rate in a firm's own expectation, in days of its own history.
    lb
        The log tail probability a measure must beat: the day's false-alarm budget spread
        over every (firm, measure) judged.
    r_cap
        The Negative Binomial shape allowed by how firms' rates drift (:func:`drift_shape`).
    priors
        The day's Beta priors for the shares.
    """

    def __init__(self, *, days: int, past_days: int, spread_days: int, spread_p: float, prior_days: float,
                 lb: float, r_cap: float, priors: Priors) -> None:
        self.days, self.past_days = days, past_days
        self.spread_days = spread_days
        self.ls = math.log(spread_p)
        self.prior_days = prior_days
        self.lb, self.r_cap = lb, r_cap
        self.priors = priors

    def of(self, v: View, peers: list[View], cat: Totals, cut: float | None) -> tuple[list[Measure], float]:
        """The measures that depart, and the claims expected from its own past."""
        recent, n, days = v.recent, v.claims, self.days
        busiest = sorted(range(days), key=lambda i: -recent[i].claims)[:self.spread_days]
        n_wo = n - sum(recent[i].claims for i in busiest)  # the busiest days left out
        keep = (days - self.spread_days) / days
        counts = [p.claims for p in peers]  # the peers' claims over the window
        pm = sum(counts) / len(counts) if counts else 0.0
        pv = sum((c - pm) ** 2 for c in counts) / max(len(counts) - 1, 1)
        # Shares are judged against its past without its busiest days: a burst there (a group
        # dispute about one issue) says nothing of its usual mix.
        calm = sorted(v.past, key=lambda d: d.claims)[:max(0, len(v.past) - self.spread_days)]
        volume, mean = self._volume(v, pm, pv, cat, n_wo, keep)
        found = (volume, self._peer_volume(n, counts, pm, pv, n_wo, keep), self._issue_mix(v, calm),
                 self._claim_share(v, calm, busiest, n_wo), self._amount(v, calm, cut))
        return [m for m in found if m is not None], mean

    def _volume(self, v: View, pm: float, pv: float, cat: Totals, n_wo: int,
                keep: float) -> tuple[Measure | None, float]:
        """Claims vs its own past (its peers' rate as the prior), scaled by its category's move."""
        days = self.days
        # A Gamma by moments over the peers' counts: peers far apart (a platform among small
        # shops) make a weak prior, however high their mean. Its weight is at least one
        # claim's worth (a moment fit of skewed rates piles its mass near zero, which would
        # make a quiet firm's first few claims look impossible) and at most ``prior_days``.
        rate = max(pm, 0.5) / days
        weight = 1.0 / rate
        if pv > pm > 0:
            weight = max(weight, pm / (pv - pm) * days)  # shape / rate per day = (pm² / (pv - pm)) / (pm / days)
        prior = Prior(rate, min(weight, self.prior_days))
        hist = v.past_claims
        growth = cat.growth(v, self.past_days, days)
        r, mean = predictive(float(hist), float(self.past_days), prior, float(days))
        mean *= growth
        r = min(r, self.r_cap)  # a firm's rate drifts between fortnights however long its history
        lp = log_sf(v.claims, r, mean)
        if lp < self.lb and log_sf(n_wo, r, mean * keep) < self.ls:
            return Measure("volume", v.claims, round(mean, 2), score(lp),
                           f"{self.past_days} earlier days: {hist}; category ×{growth:.2f}"), mean
        return None, mean

    def _peer_volume(self, n: int, counts: list[int], pm: float, pv: float, n_wo: int, keep: float) -> Measure | None:
        """Claims vs its peers' claims in the same window."""
        if len(counts) < 3:
            return None
        pmean = max(pm, 0.5 / len(counts))
        pr = pmean * pmean / (pv - pmean) if pv > pmean * 1.0001 else math.inf
        lp = log_sf(n, pr, pmean)
        if lp < self.lb and log_sf(n_wo, pr, pmean * keep) < self.ls:
            return Measure("peer_volume", n, round(pmean, 2), score(lp), f"{len(counts)} peers")
        return None

    def _issue_mix(self, v: View, calm: list[Day]) -> Measure | None:
        """The most frequent recent issue vs its past share, shrunk toward its category's."""
        days = self.days
        issues: dict[str, list[int]] = {}
        for i, d in enumerate(v.recent):
            for k, x in d.issues.items():
                issues.setdefault(k, [0] * days)[i] += x
        if not issues:
            return None
        top = min(issues, key=lambda k: (-sum(issues[k]), k))
        per_day = issues[top]
        x = sum(per_day)
        total = [sum(d.issues.values()) for d in v.recent]
        wo = sorted(range(days), key=lambda i: -per_day[i])[:self.spread_days]
        x_wo = x - sum(per_day[i] for i in wo)
        t_wo = sum(total) - sum(total[i] for i in wo)
        past_total = sum(sum(d.issues.values()) for d in calm)
        past_x = sum(d.issues.get(top, 0) for d in calm)
        # Its share of the issue: its category's firms' spread of shares (the prior), then its own past.
        a0, b0 = self.priors.issue(v.firm.category, top)
        a, b = a0 + past_x, b0 + past_total - past_x
        exp = a / (a + b) * sum(total)
        lp = log_bb_sf(x, sum(total), a, b) + math.log(len(issues))  # the top of several issues
        if lp < self.lb and log_bb_sf(x_wo, t_wo, a, b) < self.ls:
            return Measure("issue_mix", x, round(exp, 2), score(lp), f"issue {top}: {x} of {sum(total)}")
        return None

    def _claim_share(self, v: View, calm: list[Day], busiest: list[int], n_wo: int) -> Measure | None:
        """Claims among all its tickets (complaints and reports vs consultations)."""
        recent, n = v.recent, v.claims
        cons = [d.consultations for d in recent]
        total_t = n + sum(cons)
        calm_claims = sum(d.claims for d in calm)
        past_all = calm_claims + sum(d.consultations for d in calm)
        a0, b0 = self.priors.claim_share(v.firm.category)
        a, b = a0 + calm_claims, b0 + past_all - calm_claims
        lp = log_bb_sf(n, total_t, a, b)
        t_wo = total_t - sum(recent[i].claims + cons[i] for i in busiest)
        if total_t > n and lp < self.lb and log_bb_sf(n_wo, t_wo, a, b) < self.ls:
            return Measure("claim_share", n, round(a / (a + b) * total_t, 2), score(lp),
                           f"{n} claims of {total_t} tickets")
        return None

    def _amount(self, v: View, calm: list[Day], cut: float | None) -> Measure | None:
        """Claims above its category's 90th percentile sum vs its own past share of them."""
        if cut is None:
            return None
        recent = v.recent
        big = [sum(1 for a in d.amounts if a > cut) for d in recent]
        k = sum(big)
        with_amount = sum(len(d.amounts) for d in recent)
        past_big = sum(1 for d in calm for a in d.amounts if a > cut)
        past_with = sum(len(d.amounts) for d in calm)
        # Its share of large sums: its category's firms' spread of shares (the prior), then its own past.
        a0, b0 = self.priors.amount(v.firm.category)
        a, b = a0 + past_big, b0 + past_with - past_big
        wo = sorted(range(self.days), key=lambda i: -big[i])[:self.spread_days]
        k_wo = k - sum(big[i] for i in wo)
        w_wo = with_amount - sum(len(recent[i].amounts) for i in wo)
        lp = log_bb_sf(k, with_amount, a, b)
        if lp < self.lb and log_bb_sf(k_wo, w_wo, a, b) < self.ls:
            return Measure("amount", k, round(a / (a + b) * with_amount, 2), score(lp), f"above {cut:.0f} CNY")
        return None


_PRIOR_MIN, _PRIOR_MAX = 2.0, 100.0  # a prior weighs at least 2 and at most 100 pseudo-tickets


def beta_prior(pairs: list[tuple[int, int]]) -> tuple[float, float]:
    """Beta(a, b) for firms' shares, by moments from (k, n) of each firm with n >= 5: its
    mean is the pooled share, its weight a + b how little firms differ beyond binomial noise
    (between ``_PRIOR_MIN`` and ``_PRIOR_MAX`` pseudo-tickets).

    >>> a, b = beta_prior([(10, 100)] * 20); round(a / (a + b), 3), round(a + b, 1)   # alike firms: the strongest
    (0.1, 100.0)
    >>> a, b = beta_prior([(0, 50), (50, 50)] * 10); round(a + b, 1)          # all or nothing: the weakest
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


def amount_cut(amounts: list[float]) -> float | None:
    """The 90th percentile of a category's sums, when it has 30 or more."""
    if len(amounts) < 30:
        return None
    s = sorted(amounts)
    return s[int(0.9 * (len(s) - 1))]


def drift_shape(views: Iterable[View], cats: dict[str | None, Totals], past_days: int, recent_days: int) -> float:
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


def log_sf(k: int, r: float, mean: float) -> float:
    """log P(X >= k): Negative Binomial, or Poisson when there is no over-dispersion."""
    return log_poisson_sf(k, mean) if math.isinf(r) or r > 1e6 else log_nb_sf(k, r=r, mean=mean)


def log_bb_sf(k: int, n: int, a: float, b: float) -> float:
    """log P(X >= k) for X ~ Beta-Binomial(n, a, b): k of n when the share is only known as Beta(a, b).

    >>> round(math.exp(log_bb_sf(1, 1, 1.0, 3.0)), 6), log_bb_sf(0, 5, 1.0, 1.0)
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


def score(log_p: float) -> float:
    """−log10 p, to two places."""
    return round(-log_p / math.log(10), 2)
