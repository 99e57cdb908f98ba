"""The event-time front: outliers ahead never move it, real progress does, and it does not
depend on the order or batching of what a source carried."""

from __future__ import annotations

import random

import pytest

from detectors.front import KEPT, RANK, REACH_SECONDS, Front

YEAR = 365 * 86400.0


def front_of(times: list[float]) -> float | None:
    f = Front()
    for ts in times:
        f.add(ts)
    return f.value


@pytest.mark.parametrize(("times", "expected"), [
    ([], None),
    ([10.0] * (RANK - 1), None),  # too few tickets to say
    ([10.0, 20.0, 30.0], 10.0),
    ([10.0, 20.0, 30.0, 40.0], 20.0),
    # One ticket a year ahead, then a second: the front stays among the real tickets.
    ([10.0, 20.0, 30.0, 40.0, 40.0 + YEAR], 30.0),
    ([10.0, 20.0, 30.0, 40.0, 40.0 + YEAR, 50.0 + YEAR], 40.0),
    ([10.0, 20.0, 30.0, 1e5, 1e5 + 1, 1e5 + 2], 1e5),  # a feed resuming after a gap: RANK tickets move it
    ([1e5 + YEAR, 10.0, 20.0, 30.0], 20.0),  # an outlier first
])
def test_the_front_is_the_rank_th_newest_event_time(times: list[float], expected: float | None) -> None:
    assert front_of(times) == expected


@pytest.mark.parametrize(("times", "reach"), [
    ([10.0, 20.0], None),
    ([10.0, 20.0, 30.0], 30.0),  # the end of input reaches the newest ticket
    ([10.0, 20.0, 30.0, 40.0, 40.0 + YEAR], 40.0),  # not one a year ahead
    ([10.0, 20.0, 30.0, 40.0, 40.0 + REACH_SECONDS / 2], 40.0 + REACH_SECONDS / 2),  # half a day ahead is plausible
    ([*map(float, range(KEPT)), 1e9, 2e9], float(KEPT - 1)),  # two outliers
])
def test_the_reach_is_the_newest_ticket_not_far_ahead_of_the_front(times: list[float], reach: float | None) -> None:
    f = Front(times)
    assert f.reach == reach


def test_the_front_does_not_depend_on_order_or_batching() -> None:
    rng = random.Random(7)
    times = [rng.uniform(0, 1e6) for _ in range(300)] + [5e6, 9e6]
    expected = sorted(times)[-RANK]
    for _ in range(20):
        rng.shuffle(times)
        merged = Front()
        i = 0
        while i < len(times):
            n = rng.randint(1, 40)
            batch = Front(times[i:i + n])
            merged.merge(batch.newest)
            i += n
        assert merged.value == expected == front_of(times)
        assert merged.reach == expected  # the two far ahead are not reached either
