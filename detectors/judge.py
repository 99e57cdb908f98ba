"""Judging: a key's windows at a tick against its baseline and the false-alarm budget -> findings.

A key is judged at every tick it has tickets in: each window's distinct complainants
against the Negative Binomial its baseline predicts (a firm's prior from its peers), the
most surprising window kept when it beats the budget's per-test rate. A finding says what
was found (the alert type, the subject, the window, observed vs expected); what it becomes
(an episode opened or grown) is ``detectors.episodes``'. The maths of one window's
judgement (the learned rate's Negative Binomial, its tail) is ``detectors.rate``'s, the
same that ``detectors.rate.CountRateDetector`` runs alone.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from detectors.baseline import Prior, Rhythm
from detectors.calendar import Calendar
from detectors.clock import Clock
from detectors.config import (COLD_EXPECTED, COLD_MIN_PEOPLE, DISPERSION, ISSUE_SHARE, PEER_MIN, PEER_WEIGHT, PRIORS,
                              RAISES_ALIKE, DetectConfig)
from detectors.decisions import CONCENTRATED_DEMAND, DISTRICT, FIRM, FIRM_ISSUE, GROUP_DISPUTE, TERM, TERM_SURGE
from detectors.evidence import Exclusions
from detectors.rate import expected
from detectors.slow import best_slow
from detectors.tail import log_nb_sf
from detectors.watch import Watch
from detectors.windows import BUCKETS_PER_DAY, KeyState, bucket_start

ISSUE_TESTS = 4  # a few issues per firm compete: the windows are tried this many times over


@dataclass(slots=True)
class Finding:
    """Something anomalous on one key at one tick: what, about which subject, over which window."""

    type: str
    dimension: str
    subject_key: str
    label: str
    width: int
    observed: int
    expected: float
    log_p: float
    issue: str | None = None


class Judge:
    """Judges a partition's keys; reads the partition's clock (peers, judgements per day), never writes it."""

    def __init__(self, config: DetectConfig, named_terms: frozenset[str], calendar: Calendar, rhythm: Rhythm,
                 clock: Clock, watch: Watch | None = None) -> None:
        self.config = config
        # The key-product watch: a firm of a watched category (食品, 药品, 特种设备 …) makes a
        # group with fewer people; episodes.severity_of raises such alerts' severity.
        self.watch = watch if watch is not None else Watch(
            watch_min_people=config.watch_min_people, large_amount=config.large_amount)
        self._group_size: dict[str, int] = {}  # by product category: read per firm per tick
        # Due process: flagged complainants are not people of a group dispute (their tickets still count).
        self.exclusions = Exclusions()
        self.named_terms = named_terms
        self.calendar = calendar
        self.rhythm = rhythm
        self.clock = clock
        # Each window's exposure per category at the current tick (see exposures).
        self._window_exposures: dict[str, list[tuple[int, float]]] = {}

    def new_tick(self) -> None:
        """The rhythm changes between ticks: forget the exposures of the last one."""
        self._window_exposures.clear()

    def min_people(self, s: KeyState) -> int:
        """Distinct people that make a group on *s*: fewer at a firm of a watched product
        category (the key-product watch); the setting everywhere else.

        Only firms (and their issues) are judged with the watch's group size: a product,
        issue or term surge is a concentrated demand, which needs its firms anyway.
        """
        if s.dim != FIRM or not s.category:
            return self.config.min_people
        n = self._group_size.get(s.category)
        if n is None:
            n = self._group_size[s.category] = self.watch.min_people(
                s.category, None, default=self.config.min_people)
        return n

    def may_find(self, s: KeyState, t: int, cold: bool = False) -> bool:
        """Could ``findings`` find anything on *s*? For keys other than firms (a firm's issues are judged apart).

        Most keys judged at a tick are common terms at their usual rate: more than nine in
        ten have no suspect window and stop here, before ``findings``' budget and people sets.
        """
        return next(self._suspect_windows(s, t, cold), None) is not None

    def findings(self, s: KeyState, t: int, cold: bool = False) -> list[Finding]:
        """Findings on *s* at tick *t*. *cold*: in the warm-up, only strong evidence: at least
        ``COLD_MIN_PEOPLE`` people where at most ``COLD_EXPECTED`` are expected."""
        cfg = self.config
        min_people = max(self.min_people(s), COLD_MIN_PEOPLE) if cold else self.min_people(s)
        best: Finding | None = None
        for w, n, r, mean in self._suspect_windows(s, t, cold):
            if cold and (n < min_people or mean > COLD_EXPECTED):
                continue
            buckets = s.between(t - w, t)
            people: set[str] = set()
            for bk in buckets:
                people |= bk.people
            if s.dim == FIRM and self.exclusions:
                ex = self.exclusions.at(bucket_start(t))
                if ex is not None:
                    people = people - ex.people
            k = len(people)
            if k < min_people or k <= mean:
                continue
            if s.dim != FIRM:
                kind = self._demand_kind(s, buckets, mean)
                if kind is None:
                    continue
            else:
                kind = GROUP_DISPUTE
            lp = log_nb_sf(k, r=r, mean=mean)
            if best is None or lp < best.log_p:
                best = Finding(kind, s.dim, s.key, s.label, w, k, mean, lp)
        alpha = self.alpha(s.dim)
        if best is not None and best.log_p + math.log(len(self.clock.dated.windows(cfg.windows))) < math.log(alpha):
            return [best]
        if not cold and cfg.long_days and s.dim == FIRM and s.days and s.get(t) is not None:  # slow build-ups (detectors.slow)
            slow = best_slow(s, t, self.prior(s), self.clock.first_tick, cfg.dispersion, math.log(alpha),
                             len(cfg.windows) + len(cfg.long_days), cfg.long_days)
            if slow is not None:
                return [Finding(GROUP_DISPUTE, FIRM, s.key, s.label, slow[0], slow[1], slow[2], slow[3])]
        if s.dim == FIRM and not cold:  # an issue's baseline is a share of the firm's: none yet
            issue_finding = self._issue_finding(s, t, alpha)
            if issue_finding is not None:
                return [issue_finding]
        return []

    def _demand_kind(self, s: KeyState, buckets: list, mean: float) -> str | None:
        """What a surge of a key other than a firm is: a concentrated demand, a term surge,
        or (None) one firm's story, which its group dispute tells.

        A district always has many firms behind it: there a firm explains the surge when it
        has most of the tickets *above the usual* (*mean*), not most of all of them; and its
        two busiest firm keys count as one, since one firm often comes under two (a
        malformed credit code counts under the firm's name)."""
        cfg = self.config
        firms: dict[str, int] = {}
        for bk in buckets:
            for firm, c in bk.firms.items():
                firms[firm] = firms.get(firm, 0) + c
        total = sum(firms.values())
        top = max(firms.values()) if firms else 0
        if total and top / total >= cfg.firm_share_explains and firms.get("-", 0) != top:
            return None  # one firm's story: its group dispute explains it
        if s.dim == DISTRICT:
            top = sum(sorted((c for f, c in firms.items() if f != "-"), reverse=True)[:2])
            if top >= cfg.firm_share_explains * (total - mean):
                return None
        kind = CONCENTRATED_DEMAND if len(firms) - ("-" in firms) >= cfg.min_firms else TERM_SURGE
        if s.dim == TERM and s.key not in self.named_terms:
            kind = TERM_SURGE
        if kind == TERM_SURGE and s.dim != TERM:
            return None
        return kind

    def _issue_finding(self, s: KeyState, t: int, alpha: float) -> Finding | None:
        """One issue surging at a firm under its normal total volume (firm x issue)."""
        cfg = self.config
        firm_prior = self.prior(s)
        # An issue's prior is a share of the firm's own learned rate, not the new-firm prior:
        # a busy firm with no 质量 complaints yet is not a firm where one is a surprise.
        firm_rate = (firm_prior.shape + s.base_people) / (firm_prior.weight + s.base_exposure)
        issue_prior = Prior(max(firm_rate * ISSUE_SHARE, firm_prior.rate), 2 * BUCKETS_PER_DAY)
        min_people = self.min_people(s)
        ex = self.exclusions.at(bucket_start(t)) if self.exclusions else None
        excluded = ex.people if ex is not None else frozenset()
        best: Finding | None = None
        for w, exposure in self.exposures(t, s.category):
            counts: dict[str, int] = {}
            for _, bk in s.window(t, w):
                for i, c in bk.issues.items():
                    counts[i] = counts.get(i, 0) + c
            for issue, k in counts.items():
                if k < min_people:
                    continue
                r, mean = expected(s.base_issues.get(issue, 0.0), s.base_exposure, issue_prior, exposure, cfg.dispersion)
                if k <= mean:  # people never outnumber tickets: no need to count them
                    continue
                people = _issue_people(s, t, w, issue, excluded)
                if people < min_people or people <= mean:
                    continue
                r = min(r, self.clock.dated.dispersion(cfg.dispersion))
                lp = log_nb_sf(people, r=r, mean=mean)
                if best is None or lp < best.log_p:
                    best = Finding(GROUP_DISPUTE, FIRM_ISSUE, f"{s.key}|{issue}", f"{s.label}·{issue}",
                                   w, people, mean, lp, issue)
        n_tests = len(self.clock.dated.windows(cfg.windows)) * ISSUE_TESTS
        if best is not None and best.log_p + math.log(n_tests) < math.log(alpha):
            return best
        return None

    def prior(self, s: KeyState) -> Prior:
        """The prior of a key's rate: for a firm, the Gamma its peers' rates fit (firms of its
        product category in its district, else in any district), else the default.

        Fitted by moments (empirical Bayes): mean m and variance v of the peers' rates give
        a prior worth m / v buckets. Alike peers give a firm with no history a firm
        expectation; peers as varied as firm volumes usually are weigh next to nothing
        against a firm's own history. Peers only ever raise the default: that a firm's
        category is quiet is no reason to find five complaints at it more alarming than
        the default prior does (small firms' chance bursts are the commonest false alarm).
        """
        default = PRIORS[s.dim]
        if s.dim == FIRM and s.category:
            peers = self.clock.peers
            for group in (f"{s.category}|{s.district}", f"{s.category}|"):
                g = peers.get(group)
                if g is not None and g[0] >= PEER_MIN:
                    mean = g[1] / g[0]
                    if mean <= default.rate:
                        break
                    var = g[2] / g[0] - mean * mean
                    return Prior(mean, PEER_WEIGHT if var * PEER_WEIGHT <= mean else mean / var)
        return default

    def alpha(self, dim: str) -> float:
        """Per-test false-alarm rate: the daily budget spread over the judgements made per day.

        Every key with tickets in a bucket is judged at that tick, so a busy key is tested
        many times a day; the budget of an alert type is split over the (key, tick)
        judgements of every dimension that can raise it, counted in this partition and
        scaled by the partition count (keys are spread evenly by the hash).
        """
        clock = self.clock
        tests = sum(max(clock.day_evals.get(d, 0), clock.prev_day_evals.get(d, 0)) for d in RAISES_ALIKE[dim])
        return self.config.false_alarms_per_day / max(100, self.config.partitions * tests)

    def exposures(self, t: int, category: str) -> list[tuple[int, float]]:
        """Each window's (calendar-weighted) exposure at tick *t* for keys of *category*:
        the same for every such key of the tick, so computed once per tick and category.
        On a day judged by the day (``detectors.dated``), only the windows of a day or more."""
        windows = self._window_exposures.get(category)
        if windows is None:
            windows = self._window_exposures[category] = [
                (w, self._live_exposure(t - w, t, category)) for w in self.clock.dated.windows(self.config.windows)]
        return windows

    def _before(self, s: KeyState, end: int) -> tuple[float, float] | None:
        """(people, exposure) of *s*'s days not learned yet up to *end*; None when the partition
        has watched less than ``cold_days`` up to *end*."""
        first = self.clock.first_tick
        if end - first - self.clock.gaps.within(first, end) < self.config.cold_days * BUCKETS_PER_DAY:
            return None
        start = s.learned_to if s.learned_to >= 0 else min(s.first_bucket - 1, first)  # as the partition learns
        if end <= start:
            return 0.0, 0.0
        return float(sum(len(bk.people) for bk in s.between(start, end))), self._live_exposure(start, end, s.category)

    def _live_exposure(self, lo: int, hi: int, category: str) -> float:
        """The exposure of buckets (lo, hi] less what a feed outage took of it (detectors.gaps)."""
        exposure = self.calendar.exposure(self.rhythm, lo, hi, category)
        for a, b in self.clock.gaps.overlap(lo, hi):
            exposure = max(0.0, exposure - self.calendar.exposure(self.rhythm, a, b, category))
        return exposure

    def _suspect_windows(self, s: KeyState, t: int, cold: bool = False) -> Iterator[tuple[int, int, float, float]]:
        """(window, tickets, shape, mean) of each window whose ticket count ``count_clears``
        against the people ``findings`` expects (people never outnumber tickets). *cold*:
        the key's own days before the window count too (``_before``), not only what it has
        learned (a day behind), and a window with less than ``cold_days`` before it is not tried."""
        cfg = self.config
        prior = self.prior(s)
        min_people = self.min_people(s)
        dispersion = self.clock.dated.dispersion(DISPERSION.get(s.dim, cfg.dispersion))
        order, counts = s.order, s.counts
        hi = bisect_right(order, t)
        for w, exposure in self.exposures(t, s.category):
            n = sum(counts[bisect_right(order, t - w, 0, hi):hi])  # s.count(t, w)
            if n >= min_people:
                people, seen = s.base_people, s.base_exposure
                if cold:
                    before = self._before(s, t - w)
                    if before is None:
                        continue
                    people, seen = people + before[0], seen + before[1]
                r, mean = expected(people, seen, prior, exposure, dispersion)
                if count_clears(n, mean, r):
                    yield w, n, r, mean


def _issue_people(s: KeyState, t: int, w: int, issue: str, excluded: frozenset[str] = frozenset()) -> int:
    # Buckets keep issue counts, not who raised which issue: bound people by both.
    n = 0
    people: set[str] = set()
    for _, bk in s.window(t, w):
        c = bk.issues.get(issue, 0)
        if c:
            n += c
            people |= bk.people
    if excluded:
        people -= excluded
    return min(n, len(people))


def count_clears(n: int, mean: float, r: float) -> bool:
    """Whether *n* tickets in a window are remarkable enough for ``Judge.findings`` to look at its people.

    Above the *mean*, and by three standard deviations of the Negative Binomial (shape *r*)
    once the mean is large enough for that to mean something.

    >>> count_clears(5, 0.4, 3.0), count_clears(12, 8.0, 3.0), count_clears(30, 8.0, 3.0)
    (True, False, True)
    """
    return n > mean and (mean < 3.0 or n - mean >= 3.0 * math.sqrt(mean + mean * mean / r))


__all__ = ["Finding", "Judge", "count_clears"]
