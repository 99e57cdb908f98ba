"""Known calendar effects: days on which complaint volumes are expected to move.

Holidays empty the city, shopping festivals (618, 双十一 …) multiply e-commerce orders and
their complaints for days, 3·15 brings callers out. None of that is news to a duty
officer: a calendar file lists such days and how much they move each product category's
volume, and detection multiplies its expectations on those days instead of raising
alerts. Learning uses the same weights, so a festival's counts do not inflate a baseline
either.

The file is CSV, one effect per line (``#`` starts a comment)::

    first,last,name,categories,factor
    2025-11-11,2025-11-11,双十一,网络购物|直播带货,2.5

``first`` and ``last`` are local (Shanghai) dates, inclusive; ``categories`` are
``product_category`` values joined by ``|``, or ``*`` for every ticket; ``factor``
multiplies expected volume. Effects on the same day multiply. The bundled file
(``data/calendar.csv``) covers 2025–2027.

>>> cal = Calendar.parse(["2025-11-11,2025-11-11,双十一,网络购物,2.5", "2025-11-11,2025-11-11,x,*,0.8"])
>>> day = local_day(1762790400)   # 2025-11-11 00:00 +08:00
>>> cal.factor(day, "网络购物"), cal.factor(day, "餐饮服务"), cal.factor(day + 1, "网络购物")
(2.0, 0.8, 1.0)
"""

from __future__ import annotations

import csv
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

from detectors.baseline import LOCAL_OFFSET, Rhythm
from detectors.windows import BUCKET_SECONDS, BUCKETS_PER_DAY

_LOCAL_BUCKETS = LOCAL_OFFSET // BUCKET_SECONDS
_EPOCH = date(1970, 1, 1)
ALL = "*"


class CalendarError(ValueError):
    """A calendar line we cannot use; the message names the line."""


def local_day(ts: float) -> int:
    """Days since 1970-01-01 in Shanghai local time."""
    return int((ts + LOCAL_OFFSET) // 86400)


def day_of_bucket(bucket: int) -> int:
    return (bucket + _LOCAL_BUCKETS) // BUCKETS_PER_DAY


@dataclass(frozen=True, slots=True)
class Effect:
    first: int  # local day index, inclusive
    last: int
    name: str
    categories: frozenset[str]  # {"*"}: every ticket
    factor: float


class Calendar:
    """Day -> volume factor per product category (``*`` for all), from a list of effects."""

    def __init__(self, effects: Iterable[Effect] = ()) -> None:
        self.effects = tuple(effects)
        by_day: dict[int, dict[str, float]] = {}
        for e in self.effects:
            for d in range(e.first, e.last + 1):
                factors = by_day.setdefault(d, {})
                for c in e.categories:
                    factors[c] = factors.get(c, 1.0) * e.factor
        self._by_day = by_day
        self._days = sorted(by_day)

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "calendar") -> Calendar:
        effects = []
        for no, row in enumerate(csv.reader(lines), 1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#") or row[0] == "first":
                continue
            try:
                first, last, name, cats, factor = (x.strip() for x in row)
                e = Effect((date.fromisoformat(first) - _EPOCH).days, (date.fromisoformat(last) - _EPOCH).days,
                           name, frozenset(c.strip() for c in cats.split("|") if c.strip()), float(factor))
            except ValueError as exc:
                raise CalendarError(f"{source}:{no}: want 'first,last,name,categories,factor' ({exc})") from None
            if e.last < e.first or not e.categories or not e.factor > 0:
                raise CalendarError(f"{source}:{no}: want last >= first, a category and a factor > 0")
            effects.append(e)
        return cls(effects)

    def factor(self, day: int, category: str = "") -> float:
        """How much volume on local *day* is expected to move, for tickets of *category*."""
        f = self._by_day.get(day)
        if f is None:
            return 1.0
        return f.get(ALL, 1.0) * f.get(category, 1.0) if category else f.get(ALL, 1.0)

    def exposure(self, rhythm: Rhythm, lo: int, hi: int, category: str = "") -> float:
        """``rhythm.exposure(lo, hi)`` with each calendar day's buckets weighed by its factor."""
        base = rhythm.exposure(lo, hi)
        days = self._days
        if not days or hi <= lo:
            return base
        last = day_of_bucket(hi)
        i = bisect_left(days, day_of_bucket(lo + 1))
        while i < len(days) and days[i] <= last:
            d = days[i]
            f = self.factor(d, category)
            if f != 1.0:
                start = d * BUCKETS_PER_DAY - _LOCAL_BUCKETS - 1  # the bucket before the day's first
                base += (f - 1.0) * rhythm.exposure(max(lo, start), min(hi, start + BUCKETS_PER_DAY))
            i += 1
        return base


@lru_cache(maxsize=8)
def load_calendar(path: str = "") -> Calendar:
    """The calendar at *path*; "": the bundled one; "none": none (no day is special)."""
    if path == "none":
        return Calendar()
    if not path:
        text = resources.files("detectors").joinpath("data/calendar.csv").read_text("utf-8")
        return Calendar.parse(text.splitlines(), "data/calendar.csv")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise CalendarError(f"calendar {path}: {exc.strerror or exc}") from None
    return Calendar.parse(text.splitlines(), path)


__all__ = ["ALL", "Calendar", "CalendarError", "Effect", "day_of_bucket", "load_calendar", "local_day"]
