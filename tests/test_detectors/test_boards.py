"""Boards in memory equal a brute-force recount of a simulated month; periods and ranking."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from detectors.boards import CITY, PERIODS, BoardTicket, Boards, period_of, previous, rank
from earlywarn.simulate import SimConfig, generate
from schemas.normalise import firm_key, text_key


def board_tickets(seed: int = 11, days: float = 31) -> list[BoardTicket]:
    tickets, _ = generate(SimConfig(seed=seed, days=days, tickets_per_day=600, firms=400, start="2025-02-20T00:00:00+08:00"))
    out = []
    for t in tickets:
        words = tuple(w for w in ("退费", "预付卡", "虚假宣传", "食品安全", "质量") if w in t["content"])
        out.append(BoardTicket(t["ticket_id"], datetime.fromisoformat(t["received_at"]).timestamp(), t["kind"],
                               t["district_code"], firm_key=firm_key(t.get("firm_id"), t.get("firm_name")),
                               firm_label=(t.get("firm_name") or "").strip() or None,
                               product_key=text_key(t.get("product_name")), product_label=t.get("product_name"),
                               issue=text_key(t.get("issue_category")), terms=words))
    return out


@pytest.fixture(scope="module")
def month() -> list[BoardTicket]:
    return board_tickets()


def brute(tickets: list[BoardTicket], kind: str, period: str, scope: str, dim: str) -> Counter[str]:
    c: Counter[str] = Counter()
    for t in tickets:
        if t.kind == "consultation" or period_of(t.ts, kind) != period or (scope != CITY and t.district != scope):
            continue
        keys = {"firm": [t.firm_key], "product": [t.product_key], "issue": [t.issue], "term": list(set(t.terms))}[dim]
        c.update(k for k in keys if k)
    return c


def test_every_board_equals_a_brute_force_recount(month: list[BoardTicket]) -> None:
    b = Boards()
    b.add_many(month)
    checked = 0
    for kind, period in (("day", "2025-03-04"), ("week", "2025-W10"), ("month", "2025-03"), ("quarter", "2025-Q1")):
        for scope in (CITY, "310115", "310151"):
            for dim in ("firm", "product", "issue", "term"):
                want = brute(month, kind, period, scope, dim)
                assert b.counts(kind, period, scope, dim) == dict(want)
                board = b.board(kind, period, scope, dim)
                top = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
                assert [(x["key"], x["count"]) for x in board["items"]] == top
                before = brute(month, kind, previous(period, kind), scope, dim)
                assert [x["previous_count"] for x in board["items"]] == [before.get(k, 0) for k, _ in top]
                assert all(x["change"] == x["count"] - x["previous_count"] for x in board["items"])
                checked += len(top)
    assert checked > 300


def test_order_and_redelivery_do_not_matter(month: list[BoardTicket]) -> None:
    a, b = Boards(), Boards()
    a.add_many(month)
    b.add_many(reversed(month))
    b.add_many(month[:500])
    assert a.board("week", "2025-W10", CITY, "firm") == b.board("week", "2025-W10", CITY, "firm")


@pytest.mark.parametrize(("ts", "kind", "want"), [
    (1735660800.0, "day", "2025-01-01"),      # 2025-01-01 00:00 +08:00 (still 2024 in UTC)
    (1735660799.0, "day", "2024-12-31"),
    (1735660800.0, "week", "2025-W01"),       # ISO week 1 of 2025 starts 2024-12-30
    (1735488000.0, "week", "2025-W01"),       # 2024-12-30 00:00 +08:00
    (1743436800.0, "quarter", "2025-Q2"),     # 2025-04-01 00:00 +08:00
    (1743436799.0, "month", "2025-03"),
])
def test_periods_are_local_calendar(ts: float, kind: str, want: str) -> None:
    assert period_of(ts, kind) == want


def test_previous_periods() -> None:
    assert [previous(p, k) for p, k in (("2025-03-01", "day"), ("2025-W10", "week"), ("2025-03", "month"),
                                        ("2025-Q3", "quarter"))] == ["2025-02-28", "2025-W09", "2025-02", "2025-Q2"]
    assert PERIODS == ("day", "week", "month", "quarter")


def test_rank_breaks_ties_by_key() -> None:
    assert rank({"b": 3, "a": 3, "c": 9, "d": 1}, 3) == [("c", 9), ("a", 3), ("b", 3)]
