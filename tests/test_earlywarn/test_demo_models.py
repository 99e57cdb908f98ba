"""The demo's end screens of the regulator's models read in 80 columns: the flagged
complainants (from the Redis flag registry) and a district's top 10 (from the boards)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console

from detectors.boards import BoardTicket, Boards
from earlywarn.demo import board_table, flags_table, live_view

DAY0 = 1741053600.0  # 2025-03-04T10:00:00+08:00
FLAGS = {
    "p_0123456789abcdef": {"person": "p_0123456789abcdef", "finding": "p_0123456789abcdef",
                           "reasons": ["firm_sweep", "statutory_multiple", "template"], "first_seen": DAY0,
                           "last_seen": DAY0, "expires": DAY0 + 90 * 86400, "ticket_ids": ["T1", "T2", "T3"]},
    "p_fedcba9876543210": {"person": "p_fedcba9876543210", "finding": "p_0123456789abcdef", "reasons": ["template"],
                           "first_seen": DAY0, "last_seen": DAY0, "expires": DAY0 + 80 * 86400, "ticket_ids": ["T4"]},
}


def text(renderable: object, width: int) -> str:
    console = Console(width=width, height=40, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 160])
def test_the_flagged_complainants_show_who_why_and_until_when(width: int) -> None:
    out = text(flags_table(FLAGS), width)
    assert max(cell_len(line) for line in out.splitlines()) <= width
    (row,) = [line for line in out.splitlines() if "p_0123456789abcdef" in line]  # the pseudonym whole
    assert "2025-03-04" in row and "2025-06-02" in row and " 3" in row
    assert "模板化投诉举报" in out and "惩罚性赔偿诉求" in out
    # Soonest to lapse first.
    assert out.index("p_fedcba9876543210") < out.index("p_0123456789abcdef")


@pytest.mark.parametrize("width", [80, 160])
def test_a_districts_top_ten_shows_rank_firm_count_and_change(width: int) -> None:
    b = Boards()
    for i in range(12):
        for j in range(i + 1):
            b.add(BoardTicket(f"T{i}-{j}", DAY0, "complaint", "310115", firm_key=f"F{i:02d}",
                              firm_label=f"上海某某第{i}号商贸有限公司（浦东新区分店）"))
    out = text(board_table(b.board("week", "2025-W10", "310115", "firm")), width)
    assert max(cell_len(line) for line in out.splitlines()) <= width
    assert "浦东新区" in out and "2025-W10" in out and "2025-W09" in out
    ranked = [line for line in out.splitlines() if "+" in line]
    assert len(ranked) == 10 and "12" in ranked[0] and "+12" in ranked[0]


def test_the_live_view_counts_the_flags_and_still_reads_in_80_columns() -> None:
    out = text(live_view([], sent=1_234_567, stats={"tickets": 1_234_000, "deadlettered": 48}, alert_events=312,
                         took=3086.0, width=80, flagged=7), 80)
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    assert "flagged 7" in out
