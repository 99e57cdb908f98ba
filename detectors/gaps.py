"""Feed outages: a partition's volume collapsing far below its rhythm, told apart from quiet hours.

A feed that stops (an export broken for a day, a link down for weeks) looks, bucket by
bucket, like a very quiet stretch. Learned as such, it teaches every key's baseline that
nothing happens there, and when the feed comes back every busy key looks surprising: a
flood of alerts. So each partition watches its own volume (its keys' tickets per bucket,
what its rhythm learns from) against its level times the rhythm. A bucket is quiet when it
holds at most ``QUIET_SHARE`` of what is expected; a run of quiet buckets is an outage once
it was expected to hold ``GAP_EXPECTED`` key-tickets or more (at night a partition expects
a few a bucket, so quiet nights never get there; at 6,000 tickets a day a silent daytime
hour does). The level is learned from each day's volume over its rhythm exposure, days an
outage touched left out, so it is known from the end of the first day.

An outage is not time (``detectors.partition``): keys learn no exposure and no forgetting
over it, windows overlapping it count only their live part, episodes do not go quiet in
it, the rhythm does not learn the days it touches, and those days do not set the next
day's false-alarm budget. Everything here is decided tick by tick from the buckets up to
the tick, which are all in by then, so batching and the number of workers cannot change it.

>>> g = Gaps()
>>> for t in range(96):              # a first day at 10 key-tickets a bucket
...     _ = g.tick(t, 10, 1.0)
>>> g.stretch(96, 96 + 48, lambda lo, hi: float(hi - lo))  # then half a day of nothing
True
>>> g.tick(96 + 49, 10, 1.0), g.spans, g.overlap(100, 150)
(True, [[97, 144]], [(100, 144)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detectors.windows import BUCKETS_PER_DAY

QUIET_SHARE = 0.1  # a bucket with at most this share of its expected volume is quiet
GAP_EXPECTED = 100.0  # key-tickets a quiet run must have been expected to hold to be an outage
LEVEL_WEIGHT = 0.25  # a day's weight in the level (an exponentially weighted mean over days)


class Gaps:
    """A partition's feed outages: the level it learns, the quiet run under way, the outages found.

    ``spans``: the outages, each ``[first, last]`` bucket (inclusive), oldest first, kept
    for ``keep`` buckets after they end; ``count`` and ``buckets``: every outage found and
    their buckets, for the reports.
    """

    __slots__ = ("level", "day", "day_seen", "day_exposure", "day_spoiled", "run_start", "run_end",
                 "run_expected", "spans", "count", "buckets", "keep")

    def __init__(self, keep: int = 120 * BUCKETS_PER_DAY) -> None:
        self.keep = keep
        self.level: float | None = None  # key-tickets per unit of rhythm exposure (a bucket's worth)
        self.day = -1
        self.day_seen = 0.0
        self.day_exposure = 0.0
        self.day_spoiled = False  # an outage touched the day: it teaches the level nothing
        self.run_start = -1  # the quiet run under way: its first and last bucket, what it expected
        self.run_end = -1
        self.run_expected = 0.0
        self.spans: list[list[int]] = []
        self.count = 0
        self.buckets = 0

    @property
    def in_outage(self) -> bool:
        """Whether the quiet run under way is already an outage."""
        return self.run_start >= 0 and self.run_expected >= GAP_EXPECTED

    def tick(self, t: int, n: float, exposure: float) -> bool:
        """Bucket *t* held *n* key-tickets, with rhythm *exposure*; True if it is in or ends an outage."""
        was = self.in_outage
        self._add(t // BUCKETS_PER_DAY, t, t, n, exposure)
        return was or self.in_outage

    def stretch(self, lo: int, hi: int, exposure: Callable[[int, int], float]) -> bool:
        """Buckets (lo, hi] passed with no tickets (*exposure*: of buckets (a, b]); True if
        they are in an outage."""
        b = lo
        while b < hi:
            day = (b + 1) // BUCKETS_PER_DAY
            end = min(hi, (day + 1) * BUCKETS_PER_DAY - 1)
            self._add(day, b + 1, end, 0.0, exposure(b, end))
            b = end
        return self.in_outage

    def _add(self, day: int, first: int, last: int, n: float, exposure: float) -> None:
        if day != self.day:
            self._close_day(day)
        self.day_seen += n
        self.day_exposure += exposure
        level = self.level
        if level is not None and exposure > 0 and n <= QUIET_SHARE * level * exposure:
            if self.run_start < 0:
                self.run_start, self.run_expected = first, 0.0
            self.run_end = last
            self.run_expected += level * exposure
            if self.in_outage:
                self.day_spoiled = True
        elif self.run_start >= 0:
            self._end_run()

    def interrupt(self) -> None:
        """The watch pauses (a day judged by the day, ``detectors.dated``): the quiet run under
        way ends here, an outage if it was one already."""
        if self.run_start >= 0:
            self._end_run()

    def _end_run(self) -> None:
        if self.in_outage:
            self.spans.append([self.run_start, self.run_end])
            self.count += 1
            self.buckets += self.run_end - self.run_start + 1
            self.day_spoiled = True
        self.run_start, self.run_end, self.run_expected = -1, -1, 0.0

    def _close_day(self, day: int) -> None:
        if self.day >= 0 and not self.day_spoiled and self.day_exposure > 0:
            rate = self.day_seen / self.day_exposure
            self.level = rate if self.level is None else self.level + LEVEL_WEIGHT * (rate - self.level)
        self.day, self.day_seen, self.day_exposure = day, 0.0, 0.0
        self.day_spoiled = self.in_outage
        floor = day * BUCKETS_PER_DAY - self.keep
        self.spans = [s for s in self.spans if s[1] >= floor]

    def overlap(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The parts (a, b] of buckets (lo, hi] in an outage (ended, or under way and one already)."""
        out = []
        spans: list[list[int]] = self.spans
        if self.in_outage:
            spans = [*spans, [self.run_start, self.run_end]]
        for first, last in spans:
            a, b = max(lo, first - 1), min(hi, last)
            if b > a:
                out.append((a, b))
        return out

    def within(self, lo: int, hi: int) -> int:
        """How many buckets of (lo, hi] are in an outage."""
        return sum(b - a for a, b in self.overlap(lo, hi))

    def to_dict(self) -> dict[str, Any]:
        return {"l": self.level, "d": self.day, "ds": self.day_seen, "de": self.day_exposure, "dx": self.day_spoiled,
                "r": [self.run_start, self.run_end, self.run_expected], "s": self.spans, "n": self.count,
                "b": self.buckets}

    @classmethod
    def load(cls, v: dict[str, Any] | None) -> Gaps:
        g = cls()
        if v:
            g.level, g.day, g.day_seen, g.day_exposure, g.day_spoiled = v["l"], v["d"], v["ds"], v["de"], v["dx"]
            g.run_start, g.run_end, g.run_expected = v["r"]
            g.spans, g.count, g.buckets = [list(s) for s in v["s"]], v["n"], v["b"]
        return g


__all__ = ["GAP_EXPECTED", "QUIET_SHARE", "Gaps"]
