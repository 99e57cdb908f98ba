"""Slow-building disputes: distinct people against one firm over days, not hours (issue 16, item 1).

A dispute where residents or members write over weeks, a few a day, never reaches the
24-hour window's group. So a firm also keeps, day by day, who complained about it
(``KeyState.days``: the people of each day of its last ``KEEP_DAYS``, folded in from its
buckets as they are pruned), and is judged over ``LONG_DAYS`` windows too: the distinct
people of the window outside its busiest day (days folded in, plus the buckets still held;
a burst within a day is the short windows' to raise) against what the firm's
own days *before* the window predict (a Gamma-Poisson with the firm's prior, so a firm with
no complaints before is judged by its peers or the default). The window's own people never
feed its expectation, as the short windows' learned baseline would let a build-up of weeks
do. A window is judged only once the days before it are at least as many as its own.

The surprise is a negative binomial whose shape is the dispersion times the window's
days: the sum of that many days, each as over-dispersed as a bucket of tickets. With the
dispersion alone (a window of weeks as bursty as one bucket) a dispute of one or two people
a day against a firm that had one a week was never surprising enough for the budget of a
stream of 6,000 tickets a day: 1 of 3 slow disputes found on the slow family's seed 501.
A slow group is at least ``SLOW_MIN_PEOPLE`` people outside its busiest day: 8 let
background firms with a busy week through (4 false disputes on seeds 501 and 502, at 8 or
9 people), 10 raised every slow dispute of those seeds before half its people had written
(docs/performance.md). And they wrote on at least ``SLOW_MIN_DAYS`` days of the window: a
burst of three or four days (a product's story at its seller, seed 503) is not a build-up.
What is left of the false ones: a small firm whose complaints rise to one a day for weeks
about unrelated things; a dispute is one story, which the days (people only) cannot tell yet.

On unless ``DetectConfig.long_days`` is empty. A firm keeps its days only while it is on.

A firm busy enough that one day holds more than ``DAY_CAP`` people keeps only that day's
count and is not judged over days: its disputes are in hours.
"""

from __future__ import annotations

import math
from typing import Any

from detectors.baseline import Prior, predictive
from detectors.tail import log_nb_sf
from detectors.windows import BUCKETS_PER_DAY, DAY_CAP, KEEP_DAYS, KeyState

LONG_DAYS: tuple[int, ...] = (3, 7, 14, 30)  # DetectConfig.long_days's default
SLOW_MIN_PEOPLE = 10  # a slow group: more than a short window's, as chance gathers people over days
SLOW_MIN_DAYS = 5  # ... who wrote on at least this many days of the window: a build-up, not a burst


def may_build(s: KeyState, t: int, long_days: tuple[int, ...], min_people: int = SLOW_MIN_PEOPLE) -> bool:
    """Could a slow finding be made on *s* at *t*? Cheap: tickets over the longest window."""
    days = s.days
    if not days:
        return False
    lo = t // BUCKETS_PER_DAY - max(long_days)
    # Tickets held up to t (a batch may have brought later ones already: they must not count).
    n = s.count(t, t - lo * BUCKETS_PER_DAY)
    for d, day in days.items():
        if d > lo:
            if isinstance(day, int):
                return False
            n += len(day)
    return n >= min_people


def slow_windows(s: KeyState, t: int, prior: Prior, first_tick: int, dispersion: float,
                 long_days: tuple[int, ...] = LONG_DAYS) -> list[tuple[int, int, float, float]]:
    """(width in buckets, distinct people, NB shape, mean) of each long window that may be judged at *t*."""
    days = s.days or {}
    if any(isinstance(v, int) for v in days.values()):
        return []
    today = t // BUCKETS_PER_DAY
    watched_from = max(first_tick // BUCKETS_PER_DAY, today - KEEP_DAYS + 1)
    out = []
    for w in long_days:
        lo = today - w + 1  # the window's first day
        before = lo - watched_from  # whole days watched before it
        if before < w:
            continue
        by_day: dict[int, set[str]] = {d: set(day) for d, day in days.items() if lo <= d <= today}  # type: ignore[arg-type]
        for b, bk in s.window(t, t - lo * BUCKETS_PER_DAY + 1):  # the buckets not folded in yet
            by_day.setdefault(b // BUCKETS_PER_DAY, set()).update(bk.people)
        # A build-up, not a burst: the people outside the window's busiest day (a burst is
        # the short windows' to raise, and a dispute raised in hours is not raised again).
        peak = max(by_day, key=lambda d: (len(by_day[d]), d)) if by_day else None
        people: set[str] = set()
        for d, day in by_day.items():
            if d != peak:
                people |= day
        k = len(people - by_day[peak]) if peak is not None else 0
        if k < SLOW_MIN_PEOPLE or sum(1 for day in by_day.values() if day) < SLOW_MIN_DAYS:
            continue  # too few, or a burst of a few days (a story the short windows tell)
        past = sum(len(day) for d, day in days.items() if watched_from <= d < lo)  # type: ignore[arg-type]
        # and the buckets before the window not folded in yet (a quiet key prunes lazily)
        past += sum(len(bk.people) for bk in s.between(watched_from * BUCKETS_PER_DAY - 1, lo * BUCKETS_PER_DAY - 1))
        _, mean = predictive(float(past), float(before * BUCKETS_PER_DAY), prior, float(w * BUCKETS_PER_DAY))
        # The shape is the dispersion's, not the Gamma's: a firm with no one before has a
        # Gamma of almost no shape, under which any number of people over weeks is hardly
        # surprising. And it is w days' worth: the sum of w days each as over-dispersed as a
        # bucket (a negative binomial's shapes add up for a common scale).
        out.append((w * BUCKETS_PER_DAY, k, dispersion * w, mean))
    return out


def best_slow(s: KeyState, t: int, prior: Prior, first_tick: int, dispersion: float,
              log_alpha: float, tests: int, long_days: tuple[int, ...]) -> tuple[int, int, float, float] | None:
    """(width, people, mean, log p) of the most surprising long window past the budget, or None."""
    best = None
    for w, k, r, mean in slow_windows(s, t, prior, first_tick, dispersion, long_days):
        if k <= mean:
            continue
        lp = log_nb_sf(k, r=r, mean=mean)
        if best is None or lp < best[3]:
            best = (w, k, mean, lp)
    if best is not None and best[3] + math.log(tests) < log_alpha:
        return best
    return None


__all__ = ["DAY_CAP", "KEEP_DAYS", "LONG_DAYS", "SLOW_MIN_DAYS", "SLOW_MIN_PEOPLE", "best_slow", "may_build", "slow_windows"]
