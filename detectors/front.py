"""How far a source's event time has really got: the robust front that moves the watermark.

A source (a ticket partition in the stream, the whole file offline) reports its front with
every delta message, and ticks close when every source's front has passed a bucket (less
the allowed lateness). If the front were the newest ``received_at`` seen, one ticket dated
a year ahead (a typo in the year, a clerk's clock set wrong) would carry event time a year
forward: every ticket after it would be late, and nothing would be judged again. So the
front is the ``RANK``-th newest event time the source has carried. One or two outliers
cannot move it; a real jump (a feed that resumes after a gap) moves it as soon as
``RANK`` tickets are past the old front.

An outlier is not lost: it is counted in its own bucket, which is judged when event time
really reaches it ("held until time reaches it"). Ingest dead-letters tickets dated more
than ``EARLYWARN_MAX_FUTURE_SECONDS`` ahead of the wall clock as ``future_timestamp``:
those can never be reached by a live feed.

The front depends only on which event times a source carried, not their order or
batching, and fronts merge by their newest times: a batch's front merged into a source's
gives the front of everything seen.

>>> f = Front()
>>> for ts in (100.0, 110.0, 9e9, 120.0):
...     f.add(ts)
>>> f.value  # 9e9 (a year and more ahead) does not move it
110.0
>>> f.merge([130.0, 140.0]); f.value
130.0
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable

RANK = 3


class Front:
    """The ``RANK`` newest event times a source has carried; its front is the oldest of them."""

    __slots__ = ("newest",)

    def __init__(self, newest: Iterable[float] = ()) -> None:
        self.newest: list[float] = sorted(newest)[-RANK:]  # ascending

    def add(self, ts: float) -> None:
        newest = self.newest
        if len(newest) < RANK:
            insort(newest, ts)
        elif ts > newest[0]:
            newest[0] = ts
            newest.sort()

    def merge(self, newest: Iterable[float]) -> None:
        """Take another front's ``newest`` in (a batch's, or another reader's)."""
        for ts in newest:
            self.add(ts)

    @property
    def value(self) -> float | None:
        """The front: None until the source has carried ``RANK`` tickets."""
        return self.newest[0] if len(self.newest) == RANK else None
