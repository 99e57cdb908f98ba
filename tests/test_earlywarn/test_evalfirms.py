"""The abnormal-firm evaluation family: repeat offenders found, spikes, big platforms and a season left alone."""

from __future__ import annotations

from detectors.firms import FirmJudge
from earlywarn.evalfirms import run, scenario, table


def test_repeat_offenders_are_found_and_decoys_left_alone() -> None:
    s = run(scenario(7, days=35, per_day=800, n=2))
    assert s.positives == 6 and s.days_judged == 7
    assert s.found == s.positives and s.false_flags == 0, (s.missed, s.false_detail)
    text, ok = table([s])
    assert ok and "targets met" in text


def test_the_score_counts_what_a_careless_judge_flags() -> None:
    # Without the busiest days left out, the one-day bursts (the spikes, the group disputes) are flagged.
    s = run(scenario(7, days=35, per_day=800, n=2), FirmJudge(spread_days=0))
    assert s.false_flags > 0 and s.precision < 1.0 and "false flag" in table([s])[0]
