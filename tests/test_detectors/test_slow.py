"""Slow-building disputes: a few people a day against one firm for weeks is a group dispute,
raised before half of them have written (issue 16, item 1)."""

from __future__ import annotations

import random
from dataclasses import replace

from detectors.aggregate import Enriched
from detectors.decisions import GROUP_DISPUTE, OPEN
from detectors.slow import LONG_DAYS
from tests.test_detectors.test_partition import CFG, DAY, T0, background, run

SLOW = replace(CFG, long_days=LONG_DAYS)


def slow(prefix: str, start_day: int, days: int, per_day: int) -> list[Enriched]:
    """*per_day* new people a day (never more than four in any 24 h) at one small firm."""
    rng = random.Random(prefix)
    out = []
    for d in range(days):
        for i in range(per_day):
            n = d * per_day + i
            out.append(Enriched(
                ticket_id=f"{prefix}{n:04d}", ts=T0 + (start_day + d) * DAY + rng.uniform(9, 18) * 3600,
                district="310110", person=f"p_{prefix}{n}", firm_key="ESTATE", firm_label="某物业", category="c",
                issue="质量", amount=0.0, terms=("漏水", "维修", "物业"),
            ))
    return out


def test_a_slow_build_up_is_raised_before_half_its_people_have_written() -> None:
    dispute = slow("SLOW", 10, 16, 2)  # 32 people over 16 days, two a day: at most four in any 24 h
    out = run(background(3, 26) + dispute, cfg=SLOW)
    raised = [d for d in out if d.status == OPEN and d.type == GROUP_DISPUTE and d.key == "ESTATE"]
    assert raised, "a slow build-up was never raised"
    written = sorted(e.ts for e in dispute)
    half = written[len(written) // 2 - 1]
    assert raised[0].raised_at <= half, (raised[0].raised_at - written[0]) / DAY
    assert raised[0].window_end - raised[0].window_start > DAY  # seen over days, not hours


def raised_slowly(out: list) -> list:
    return [d for d in out if d.status == OPEN and d.type == GROUP_DISPUTE and d.key == "ESTATE"]


def test_one_new_person_a_day_for_a_month_is_raised_before_half_have_written() -> None:
    """Too few a day for any window of hours, and of a week (at most 7 people); over two
    weeks the shape of the sum of days (not of one bucket) makes it surprising."""
    usual = [e for d in (2, 9, 16) for e in slow(f"USUAL{d}", d, 1, 1)]  # one a week before
    dispute = slow("TRICKLE", 21, 30, 1)
    out = run(background(3, 56) + usual + dispute, cfg=SLOW)
    raised = raised_slowly(out)
    assert raised, "a build-up of one a day was never raised"
    written = sorted(e.ts for e in dispute)
    assert raised[0].raised_at <= written[len(written) // 2 - 1], (raised[0].raised_at - written[0]) / DAY
    assert not raised_slowly(run(background(3, 56) + usual + dispute, cfg=replace(CFG, long_days=()))), \
        "with the slow windows off nothing should raise it: the test would not test them"


def test_background_alone_raises_no_slow_dispute() -> None:
    out = run(background(3, 26), cfg=SLOW)
    assert not [d for d in out if d.status == OPEN and d.window_end - d.window_start > DAY]


def test_a_burst_of_a_few_days_is_not_a_slow_dispute() -> None:
    """Four people a day for four days: the short windows' story (raised in hours, if at
    all), not a build-up over days (detectors.slow.SLOW_MIN_DAYS)."""
    usual = [e for d in (2, 9, 16) for e in slow(f"USUAL{d}", d, 1, 1)]
    out = run(background(3, 30) + usual + slow("BURST", 21, 4, 4), cfg=SLOW)
    assert not [d for d in raised_slowly(out) if d.window_end - d.window_start > DAY]
