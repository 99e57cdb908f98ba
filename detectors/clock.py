"""A partition's clock: how far each source's event time has got, and the bookkeeping of its ticks.

Persisted with the partition's keys (``detectors.wire.encode_clock``), so a worker that
takes a partition over resumes its event time where the last one left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detectors.dated import Dated
from detectors.gaps import Gaps


class Source:
    """One source's event-time progress, as the delta messages report it (see detectors.front)."""

    __slots__ = ("front", "idle", "newest")

    def __init__(self, front: float | None, idle: bool, newest: list[float]) -> None:
        self.front = front  # its robust front (``Front.value``), None until it has one
        self.idle = idle  # silent (stream: idle and caught up; offline: end of input)
        self.newest = newest  # the newest event times it carried (``Front.newest``)


@dataclass(slots=True)
class Clock:
    """A partition's event-time progress and what its ticks need to remember."""

    sources: dict[str, Source] = field(default_factory=dict)
    last_tick: int = -1
    first_tick: int = -1  # when this partition began watching: the exposure of every key starts here
    due: dict[int, set[str]] = field(default_factory=dict)  # bucket -> keys with tickets in it
    open: set[str] = field(default_factory=set)  # keys with open episodes
    day: int = -1
    day_evals: dict[str, int] = field(default_factory=dict)  # dim -> keys judged today (key x tick)
    prev_day_evals: dict[str, int] = field(default_factory=dict)
    late: int = 0  # (key, bucket) deltas that arrived after their bucket's tick
    applied: int = -1  # offset of the last delta message folded in (the stream's); replays skip
    peers: dict[str, list[float]] = field(default_factory=dict)  # "category|district" -> [firms, sum rate, sum rate^2]
    wall: float | None = None  # the newest wall clock a delta message carried (live input), persisted so a replay decides alike
    seen_buckets: set[int] = field(default_factory=set)  # buckets whose ticket ids are kept (for deduplication)
    duplicates: int = 0  # tickets whose id came again within the horizon (counted once, where their first key is)
    expired: int = 0  # key-deltas more than the horizon behind the last tick: too old to deduplicate, not counted
    # The stream with complainants judged: the complainant stage's exclusions still readable
    # ([midnight, pseudonyms, ticket ids]), and the event time up to which they are known.
    exclusions: list[list[Any]] = field(default_factory=list)
    gate: float | None = None
    gaps: Gaps = field(default_factory=Gaps)  # feed outages this partition has seen (detectors.gaps)
    dated: Dated = field(default_factory=Dated)  # whether today is judged by the day (detectors.dated)


__all__ = ["Clock", "Source"]
