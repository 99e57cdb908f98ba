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
from collections.abc import Callable
from dataclasses import dataclass

from detectors.windows import BUCKET_SECONDS, BUCKETS_PER_DAY
from schemas.alerts import SHANGHAI

# Asia/Shanghai has no daylight saving: a fixed +08:00, the alert contract's (one definition, there).
LOCAL_OFFSET = int(SHANGHAI.utcoffset(None).total_seconds())
_BUCKETS_PER_HOUR = 3600 // BUCKET_SECONDS
_BUCKETS_PER_WEEK = 7 * BUCKETS_PER_DAY
# bucket index of Monday 00:00 local in the bucket-of-week cycle (1970-01-01 was a Thursday)
_WEEK_SHIFT = (LOCAL_OFFSET // BUCKET_SECONDS) + 3 * BUCKETS_PER_DAY
_LOCAL_BUCKETS = LOCAL_OFFSET // BUCKET_SECONDS  # buckets from UTC midnight to local midnight

# The prior weekly shape of hotline traffic (hour of day), before any is learned:
# quiet at night, peaks mid-morning and mid-afternoon; weekends at about two thirds.
_DAY_SHAPE = (0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.8, 1.3, 1.7, 1.9, 1.7,
              1.2, 1.4, 1.7, 1.8, 1.6, 1.3, 1.0, 0.9, 0.8, 0.6, 0.4, 0.25)
_WEEKEND = 0.65


def bucket_of_local(year: int, month: int, day: int, hour: int) -> int:
    """The bucket starting at a Shanghai local hour (for tests and docs)."""
    ts = calendar.timegm((year, month, day, hour, 0, 0)) - LOCAL_OFFSET
    return ts // BUCKET_SECONDS


def _weekday(local_day: int) -> int:
    """Monday is 0; local day 0 is 1970-01-01 (a Thursday) in Shanghai."""
    return (local_day + 3) % 7


def hour_of_week(bucket: int) -> int:
    """Monday 00:00 local is hour 0."""
    local_hours = (bucket * BUCKET_SECONDS + LOCAL_OFFSET) // 3600
    day = local_hours // 24
    return int(((day + 3) % 7) * 24 + local_hours % 24)  # 1970-01-01 was a Thursday


class Rhythm:
    """Traffic profile over the week, mean 1: hour-of-day shape times day-of-week level.

    Learned from completed local (Shanghai) days only: a half-seen day, such as the one a
    deployment starts in, would bias both toward the hours and days seen so far. Each completed day adds its normalised hour shape and, under its
    weekday, its total. Both estimates shrink toward the hotline's usual shape with
    ``hour_prior_days`` and ``day_prior_weeks`` of pseudo-data, so the daily shape is
    learned within days and the weekly one within weeks. Old days are forgotten with a
    half-life. *day_factor* (local day -> expected volume factor, from the calendar) scales
    each day's total back to an ordinary day's before it is learned, so a week-long
    holiday does not lower its weekdays for the weeks after.
    """

    def __init__(self, *, hour_prior_days: float = 2.0, day_prior_weeks: float = 2.0,
                 half_life_weeks: float = 8.0, day_factor: Callable[[int], float] | None = None) -> None:
        self.day_factor = day_factor
        self.hour_prior_days = hour_prior_days
        self.day_prior_weeks = day_prior_weeks
        self.half_life_weeks = half_life_weeks
        hours = list(_DAY_SHAPE)
        self._prior_hour = [24 * h / sum(hours) for h in hours]  # mean 1 over a day
        days = [1.0] * 5 + [_WEEKEND] * 2
        self._prior_day = [7 * d / sum(days) for d in days]  # mean 1 over a week
        self._today = -1
        self._today_whole = False  # seen from its first bucket (the day a stream starts in is not)
        self._today_hours = [0.0] * 24
        self._shape_sum = [0.0] * 24  # sum of completed days' hour shares (forgotten)
        self._shape_days = 0.0
        self._day_total = [0.0] * 7  # tickets per weekday (forgotten)
        self._day_seen = [0.0] * 7  # completed days per weekday (forgotten)
        self._hour = list(self._prior_hour)
        self._day = list(self._prior_day)
        self._cum: list[float] = []  # prefix sums of the factor over the buckets of a week
        self._cum_from_factors()

    def learn(self, bucket: int, n: float) -> None:
        """Count *n* tickets in *bucket*; buckets come in non-decreasing order."""
        day, into = divmod(bucket + _LOCAL_BUCKETS, BUCKETS_PER_DAY)  # local days
        if day != self._today:
            first = self._today < 0
            if not first:
                self._close_days(self._today, day)
            self._today = day
            self._today_whole = into == 0 or not first
        if n:
            self._today_hours[hour_of_week(bucket) % 24] += n

    def spoil_today(self) -> None:
        """A feed outage (``detectors.gaps``) touched the day under way: it is not learned."""
        self._today_whole = False

    def pause(self, bucket: int) -> None:
        """Event time passed through a feed outage up to *bucket*: the day under way and the
        days skipped are not learned (not even as days without a ticket)."""
        day = (bucket + _LOCAL_BUCKETS) // BUCKETS_PER_DAY
        if day != self._today and self._today >= 0:
            self._today_whole = False
            self._close_days(self._today, self._today + 1)
        self._today = day
        self._today_whole = False

    def _close_days(self, done: int, now: int) -> None:
        decay = 0.5 ** ((now - done) / (7 * self.half_life_weeks))
        self._shape_sum = [x * decay for x in self._shape_sum]
        self._shape_days *= decay
        self._day_total = [x * decay for x in self._day_total]
        self._day_seen = [x * decay for x in self._day_seen]
        total = sum(self._today_hours)
        if self._today_whole:
            if total > 0:
                self._shape_sum = [a + h / total for a, h in zip(self._shape_sum, self._today_hours)]
                self._shape_days += 1.0
            self._day_total[_weekday(done)] += total / (self.day_factor(done) if self.day_factor else 1.0)
            self._day_seen[_weekday(done)] += 1.0
        for skipped in range(done + 1, min(now, done + 8)):  # whole days without a ticket
            self._day_seen[_weekday(skipped)] += 1.0
        self._today_hours = [0.0] * 24
        self._refresh()

    def _refresh(self) -> None:
        a = self.hour_prior_days
        self._hour = [24 * (x + a * p / 24) / (self._shape_days + a)
                      for x, p in zip(self._shape_sum, self._prior_hour)]
        seen = sum(self._day_seen)
        mean_day = sum(self._day_total) / seen if seen else 0.0
        if mean_day > 0:
            b = self.day_prior_weeks
            rates = [(t + b * p * mean_day) / (k + b) for t, k, p in
                     zip(self._day_total, self._day_seen, self._prior_day)]
            m = sum(rates) / 7
            self._day = [r / m for r in rates]
        self._cum_from_factors()

    def factor(self, bucket: int) -> float:
        how = hour_of_week(bucket)
        return self._hour[how % 24] * self._day[how // 24]

    def exposure(self, lo: int, hi: int) -> float:
        """Rhythm-weighted length of buckets (lo, hi], in buckets (a week weighs a week)."""
        if hi <= lo:
            return 0.0
        weeks, rest = divmod(hi - lo, _BUCKETS_PER_WEEK)
        a = (lo + 1 + _WEEK_SHIFT) % _BUCKETS_PER_WEEK  # the first bucket, lo + 1, in the week
        b = a + rest
        cum = self._cum
        part = cum[b] - cum[a] if b <= _BUCKETS_PER_WEEK else (
            cum[_BUCKETS_PER_WEEK] - cum[a] + cum[b - _BUCKETS_PER_WEEK])
        return weeks * float(_BUCKETS_PER_WEEK) + part

    def _cum_from_factors(self) -> None:
        cum = [0.0]
        for i in range(_BUCKETS_PER_WEEK):
            how = i // _BUCKETS_PER_HOUR
            cum.append(cum[-1] + self._hour[how % 24] * self._day[how // 24])
        self._cum = cum

    def to_dict(self) -> dict[str, object]:
        return {"t": self._today, "w": self._today_whole, "th": self._today_hours, "ss": self._shape_sum, "sd": self._shape_days,
                "dt": self._day_total, "ds": self._day_seen, "h": self._hour, "d": self._day}

    def load(self, v: dict[str, object]) -> None:
        self._today = int(v["t"])  # type: ignore[arg-type]
        self._today_whole = bool(v.get("w", True))
        self._today_hours = list(v["th"])  # type: ignore[arg-type]
        self._shape_sum = list(v["ss"])  # type: ignore[arg-type]
        self._shape_days = float(v["sd"])  # type: ignore[arg-type]
        self._day_total = list(v["dt"])  # type: ignore[arg-type]
        self._day_seen = list(v["ds"])  # type: ignore[arg-type]
        self._hour = list(v["h"])  # type: ignore[arg-type]
        self._day = list(v["d"])  # type: ignore[arg-type]
        self._cum_from_factors()


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
