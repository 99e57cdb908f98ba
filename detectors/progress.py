"""Event-time progress: what delta messages report of their sources, and the last bucket it lets close.

Shared by a partition's engine (``detectors.partition``) and the stream's complainants job
(``streams.complainants``), which must tick at exactly the partitions' buckets.
"""

from __future__ import annotations

from typing import Any

from detectors.clock import Clock, Source
from detectors.front import Front
from detectors.windows import bucket_of
from detectors.wire import message_sources


def take_progress(clock: Clock, msg: dict[str, Any]) -> None:
    """Note the sources' event-time progress a delta message reports (its ``w`` and ``c``)."""
    wall = msg.get("c")
    if wall is not None and (clock.wall is None or wall > clock.wall):
        clock.wall = wall
    for src, front, idle, newest in message_sources(msg):
        old = clock.sources.get(src)
        if old is None:
            clock.sources[src] = old = Source(None, idle, [])
        if front is not None and (old.front is None or front > old.front):
            old.front = front
        old.idle = idle
        if newest:  # a later report of the same source: rank by rank (Front.update)
            merged = Front(old.newest)
            merged.update(newest)
            old.newest = merged.newest


def target_tick(clock: Clock, sources: int, lateness: float) -> int | None:
    """The last bucket every source's progress lets close (None: not yet known).

    While any of the *sources* is active: the bucket before the one its least front, less
    *lateness*, is in. All quiet: the newest bucket of everything they carried, closing
    live only once the wall clock is past its end plus *lateness*."""
    srcs = clock.sources
    if len(srcs) < sources:
        return None
    seen = [v.front for v in srcs.values() if v.front is not None]
    if not seen:
        return None
    active = [v.front for v in srcs.values() if not v.idle]
    if active:
        if any(ts is None for ts in active):
            return None
        return bucket_of(min(active) - lateness) - 1
    # All quiet: the bucket of the reach of everything every source carried is as
    # complete as it gets. Merged from each source's newest times, it is the reach one
    # reader of all the input would have (offline: the file's), however the input
    # was split; the sources' own fronts would not give it.
    together = Front()
    for v in srcs.values():
        together.merge(v.newest)
    reach = together.reach
    target = bucket_of(reach if reach is not None else max(seen))
    wall = clock.wall
    if wall is not None:  # live: a bucket closes when the wall clock is past its end plus lateness
        target = min(target, bucket_of(wall - lateness) - 1)
    return target


__all__ = ["take_progress", "target_tick"]
