"""Top-10 boards (前十涉诉企业): the most complained firms, products, issues and hot words, per period and district.

The regulator's daily, weekly, monthly and quarterly reports name, for the city and each
of Shanghai's 16 districts, the ten firms most complained about and how that changed
against the previous period; the same for products, problem categories and hot words.
This module is the arithmetic, with no storage: which periods a ticket falls in
(:func:`period_of`, local +08:00 calendar: ISO weeks from Monday, quarters Q1-Q4), which
board counters it adds one to (:func:`entries`), and how a board is ranked and compared
(:func:`compose`). ``alerts/boards.py`` keeps the counters in Redis; :class:`Boards` keeps
them in memory (tests, offline).

What counts: complaints and reports (投诉举报), not consultations; each ticket once per
board, under its firm key, product key, issue key, and each of its terms (hot words). A
key's label is the least (in code point order) of the spellings its tickets gave, so
labels do not depend on arrival order. Ranking is by count, ties by key: deterministic.

>>> period_of(1741053600.0, "week"), period_of(1741053600.0, "quarter")   # 2025-03-04 10:00 +08:00
('2025-W10', '2025-Q1')
>>> previous("2025-W01", "week"), previous("2025-01", "month"), previous("2025-Q1", "quarter")
('2024-W52', '2024-12', '2024-Q4')
>>> b = Boards()
>>> for i, firm in enumerate(["A", "B", "A", "C", "A", "B"]):
...     _ = b.add(BoardTicket(f"T{i}", 1741053600.0, "complaint", "310115", firm_key=firm, firm_label=firm + "公司"))
>>> [(x["key"], x["count"]) for x in b.board("day", "2025-03-04", "city", "firm")["items"]]
[('A', 3), ('B', 2), ('C', 1)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from schemas.alerts import SHANGHAI
from schemas.regions import SHANGHAI_DISTRICTS, district_name

LOCAL = SHANGHAI  # the alert contract's fixed +08:00
PERIODS: tuple[str, ...] = ("day", "week", "month", "quarter")
DIMENSIONS: tuple[str, ...] = ("firm", "product", "issue", "term")
CITY = "city"
SCOPES: tuple[str, ...] = (CITY, *SHANGHAI_DISTRICTS)
COUNTED_KINDS = frozenset({"complaint", "report"})
TOP = 10
# How long a period's counters are worth keeping: itself and the next (which compares to it), and a margin.
RETENTION_SECONDS: dict[str, int] = {"day": 3 * 86400, "week": 15 * 86400, "month": 63 * 86400,
                                     "quarter": 190 * 86400}


@dataclass(frozen=True, slots=True)
class BoardTicket:
    """What the boards read of one ticket (``detectors.aggregate.Enriched`` carries all of it)."""

    ticket_id: str
    ts: float
    kind: str
    district: str
    firm_key: str | None = None
    firm_label: str | None = None
    product_key: str | None = None
    product_label: str | None = None
    issue: str | None = None
    terms: tuple[str, ...] = ()


def period_of(ts: float, kind: str) -> str:
    """The id of the *kind* period (day, week, month, quarter) holding event time *ts*."""
    d = datetime.fromtimestamp(ts, LOCAL).date()
    return _period_of_date(d, kind)


def _period_of_date(d: date, kind: str) -> str:
    if kind == "day":
        return d.isoformat()
    if kind == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    if kind == "month":
        return f"{d.year}-{d.month:02d}"
    if kind == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    raise ValueError(f"unknown period kind {kind!r}; one of {', '.join(PERIODS)}")


def first_day(period: str, kind: str) -> date:
    """The first local day of a period id."""
    if kind == "day":
        return date.fromisoformat(period)
    if kind == "week":
        y, w = period.split("-W")
        return date.fromisocalendar(int(y), int(w), 1)
    if kind == "month":
        y, m = period.split("-")
        return date(int(y), int(m), 1)
    if kind == "quarter":
        y, q = period.split("-Q")
        return date(int(y), 3 * (int(q) - 1) + 1, 1)
    raise ValueError(f"unknown period kind {kind!r}; one of {', '.join(PERIODS)}")


def previous(period: str, kind: str) -> str:
    """The period before *period* (its first day's eve's period)."""
    return _period_of_date(first_day(period, kind) - timedelta(days=1), kind)


def members(t: BoardTicket) -> list[tuple[str, str, str]]:
    """(dimension, key, label) a ticket counts under, each once."""
    if t.kind not in COUNTED_KINDS:
        return []
    out = []
    if t.firm_key:
        out.append(("firm", t.firm_key, t.firm_label or t.firm_key))
    if t.product_key:
        out.append(("product", t.product_key, t.product_label or t.product_key))
    if t.issue:
        out.append(("issue", t.issue, t.issue))
    out.extend(("term", term, term) for term in dict.fromkeys(t.terms))
    return out


def entries(t: BoardTicket) -> list[tuple[str, str, str, str, str, str]]:
    """(period kind, period id, scope, dimension, key, label) of every counter the ticket adds one to.

    >>> len(entries(BoardTicket("T1", 1741053600.0, "report", "310115", firm_key="F", issue="质量")))
    16
    """
    ms = members(t)
    if not ms:
        return []
    scopes = (CITY, t.district) if t.district in SHANGHAI_DISTRICTS else (CITY,)
    return [(kind, period_of(t.ts, kind), scope, dim, key, label)
            for kind in PERIODS for scope in scopes for dim, key, label in ms]


def rank(counts: Mapping[str, float], n: int = TOP) -> list[tuple[str, int]]:
    """The top *n* (key, count), by count then key.

    >>> rank({"b": 2, "a": 2, "c": 5}, 2)
    [('c', 5), ('a', 2)]
    """
    return [(k, int(c)) for k, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def compose(kind: str, period: str, scope: str, dimension: str, top: list[tuple[str, int]],
            previous_counts: Mapping[str, float], previous_ranks: Mapping[str, int],
            labels: Mapping[str, str]) -> dict[str, Any]:
    """A board as served (JSON): the top entries with their change against the previous period.

    *previous_counts* needs the counts of the top entries only (absent: 0), *previous_ranks*
    the previous period's top ranks (1-based; absent: not in its top).
    """
    items = []
    for i, (key, count) in enumerate(top, start=1):
        before = int(previous_counts.get(key, 0))
        items.append({
            "rank": i,
            "key": key,
            "label": labels.get(key, key),
            "count": count,
            "previous_count": before,
            "change": count - before,
            "change_ratio": round((count - before) / before, 4) if before else None,
            "previous_rank": previous_ranks.get(key),
        })
    return {
        "period_kind": kind,
        "period": period,
        "previous_period": previous(period, kind),
        "scope": scope,
        "scope_name": "全市" if scope == CITY else district_name(scope),
        "dimension": dimension,
        "items": items,
    }


class Boards:
    """Every board's counters in memory, with labels; ``board`` serves one as JSON (a dict)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str, str], dict[str, int]] = {}
        self._labels: dict[str, dict[str, str]] = {d: {} for d in DIMENSIONS}
        self._seen: set[str] = set()

    def add(self, t: BoardTicket) -> bool:
        """Count a ticket; False when its id was already counted (a redelivery)."""
        if t.ticket_id in self._seen:
            return False
        self._seen.add(t.ticket_id)
        for kind, period, scope, dim, key, label in entries(t):
            c = self._counts.setdefault((kind, period, scope, dim), {})
            c[key] = c.get(key, 0) + 1
            old = self._labels[dim].get(key)
            if old is None or label < old:
                self._labels[dim][key] = label
        return True

    def add_many(self, ts: Iterable[BoardTicket]) -> None:
        for t in ts:
            self.add(t)

    def counts(self, kind: str, period: str, scope: str, dimension: str) -> dict[str, int]:
        return dict(self._counts.get((kind, period, scope, dimension), {}))

    def board(self, kind: str, period: str, scope: str, dimension: str, n: int = TOP) -> dict[str, Any]:
        now = self.counts(kind, period, scope, dimension)
        before = self.counts(kind, previous(period, kind), scope, dimension)
        prev_ranks = {k: i for i, (k, _) in enumerate(rank(before, n), start=1)}
        return compose(kind, period, scope, dimension, rank(now, n), before, prev_ranks, self._labels[dimension])
