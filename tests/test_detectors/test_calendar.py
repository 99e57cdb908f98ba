"""The calendar file: parsing, weighted exposure, and a known festival shifting expectations."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from detectors.baseline import Rhythm
from detectors.calendar import Calendar, CalendarError, day_of_bucket, load_calendar, local_day
from detectors.aggregate import Enriched
from detectors.config import DetectConfig
from detectors.decisions import GROUP_DISPUTE, OPEN
from detectors.offline import OfflineEngine
from detectors.windows import BUCKETS_PER_DAY, bucket_of

T0 = 1_740_960_000.0  # 2025-03-03 08:00 +08:00, a Monday
DAY = 86400.0
SALE = local_day(T0) + 10  # 2025-03-13, a Thursday
CFG = DetectConfig(partitions=2, sources=1)


def test_bad_lines_name_their_line() -> None:
    with pytest.raises(CalendarError, match=r"cal:2: want"):
        Calendar.parse(["2025-01-01,2025-01-01,元旦,*,0.6", "2025-13-01,2025-13-01,x,*,1"], "cal")
    with pytest.raises(CalendarError, match=r"cal:1: want last >= first"):
        Calendar.parse(["2025-01-02,2025-01-01,x,*,1.5"], "cal")
    with pytest.raises(CalendarError, match=r"factor > 0"):
        Calendar.parse(["2025-01-01,2025-01-01,x,*,0"], "cal")
    with pytest.raises(CalendarError, match="calendar /nonexistent"):
        load_calendar("/nonexistent/calendar.csv")


def test_the_bundled_calendar_knows_the_big_days() -> None:
    cal = load_calendar()
    double11 = local_day(1762790400)  # 2025-11-11 00:00 +08:00
    assert cal.factor(double11, "网络购物") > 2 and cal.factor(double11, "餐饮服务") == 1.0
    assert cal.factor(double11 + 1, "直播带货") > 1  # returns trail the sale
    new_years_eve = local_day(1738022400)  # 2025-01-28, 除夕
    assert cal.factor(new_years_eve, "餐饮服务") > 1 and cal.factor(new_years_eve, "") == 1.0
    assert cal.factor(local_day(1742000000), "") > 1  # 2025-03-15, 3·15: callers come out
    assert load_calendar("none").factor(double11, "网络购物") == 1.0


def test_exposure_weighs_only_the_calendar_days_buckets() -> None:
    rhythm = Rhythm()
    cal = Calendar.parse(["2025-03-13,2025-03-13,sale,网购,3"])
    first = SALE * BUCKETS_PER_DAY - 8 * 4  # the sale day's first bucket (local midnight)
    assert day_of_bucket(first) == SALE and day_of_bucket(first - 1) == SALE - 1
    day_before = (first - 1 - BUCKETS_PER_DAY, first - 1)
    sale_day = (first - 1, first - 1 + BUCKETS_PER_DAY)
    assert cal.exposure(rhythm, *day_before, "网购") == rhythm.exposure(*day_before)
    assert cal.exposure(rhythm, *sale_day, "网购") == pytest.approx(3 * rhythm.exposure(*sale_day))
    assert cal.exposure(rhythm, *sale_day, "餐饮") == rhythm.exposure(*sale_day)
    both = (day_before[0], sale_day[1])
    assert cal.exposure(rhythm, *both, "网购") == pytest.approx(
        rhythm.exposure(*day_before) + 3 * rhythm.exposure(*sale_day))


def platform(per_day: float, days: int, sale_multiplier: float) -> list[Enriched]:
    """One online platform's steady complaints, each from a new person, multiplied on the sale day."""
    rng = random.Random(7)
    rhythm = Rhythm()
    peak = max(rhythm.factor(b) for b in range(7 * BUCKETS_PER_DAY))
    out, t = [], T0
    while t < T0 + days * DAY:
        t += rng.expovariate(per_day * sale_multiplier * peak / DAY)
        keep = rhythm.factor(bucket_of(t)) / (sale_multiplier if local_day(t) != SALE else 1.0)
        if rng.random() * peak < keep:
            out.append(Enriched(ticket_id=f"T{len(out):06d}", ts=t, district="310105", person=f"p{len(out)}",
                                firm_key="PLAT", firm_label="平台", category="网购", issue="质量",
                                terms=("发货", "退货")))
    return out


def group_disputes(tickets: list[Enriched], calendar: str) -> list:
    eng = OfflineEngine(replace(CFG, calendar=calendar), lambda k: len(k) % CFG.partitions)
    out = []
    for i in range(0, len(tickets), 500):
        out.extend(eng.feed(tickets[i:i + 500]))
    out.extend(eng.finish())
    return [d for d in out if d.type == GROUP_DISPUTE and d.status == OPEN]


def test_a_known_sale_shifts_expectations_instead_of_alerting(tmp_path: Path) -> None:
    tickets = platform(per_day=30, days=12, sale_multiplier=5)
    on_sale = sum(local_day(e.ts) == SALE for e in tickets)
    assert on_sale > 3 * 30  # the sale day really is a surge
    cal = tmp_path / "calendar.csv"
    cal.write_text("first,last,name,categories,factor\n2025-03-13,2025-03-13,店庆大促,网购,5\n")
    without = group_disputes(tickets, "none")
    assert [local_day(d.raised_at - 1) for d in without] == [SALE]  # unknown: an alert
    assert group_disputes(tickets, str(cal)) == []  # known: expected
