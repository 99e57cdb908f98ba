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

At the end of input event time runs to the ``reach``: the newest ticket at most
``REACH_SECONDS`` (a day) ahead of the front, so that the last buckets are judged as
before while an outlier still is not.

The front depends only on which event times a source carried, not their order or
batching, and fronts merge by their ``KEPT`` newest times: a batch's front merged into a
source's gives the front of everything seen, and the sources' fronts merged give the
front one reader of all of the input would have.

>>> f = Front()
>>> for ts in (100.0, 110.0, 9e9, 120.0):
...     f.add(ts)
>>> f.value, f.reach  # 9e9 (a year and more ahead) moves neither
(110.0, 120.0)
>>> f.merge([130.0, 140.0]); f.value
130.0
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Sequence

RANK = 3  # the front is the RANK-th newest event time
KEPT = 8  # newest event times kept (and sent on): up to KEPT - RANK outliers cannot move the reach
REACH_SECONDS = 86400.0


class Front:
    """The ``KEPT`` newest event times a source has carried; its front is the ``RANK``-th newest."""

    __slots__ = ("newest",)

    def __init__(self, newest: Iterable[float] = ()) -> None:
        self.newest: list[float] = sorted(newest)[-KEPT:]  # ascending

    def add(self, ts: float) -> None:
        newest = self.newest
        if len(newest) < KEPT:
            insort(newest, ts)
        elif ts > newest[0]:
            newest[0] = ts
            newest.sort()

    def merge(self, newest: Iterable[float]) -> None:
        """Take in another front's ``newest`` of *other* tickets (a batch's, another source's)."""
        for ts in newest:
            self.add(ts)

    def update(self, newest: Sequence[float]) -> None:
        """Take in a later report of the same source's front (``newest`` of everything it
        carried so far): rank by rank, the newer time. Reports repeat what the last one
        said, so merging them would count a ticket once per report.

        >>> f = Front([1.0, 2.0, 3.0]); f.update([1.0, 2.0, 3.0]); f.update([2.0, 3.0, 9e9]); f.newest
        [2.0, 3.0, 9000000000.0]
        """
        mine, theirs = self.newest, sorted(newest)[-KEPT:]
        if len(theirs) > len(mine):
            mine, theirs = theirs, mine
        theirs = [*[-math.inf] * (len(mine) - len(theirs)), *theirs]
        self.newest = list(map(max, mine, theirs))  # both ascending: so is their rank-wise max

    @property
    def value(self) -> float | None:
        """The front: None until the source has carried ``RANK`` tickets."""
        return self.newest[-RANK] if len(self.newest) >= RANK else None

    @property
    def reach(self) -> float | None:
        """How far event time goes at the end of input: the newest event time at most
        ``REACH_SECONDS`` ahead of the front (None with no front)."""
        front = self.value
        if front is None:
            return None
        return max(ts for ts in self.newest if ts <= front + REACH_SECONDS)
