"""Date-only timestamps (issue 16, item 6): a source whose tickets all sit at a local midnight or noon
is judged by the day, finds its disputes without false alarms on quiet days, and decides alike
however it is batched or restarted; ordinary timestamps are never judged so."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detectors.aggregate import Enriched
from detectors.dated import STAMPS, Dated
from detectors.decisions import GROUP_DISPUTE
from detectors.offline import OfflineEngine
from detectors.windows import BUCKETS_PER_DAY
from tests.test_detectors.test_partition import CFG, DAY, T0, background, burst, opened, restarted, route, run

LOCAL = 8 * 3600


def dated(tickets: list[Enriched], hour: int) -> list[Enriched]:
    """The tickets as a source that keeps only dates gives them: at *hour* sharp of their local day."""
    def stamp(ts: float) -> float:
        return (ts + LOCAL) // DAY * DAY - LOCAL + hour * 3600
    return sorted((replace(e, ts=stamp(e.ts)) for e in tickets), key=lambda e: e.ts)


@pytest.fixture(scope="module", params=[12, 0], ids=["noon", "midnight"])
def stamped(request: pytest.FixtureRequest) -> list[Enriched]:
    """Two weeks of sparse background with a 15-person dispute on day 10, all carrying only their date."""
    return dated(background(1, 14) + burst("GD", T0 + 10 * DAY + 2 * 3600, hours=3, people=15), request.param)


def judged(tickets: list[Enriched], batch: int = 500) -> tuple[list, OfflineEngine]:
    eng = OfflineEngine(CFG, route)
    out = []
    for i in range(0, len(tickets), batch):
        out.extend(eng.feed(tickets[i:i + batch]))
    out.extend(eng.finish())
    return out, eng


def test_the_stamp_buckets_are_local_midnight_and_noon() -> None:
    assert {b for b in range(BUCKETS_PER_DAY) if (b * 900 + LOCAL) % 43200 == 0} == STAMPS


def test_a_date_only_source_is_judged_by_the_day_and_finds_its_dispute(stamped: list[Enriched]) -> None:
    out, eng = judged(stamped)
    disputes = [(d.key, d.window_end - d.window_start) for d in opened(out, GROUP_DISPUTE)]
    assert ("SHOP", DAY) in disputes  # over a day's window: a date says nothing finer
    assert len(opened(out)) <= 3, [(d.type, d.key) for d in opened(out)]  # no surge on every quiet day
    for e in eng.engines.values():
        assert e.clock.dated.days >= 12  # every day after the first
        assert e.clock.gaps.spans == []  # the hours between dates are no feed outage


def test_without_the_watch_a_date_only_source_finds_nothing(stamped: list[Enriched],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: judged by the hour, the hours between dates are taken for
    outages and the dispute is never raised (what main did)."""
    monkeypatch.setattr("detectors.dated.DATED_SHARE", 2.0)
    out, eng = judged(stamped)
    assert "SHOP" not in {d.key for d in opened(out, GROUP_DISPUTE)}
    assert any(e.clock.gaps.spans for e in eng.engines.values())


def test_date_only_decisions_do_not_depend_on_batching_or_a_restart(stamped: list[Enriched]) -> None:
    expected = run(stamped, batch=400)
    assert expected and run(stamped, batch=97) == expected and run(stamped, batch=5000) == expected
    half = next(i for i, e in enumerate(stamped) if e.ts >= T0 + 9.6 * DAY)
    assert restarted(stamped, half) == expected


def test_ordinary_times_are_never_judged_by_the_day() -> None:
    tickets = sorted(background(2, 10), key=lambda e: e.ts)
    # a few tickets at midnight or noon sharp by chance are ordinary tickets
    tickets = sorted(tickets + [replace(e, ticket_id=f"S{i}", ts=T0 + (i + 1) * DAY / 2 - 8 * 3600)
                                for i, e in enumerate(tickets[:12])], key=lambda e: e.ts)
    _, eng = judged(tickets)
    assert all(e.clock.dated.days == 0 for e in eng.engines.values())


def test_a_source_that_turns_date_only_is_judged_by_the_day_from_the_next_day() -> None:
    w = Dated()
    noon = next(iter(sorted(STAMPS)))
    for day in range(3):  # ordinary days
        for b in range(0, BUCKETS_PER_DAY, 4):
            w.tick(day * BUCKETS_PER_DAY + b, 20.0)
    assert not w.at(3 * BUCKETS_PER_DAY)
    w.tick(3 * BUCKETS_PER_DAY + noon, 500.0)  # the first date-only day, then one more
    assert w.at(4 * BUCKETS_PER_DAY) and w.at(4 * BUCKETS_PER_DAY + noon - 1)
    w.tick(4 * BUCKETS_PER_DAY + noon, 500.0)
    assert w.at(5 * BUCKETS_PER_DAY) and w.days == 2
    back = Dated.load(w.to_dict())
    assert back.to_dict() == w.to_dict()
    assert not w.at(7 * BUCKETS_PER_DAY)  # a day with no tickets between: by the hour again
