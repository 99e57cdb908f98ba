"""Date-only input at ``detect``'s edges (issue 16, item 6): how many tickets carried only a date, and
the eval family that makes such input from a scenario."""

from __future__ import annotations

from datetime import datetime

from earlywarn.detect import DetectStats
from earlywarn.evalrun import date_only
from earlywarn.simulate import Incident

NOON = datetime.fromisoformat("2025-03-03T12:00:00+08:00").timestamp()


def test_a_file_of_dates_is_counted_and_chance_stamps_in_ordinary_times_are_not() -> None:
    dates = DetectStats()
    dates.saw([NOON + d * 86400 + h * 43200 for d in range(30) for h in (0, 0, 0)])  # noon, day after day
    assert dates.dated == 90 - 8  # a file's first eight alone are not a source
    ordinary = DetectStats()
    times = [NOON + 30.0 * i for i in range(5000)]  # every 30 s from noon: now and then 12:00:00 or 00:00:00 sharp
    ordinary.saw(times)
    assert sum((t + 8 * 3600) % 43200 == 0 for t in times) >= 2 and ordinary.dated == 0


def test_the_date_families_move_tickets_and_labels_to_their_dates_hour() -> None:
    t1 = datetime.fromisoformat("2025-03-03T23:59:59+08:00").timestamp()
    tickets = [{"ticket_id": "A", "received_at": "2025-03-03T09:15:42+08:00"},
               {"ticket_id": "B", "received_at": "2025-03-03T23:59:59+08:00"}]
    label = Incident("i", "prepaid_closure", "group_dispute", "firm", ("F",), NOON - 9000, t1, 2, ("A", "B"),
                     (NOON - 9000, t1))
    for hour, at in ((12, "2025-03-03T12:00:00+08:00"), (0, "2025-03-03T00:00:00+08:00")):
        out, (moved,) = date_only(tickets, [label], hour)
        assert [t["received_at"] for t in out] == [at, at]
        stamp = datetime.fromisoformat(at).timestamp()
        assert (moved.start_ts, moved.end_ts, moved.ticket_ts) == (stamp, stamp, (stamp, stamp))
