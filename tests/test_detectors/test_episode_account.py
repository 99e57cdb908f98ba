"""A resolved event reports its episode as a whole, and every summary's numbers are the alert's fields."""

from __future__ import annotations

import re

import pytest

from alerts.render import render
from detectors.decisions import GROUP_DISPUTE, OPEN, RESOLVED
from tests.test_detectors.test_partition import DAY, T0, background, burst, run


@pytest.fixture(scope="module")
def slow_dispute() -> list:
    """A dispute that goes on for three days (people write on each), so its first
    buckets are pruned long before it resolves."""
    days = [burst(f"SLOW{d}", T0 + (9 + d) * DAY + 10 * 3600, 3, 12) for d in range(3)]
    return [d for d in run(background(1, 14) + [e for day in days for e in day]) if d.key == "SHOP"]


def test_a_resolved_event_reports_the_whole_episode(slow_dispute: list) -> None:
    opened = [d for d in slow_dispute if d.status == OPEN and d.type == GROUP_DISPUTE]
    assert opened
    for o in opened:
        told = [d for d in slow_dispute if d.alert_id == o.alert_id]
        resolved = [d for d in told if d.status == RESOLVED]
        assert len(resolved) == 1
        r = resolved[0]
        assert r.observed >= max(d.observed for d in told if d.status != RESOLVED)
        assert r.distinct_complainants >= max(d.distinct_complainants for d in told if d.status != RESOLVED)
        assert r.distinct_complainants >= 24  # people wrote on every day of it: 36 in all
        assert r.ticket_ids and set(o.ticket_ids) <= set(r.ticket_ids)
        assert r.window_start == o.window_start or r.window_start <= o.window_end


def _numbers(summary: str) -> dict[str, list[float]]:
    return {
        "people": [float(x) for x in re.findall(r"(\d+)名消费者", summary)],
        "expected": [float(x) for x in re.findall(r"通常约([\d.e+-]+)名", summary)],
        "times": [float(x) for x in re.findall(r"(\d+)人次", summary)],
    }


def test_every_summary_states_the_alerts_own_numbers(slow_dispute: list) -> None:
    assert slow_dispute
    for d in slow_dispute:
        a = render(d)
        n = _numbers(a["summary"])
        assert a["observed"] <= a["distinct_complainants"] or a["status"] != RESOLVED
        if a["status"] == RESOLVED:
            assert n["people"] == [a["observed"], a["distinct_complainants"]], a["summary"]
        else:
            assert n["people"] == [a["distinct_complainants"]], a["summary"]
            assert a["distinct_complainants"] == a["observed"]
            assert n["expected"] == [a["expected"]], a["summary"]
        # Person-times are never fewer than people (no "69名消费者，共50人次").
        for t in n["times"]:
            assert t >= max(n["people"])
