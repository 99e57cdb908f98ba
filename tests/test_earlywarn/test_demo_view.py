"""The demo's live view reads in an 80-column terminal and uses the room a wide one gives."""

from __future__ import annotations

from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from alerts.render import render
from detectors.decisions import Decision
from earlywarn.demo import WIDE, live_view
from schemas.alerts import alert_id

START = 1741053600.0  # 2025-03-04T10:00:00+08:00


def alert(type: str, status: str, severity: str, dimension: str, key: str, label: str,
          people: int, observed: int) -> dict[str, Any]:
    """An alert as the alert topic carries it: a decision rendered to contract v1."""
    return render(Decision(
        alert_id=alert_id(type, dimension, key, START - 3600), type=type, status=status, severity=severity,
        dimension=dimension, key=key, label=label, district_code="310115", window_start=START - 3600,
        window_end=START, raised_at=START, observed=observed, expected=1.7349, score=0.999,
        distinct_complainants=people, ticket_ids=tuple(f"T{i}" for i in range(observed)),
        top_terms=("闭店", "退费", "预付卡"), firms=4, amount=52000.0, top_issue="退费"))


ALERTS = [
    alert("group_dispute", "open", "critical", "firm_issue", "91310115MA1K3ABCD8|退费", "上海某某健身有限公司·退费",
          37, 41),
    alert("concentrated_demand", "update", "warning", "product", "某品牌电动自行车", "某品牌电动自行车", 128, 133),
    alert("term_surge", "open", "info", "term", "跑路", "跑路", 9, 12),
    alert("group_dispute", "resolved", "warning", "firm", "name:某某教育", "某某教育培训中心（浦东校区）", 54, 60),
]
TYPE_NAME = {"group_dispute": "群体纠纷", "concentrated_demand": "集中诉求", "term_surge": "热词突增"}


LONG = alert("concentrated_demand", "open", "warning", "product", "p:电动自行车锂电池",
             "某品牌电动自行车锂电池（48V 20Ah）长续航版", 15, 17)


def screen(width: int, alerts: list[dict[str, Any]] = ALERTS) -> str:
    console = Console(width=width, height=40, record=True, color_system=None)
    console.print(live_view(alerts, sent=1_234_567, stats={"tickets": 1_234_000, "deadlettered": 48},
                            alert_events=312, took=3086.0, width=width))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 160])
def test_every_alert_shows_its_type_severity_subject_and_people(width: int) -> None:
    text = screen(width)
    assert max(cell_len(line) for line in text.splitlines()) <= width
    for a in ALERTS:
        (row,) = [line for line in text.splitlines() if a["subject"]["label"] in line]  # whole, on one line
        assert TYPE_NAME[a["type"]] in row and f" {a['severity']} " in row
        assert f" {a['distinct_complainants']} " in row and f" {a['observed']}/1.73 " in row
        head = row.split(a["subject"]["label"])[0]
        assert "…" not in head and "…" not in row.split(f"{a['observed']}/1.73")[0]
    assert all(a["status"] in text for a in ALERTS)
    assert "sent 1,234,567" in text and "dead-lettered 48" in text and "rate 400/s" in text


def test_at_80_columns_nothing_is_cut_and_a_long_name_wraps() -> None:
    text = screen(80, [*ALERTS, LONG])
    assert "…" not in text
    assert "summary" not in text  # a paragraph has no room at 80 columns
    lines = [line for line in text.splitlines() if "某品牌电动自行车锂电池" in line or "长续航版" in line]
    assert len(lines) == 2 and "17/1.73" in lines[0]  # the name goes on below its row's first line


def test_wide_terminals_also_show_the_summary() -> None:
    text = screen(WIDE + 40)
    assert "summary" in text
    for a in ALERTS:
        assert a["summary"][:20] in text


def test_the_counters_wrap_between_counters_not_inside_one() -> None:
    head = screen(80).split("╭")[0]
    assert len(head.splitlines()) == 2
    for counter in ("sent 1,234,567", "processed 1,234,000", "dead-lettered 48", "alert events 312",
                    "rate 400/s", "3,086s"):
        assert counter in head
