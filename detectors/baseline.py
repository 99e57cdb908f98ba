"""Expected counts: a Gamma-Poisson rate per key, shaped by the hotline's weekly rhythm.

A key's rate (tickets or people per bucket) gets a Gamma posterior from its own
exponentially forgotten history plus a weak prior; the count in a window is then
Negative Binomial with mean ``rate * exposure``, where exposure is the window's length
weighted by the hour-of-week rhythm (the hotline is quiet at night and at weekends).

>>> r = Rhythm()
>>> r.factor(bucket_of_local(2025, 3, 4, 10)) > 1.0 > r.factor(bucket_of_local(2025, 3, 4, 3))
True
>>> abs(sum(r.factor(b) for b in range(0, 7 * 96)) / (7 * 96) - 1.0) < 1e-9   # mean one over a week
True
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass

from detectors.windows import BUCKET_SECONDS, BUCKETS_PER_DAY

LOCAL_OFFSET = 8 * 3600  # Asia/Shanghai has no daylight saving: a fixed +08:00
HOURS_PER_WEEK = 168
_BUCKETS_PER_HOUR = 3600 // BUCKET_SECONDS
_BUCKETS_PER_WEEK = 7 * BUCKETS_PER_DAY
# bucket index of Monday 00:00 local in the bucket-of-week cycle (1970-01-01 was a Thursday)
_WEEK_SHIFT = (LOCAL_OFFSET // BUCKET_SECONDS) + 3 * BUCKETS_PER_DAY

# The prior weekly shape of hotline traffic (hour of day), before any is learned:
# quiet at night, peaks mid-morning and mid-afternoon; weekends at about two thirds.
_DAY_SHAPE = (0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.8, 1.3, 1.7, 1.9, 1.7,
              1.2, 1.4, 1.7, 1.8, 1.6, 1.3, 1.0, 0.9, 0.8, 0.6, 0.4, 0.25)
_WEEKEND = 0.65


def bucket_of_local(year: int, month: int, day: int, hour: int) -> int:
    """The bucket starting at a Shanghai local hour (for tests and docs)."""
    ts = calendar.timegm((year, month, day, hour, 0, 0)) - LOCAL_OFFSET
    return ts // BUCKET_SECONDS


def hour_of_week(bucket: int) -> int:
    """Monday 00:00 local is hour 0."""
    local_hours = (bucket * BUCKET_SECONDS + LOCAL_OFFSET) // 3600
    day = local_hours // 24
    return int(((day + 3) % 7) * 24 + local_hours % 24)  # 1970-01-01 was a Thursday


class Rhythm:
    """Hour-of-week traffic profile, mean 1 over a week; learned online, prior-shaped.

    ``learn(bucket, n)`` feeds closed buckets' total counts; the profile blends the learned
    shape with the prior until about ``warmup_weeks`` of data have been seen.
    """

    def __init__(self, *, warmup_weeks: float = 2.0, half_life_weeks: float = 8.0) -> None:
        self.warmup_weeks = warmup_weeks
        self.half_life_weeks = half_life_weeks
        prior = [_DAY_SHAPE[h % 24] * (_WEEKEND if h // 24 >= 5 else 1.0) for h in range(HOURS_PER_WEEK)]
        mean = sum(prior) / HOURS_PER_WEEK
        self._prior = [p / mean for p in prior]
        self._counts = [0.0] * HOURS_PER_WEEK
        self._first_bucket = -1
        self._last_bucket = -1
        self._factors = list(self._prior)
        self._cum: list[float] = []  # prefix sums of the factor over the buckets of a week
        self._refreshed_day = -1
        self._dirty = True

    def learn(self, bucket: int, n: float) -> None:
        if bucket > self._last_bucket:
            if self._last_bucket >= 0:
                weeks = (bucket - self._last_bucket) / (7 * BUCKETS_PER_DAY)
                decay = 0.5 ** (weeks / self.half_life_weeks)
                self._counts = [c * decay for c in self._counts]
            else:
                self._first_bucket = bucket
            self._last_bucket = bucket
        self._counts[hour_of_week(bucket)] += n
        # The profile moves slowly: recompute it once per event-time day (a deterministic point).
        day = bucket // BUCKETS_PER_DAY
        if day != self._refreshed_day:
            self._refreshed_day = day
            self._dirty = True

    def factor(self, bucket: int) -> float:
        if self._dirty:
            self._refresh()
        return self._factors[hour_of_week(bucket)]

    def exposure(self, lo: int, hi: int) -> float:
        """Rhythm-weighted length of buckets (lo, hi], in buckets (a week weighs a week)."""
        if hi <= lo:
            return 0.0
        if self._dirty:
            self._refresh()
        weeks, rest = divmod(hi - lo, _BUCKETS_PER_WEEK)
        a = (lo + 1 + _WEEK_SHIFT) % _BUCKETS_PER_WEEK  # the first bucket, lo + 1, in the week
        b = a + rest
        cum = self._cum
        part = cum[b] - cum[a] if b <= _BUCKETS_PER_WEEK else (
            cum[_BUCKETS_PER_WEEK] - cum[a] + cum[b - _BUCKETS_PER_WEEK])
        return weeks * float(_BUCKETS_PER_WEEK) + part

    def _refresh(self) -> None:
        self._dirty = False
        total = sum(self._counts)
        if total > 0.0:
            self._learned_factors(total)
        self._cum_from_factors()

    def _cum_from_factors(self) -> None:
        cum = [0.0]
        for i in range(_BUCKETS_PER_WEEK):
            cum.append(cum[-1] + self._factors[i // _BUCKETS_PER_HOUR])
        self._cum = cum

    def _learned_factors(self, total: float) -> None:
        weeks = (self._last_bucket - self._first_bucket) / (7 * BUCKETS_PER_DAY)
        w = min(1.0, weeks / self.warmup_weeks)
        mean = total / HOURS_PER_WEEK
        learned = [(c + 1.0) / (mean + 1.0) for c in self._counts]  # +1: no hour is ever zero
        mixed = [w * a + (1.0 - w) * b for a, b in zip(learned, self._prior)]
        m = sum(mixed) / HOURS_PER_WEEK
        self._factors = [x / m for x in mixed]

    def to_dict(self) -> dict[str, object]:
        if self._dirty:
            self._refresh()
        return {"c": self._counts, "f": self._first_bucket, "l": self._last_bucket,
                "rd": self._refreshed_day, "fa": self._factors}

    def load(self, v: dict[str, object]) -> None:
        self._counts = list(v["c"])  # type: ignore[arg-type]
        self._first_bucket = int(v["f"])  # type: ignore[arg-type]
        self._last_bucket = int(v["l"])  # type: ignore[arg-type]
        self._refreshed_day = int(v["rd"])  # type: ignore[arg-type]
        # The profile as of the last refresh, not recomputed from today's counts: a restored
        # engine must judge with exactly the factors an uninterrupted one would.
        self._factors = list(v["fa"])  # type: ignore[arg-type]
        self._cum_from_factors()
        self._dirty = False


@dataclass(frozen=True, slots=True)
class Prior:
    """A weak Gamma prior on a key's rate: ``rate`` per bucket, worth ``weight`` buckets of data."""

    rate: float
    weight: float

    @property
    def shape(self) -> float:
        return self.rate * self.weight


def per_day(n: float) -> float:
    """A rate of *n* per day, in per-bucket units."""
    return n / BUCKETS_PER_DAY


def predictive(count: float, exposure: float, prior: Prior, window_exposure: float) -> tuple[float, float]:
    """(shape r, mean) of the Negative Binomial count expected over a window.

    >>> r, mean = predictive(0.0, 0.0, Prior(per_day(1 / 30), 7 * 96), 96.0)
    >>> round(mean, 4)   # a firm with no history: about one ticket a month
    0.0333
    """
    alpha = prior.shape + count
    beta = prior.weight + exposure
    return alpha, alpha / beta * window_exposure


def decay_factor(buckets: float, half_life_buckets: float) -> float:
    return math.pow(0.5, buckets / half_life_buckets)
