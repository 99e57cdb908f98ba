"""The abnormal-complainant evaluation family through detect: claimants found, rings told whole,
and a ring set on one firm is no group dispute once its members are flagged."""

from __future__ import annotations

from earlywarn.evalcomplainants import run_detect


def test_rings_are_flagged_and_cause_no_group_dispute() -> None:
    on = run_detect(301, days=10, per_day=800)
    off = run_detect(301, days=10, per_day=800, complainants=False)
    assert on.rings == 4 and on.rings_in_one_alert == on.rings  # each ring told in one alert
    assert on.true_flags / on.flagged >= 0.95 and on.true_flags / on.positives >= 0.9
    assert on.ring_disputes == 0
    assert off.ring_disputes > 0  # unchecked, the rings' attacks look like group disputes

