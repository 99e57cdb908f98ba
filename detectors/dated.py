"""Date-only input: a partition whose day nearly all came at one local midnight or noon is judged by the day.

Some sources keep only the date of a ticket, and exports then put every ticket at 00:00
or 12:00 of its day (issue 16, item 6). Taken as times, a whole day lands in one
15-minute bucket: against their learned rhythm the hour windows see a surge at every key
every day, and the feed-outage watch (``detectors.gaps``) sees the other 95 buckets as an
outage, so nothing is judged at all. Such a day carries no time of day, so it is judged as
a day: the windows shorter than a day are not tried, the outage watch pauses, and the
Negative Binomial's shape cap is ``DATED_DISPERSION`` where the dimension's is less.

The watch reads what the partition already counts at each tick (its key-tickets per
bucket, ``PartitionEngine._close_tick``): a (UTC) day whose busiest bucket, a local
midnight or noon one, holds at least ``DATED_SHARE`` of the day's key-tickets, and at
least ``DATED_MIN`` of them, makes the next day one judged by the day. Each day's mode is
fixed from the day before it, all of whose buckets were in by then, so
the batching, the number of workers and a restart (the state is in the clock) cannot
change it; a source at ordinary times never has a day like that. A partition's keys come
from every source, so a feed that mixes a date-only source into timestamped ones (under
``DATED_SHARE`` of a day's volume) is judged by the hour, its dates' buckets as surges.

>>> w = Dated()
>>> w.tick(10, 5.0); w.tick(16, 400.0)   # day 0: its local noon bucket (04:00 UTC) holds nearly all
>>> w.at(95), w.at(96)                    # so day 1 is judged by the day
(False, True)
>>> w.tick(96 + 50, 300.0); w.tick(96 + 60, 320.0)  # day 1 at ordinary times: day 2 is not
>>> w.at(2 * 96), w.days
(False, 1)
"""

from __future__ import annotations

from typing import Any

from detectors.baseline import LOCAL_OFFSET
from detectors.windows import BUCKET_SECONDS, BUCKETS_PER_DAY

DATED_SHARE = 0.9  # of a day's key-tickets in its one midnight or noon bucket: a date-only day
# The NB shape cap on a day judged by the day, where the dimension's is less: a day's count
# sums its hours' bursts. Tuned on the tuning seeds' date_noon scenarios (1, 2): with 3 (the
# hours' cap) 24 of 28 incidents found and 2 false alerts, with 6 25 and 2, with 10 26 and 3.
DATED_DISPERSION = 6.0
DATED_MIN = 100.0  # key-tickets a day must have for its shape to say anything (a ticket counts under ~10 keys)
# The buckets, of a UTC day, that hold a local (Shanghai) midnight or noon.
STAMPS = frozenset((h * 3600 - LOCAL_OFFSET) % 86400 // BUCKET_SECONDS for h in (0, 12))


class Dated:
    """Whether a partition's current day is judged by the day, and the day under way's shape.

    ``on``: the current day is; ``days``: how many days were, for the reports.
    """

    __slots__ = ("day", "on", "seen", "peak", "peak_at", "days")

    def __init__(self) -> None:
        self.day = -1  # the (UTC) day under way
        self.on = False
        self.seen = 0.0  # the day under way's key-tickets
        self.peak = 0.0  # its busiest bucket's, and where that bucket is in the day
        self.peak_at = -1
        self.days = 0

    def tick(self, t: int, n: float) -> None:
        """Bucket *t* held *n* key-tickets (buckets come in order)."""
        self.at(t)
        self.seen += n
        if n > self.peak:
            self.peak, self.peak_at = n, t % BUCKETS_PER_DAY

    def at(self, t: int) -> bool:
        """Whether bucket *t*'s day is judged by the day; a new day's mode is fixed from the
        day before it when it is first asked about (buckets come in order)."""
        day = t // BUCKETS_PER_DAY
        if day > self.day:
            # Only the day just before counts: a day with no tickets is no date-only day.
            fresh = day == self.day + 1
            self.on = fresh and (self.seen >= DATED_MIN and self.peak >= DATED_SHARE * self.seen
                                 and self.peak_at in STAMPS)
            self.days += self.on
            self.day, self.seen, self.peak, self.peak_at = day, 0.0, 0.0, -1
        return self.on

    def windows(self, windows: tuple[int, ...]) -> tuple[int, ...]:
        """The windows judged today: a date-only day only those of a day or more."""
        if not self.on:
            return windows
        return tuple(w for w in windows if w >= BUCKETS_PER_DAY) or (BUCKETS_PER_DAY,)

    def dispersion(self, cap: float) -> float:
        """The NB shape cap today, where *cap* is the dimension's."""
        return max(cap, DATED_DISPERSION) if self.on else cap

    def to_dict(self) -> dict[str, Any]:
        return {"d": self.day, "on": self.on, "s": self.seen, "p": [self.peak, self.peak_at], "n": self.days}

    @classmethod
    def load(cls, v: dict[str, Any] | None) -> Dated:
        d = cls()
        if v:
            d.day, d.on, d.seen, d.days = v["d"], v["on"], v["s"], v["n"]
            d.peak, d.peak_at = v["p"]
        return d


__all__ = ["DATED_DISPERSION", "DATED_MIN", "DATED_SHARE", "STAMPS", "Dated"]
