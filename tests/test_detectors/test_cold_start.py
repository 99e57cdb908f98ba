"""Cold start (issue 16, item 8): a deployment with no history raises strong evidence from its
second day; weak evidence waits for the week of history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detectors.aggregate import Enriched
from detectors.config import COLD_MIN_PEOPLE
from detectors.decisions import GROUP_DISPUTE
from tests.test_detectors import test_partition
from tests.test_detectors.test_partition import DAY, T0, background, burst, opened

CFG = replace(test_partition.CFG, cold_days=1.0)  # cold start on (EARLYWARN_COLD_DAYS=1; off by default)


def run(tickets: list[Enriched]) -> list:
    return test_partition.run(tickets, cfg=CFG)


@pytest.fixture(scope="module")
def fresh() -> list[Enriched]:
    """Five days of sparse background, the deployment's first: no history before it."""
    return background(5, 5)


def disputes_at(decided: list, firm: str) -> list:
    return [d for d in opened(decided, GROUP_DISPUTE) if d.key.split("|")[0] == firm]


def test_a_big_dispute_at_a_new_firm_is_raised_on_day_three(fresh: list[Enriched]) -> None:
    decided = run(fresh + burst("CD", T0 + 2.1 * DAY, hours=4, people=40, firm="NEWGYM"))
    [alert] = disputes_at(decided, "NEWGYM")
    assert T0 + 2.1 * DAY < alert.raised_at < T0 + 2.1 * DAY + 4 * 3600


def test_weak_evidence_waits_for_history(fresh: list[Enriched]) -> None:
    small = burst("WK", T0 + 2.1 * DAY, hours=3, people=COLD_MIN_PEOPLE - 3, firm="SMALLSHOP")
    assert disputes_at(run(fresh + small), "SMALLSHOP") == []
    # The same burst after the week of history is a group dispute.
    later = background(5, 9) + burst("WK", T0 + 8.1 * DAY, hours=3, people=COLD_MIN_PEOPLE - 3, firm="SMALLSHOP")
    assert len(disputes_at(run(later), "SMALLSHOP")) == 1


def test_nothing_is_judged_on_the_first_day(fresh: list[Enriched]) -> None:
    decided = run(fresh + burst("D1", T0 + 0.2 * DAY, hours=3, people=40, firm="DAYONE"))
    assert [d for d in opened(decided) if d.raised_at < T0 + DAY] == []


def test_the_background_raises_nothing_in_the_first_week(fresh: list[Enriched]) -> None:
    """What made the warm-up: with short baselines much looks new. Strong evidence only keeps it quiet."""
    assert [(d.type, d.key) for d in opened(run(fresh))] == []
    assert CFG.warmup_days == 7.0 and CFG.cold_days == 1.0
