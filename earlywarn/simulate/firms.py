"""Abnormal firms (opt-in, ``SimConfig.abnormal_firms``): labelled repeat offenders and the decoys they must be told from.

A repeat offender (``abnormal``) is an ordinary firm whose claims depart, for the last two
to three weeks of the scenario, from its own past and from its peers (same sector and
district), in one of three ways:

===============  ===========================================================================
family           what is added from its onset to the scenario's end (per day, weekly rhythm)
===============  ===========================================================================
``volume``       claims at 3-6 times its own rate, and at least two a day more
``issue_mix``    claims on one of its sector's rarer issues, about its own rate again (≥ 1.5/day)
``amount``       claims naming 6-15 times its sector's median sum, 0.8 times its rate (≥ 1.5/day)
===============  ===========================================================================

Decoys, which must not be found (``abnormal`` False):

- ``decoy_spike``: one day's burst at a firm (15-40 claims in 2-6 hours), then nothing
  more: a group dispute, not a repeat offender;
- ``decoy_big``: the busiest platforms, far above any peer and steady (nothing added);
- ``decoy_season``: every firm of one sector (旅游 or 教育培训) at 1.8-2.5 times its usual
  tickets (consultations too) from the same kind of onset on: a season, not a firm.

A scenario with them needs 29 days or more (two weeks of past, two of offending); the
evaluation (``earlywarn eval --family firms``) runs six weeks.

Each case is a :class:`FirmCase` naming the firm keys the engine derives (its USCC, and
``name:`` + its normalised name for tickets with a malformed id). Planned from its own
generator (``abnormal_firms``), after everything else, so a config without abnormal firms
plans and writes exactly what it did before.

>>> from earlywarn.simulate import SimConfig, Simulation
>>> sim = Simulation(SimConfig(seed=3, days=35, tickets_per_day=600, firms=600, incidents=(), decoys=(),
...                            professionals=0, abnormal_firms=3))
>>> sorted({c.family for c in sim.firm_cases})
['amount', 'decoy_big', 'decoy_season', 'decoy_spike', 'issue_mix', 'volume']
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from earlywarn.simulate.draws import _cum, _pick, _poisson
from earlywarn.simulate.population import _Firm
from earlywarn.simulate.records import text_key
from earlywarn.simulate.rhythm import _DAY, _FIRM_BEARING, _HOUR, HOURLY_PROFILE, KIND_SHARES, WEEKDAY_VOLUME
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.vocab import SECTORS
from earlywarn.simulate.writer import _Writer

ABNORMAL_FAMILIES = ("volume", "issue_mix", "amount")
DECOY_FAMILIES = ("decoy_spike", "decoy_big", "decoy_season")
_CLAIM_SHARE = KIND_SHARES["complaint"] + KIND_SHARES["report"]  # of all tickets, the claims
_SEASON_SECTORS = ("旅游", "教育培训")


@dataclass(frozen=True, slots=True)
class FirmCase:
    """A labelled firm (or, for a season, a sector's firms): found or not, from *start_ts* on."""

    case_id: str
    family: str
    abnormal: bool
    firm_keys: tuple[str, ...]
    start_ts: float
    end_ts: float
    description: str = ""


def firm_keys(firm: _Firm) -> tuple[str, ...]:
    return (firm.firm_id, "name:" + text_key(firm.name))


def plan_firms(sim: _ScenarioState) -> tuple[list[tuple[int, dict[str, Any]]], tuple[FirmCase, ...]]:
    """((ts, ticket) for every added claim, the cases): *n* of each abnormal family, *n*
    spikes, the *n* busiest platforms and one season (``SimConfig.abnormal_firms`` = n)."""
    n = sim.cfg.abnormal_firms
    if n <= 0:
        return [], ()
    p = _Planner(sim)
    for _ in range(n):
        p.volume()
        p.issue_mix()
        p.amount()
        p.spike()
    for f in sorted((f for f in sim.firms if f.is_platform), key=lambda f: sim._rank[f.idx])[:n]:
        p.case("decoy_big", firm_keys(f), p.first, p.last + 1, f"{f.name}: the busiest, steady")
    p.season()
    return p.out, tuple(p.cases)


class _Planner:
    """One scenario's added claims and cases, drawn in a fixed order from one generator (the
    order is the output: a change here changes every scenario with abnormal firms)."""

    def __init__(self, sim: _ScenarioState) -> None:
        self.sim = sim
        self.rng = rng = sim._rng("abnormal_firms")
        self.w = _Writer(sim, rng)
        self.first, self.last = sim._day_index(sim._t0), sim._day_index(sim._t1 - 1)
        if self.last - self.first < 28:
            raise ValueError("abnormal firms need a scenario of 29 days or more (two weeks of past, two of onset)")
        self.hour_cum = _cum(HOURLY_PROFILE)
        self.out: list[tuple[int, dict[str, Any]]] = []
        self.cases: list[FirmCase] = []
        self.ranked = sorted((f for f in sim.firms if not f.is_platform), key=lambda f: sim._rank[f.idx])
        self.taken: set[int] = set()

    def base(self, f: _Firm) -> float:
        """The firm's usual claims per day."""
        return self.sim.cfg.tickets_per_day * f.weight * _CLAIM_SHARE

    def onset(self) -> int:
        """A day two to three weeks before the end."""
        return self.rng.randint(max(self.first + 14, self.last - 20), self.last - 13)

    def claims(self, f: _Firm, day: int, per_day: float, **kw: Any) -> None:
        """*per_day* claims about *f* on *day* (with ``consultations=True``: tickets of every kind)."""
        sim, rng = self.sim, self.rng
        midnight = sim._midnight0 + day * _DAY
        for _ in range(_poisson(rng, per_day * WEEKDAY_VOLUME[sim._date_of(day).weekday()])):
            ts = midnight + _pick(rng, range(24), self.hour_cum) * _HOUR + rng.randrange(_HOUR)
            if sim._t0 <= ts < sim._t1:
                self.out.append((ts, _claim(self.w, rng, f, sim._new_person(), ts, **kw)))

    def pick(self, lo: float, hi: float) -> _Firm:
        """A firm not yet taken, outside the season's sectors, whose usual claims lie in [lo, hi]."""
        pool = [f for f in self.ranked
                if lo <= self.base(f) <= hi and f.idx not in self.taken and f.sector not in _SEASON_SECTORS]
        f = self.rng.choice(pool)
        self.taken.add(f.idx)
        return f

    def case(self, family: str, f_keys: tuple[str, ...], d0: int, d1: int, what: str) -> None:
        sim = self.sim
        number = sum(c.family == family for c in self.cases) + 1
        self.cases.append(FirmCase(f"s{sim.cfg.seed}-{family}-{number}", family, family in ABNORMAL_FAMILIES, f_keys,
                                   float(sim._midnight0 + d0 * _DAY), float(min(sim._t1, sim._midnight0 + d1 * _DAY)),
                                   what))

    def volume(self) -> None:
        f = self.pick(0.05, 1.0)
        m = self.rng.uniform(3.0, 6.0)
        extra = max(2.0, (m - 1) * self.base(f))
        d0 = self.onset()
        for d in range(d0, self.last + 1):
            self.claims(f, d, extra)
        self.case("volume", firm_keys(f), d0, self.last + 1,
                  f"{f.name}: +{extra:.1f} claims a day (usually {self.base(f):.2f})")

    def issue_mix(self) -> None:
        f = self.pick(0.4, 4.0)
        issues = [i for i, _ in SECTORS[f.sector].issues]
        issue = self.rng.choice(issues[len(issues) // 2:])  # one of its sector's rarer issues
        extra = max(1.5, self.base(f) * self.rng.uniform(0.8, 1.2))
        d0 = self.onset()
        for d in range(d0, self.last + 1):
            self.claims(f, d, extra, issue=issue)
        self.case("issue_mix", firm_keys(f), d0, self.last + 1, f"{f.name}: +{extra:.1f} claims a day on {issue}")

    def amount(self) -> None:
        f = self.pick(0.2, 4.0)
        s = SECTORS[f.sector]
        extra = max(1.5, 0.8 * self.base(f))
        d0 = self.onset()
        for d in range(d0, self.last + 1):
            self.claims(f, d, extra, amount=s.amount_median * self.rng.uniform(6.0, 15.0))
        self.case("amount", firm_keys(f), d0, self.last + 1, f"{f.name}: +{extra:.1f} claims a day of large sums")

    def spike(self) -> None:
        sim, rng = self.sim, self.rng
        f = self.pick(0.05, 1.0)
        day = rng.randint(self.first + 14, self.last)
        start = sim._midnight0 + day * _DAY + rng.randint(9, 14) * _HOUR
        span = rng.randint(2, 6) * _HOUR
        issue = rng.choice([i for i, _ in SECTORS[f.sector].issues][:3])
        for _ in range(rng.randint(15, 40)):
            ts = start + rng.randrange(span)
            if ts < sim._t1:
                self.out.append((ts, _claim(self.w, rng, f, sim._new_person(), ts, issue=issue)))
        self.case("decoy_spike", firm_keys(f), day, day + 1, f"{f.name}: a one-day burst")

    def season(self) -> None:
        sector = self.rng.choice(_SEASON_SECTORS)
        m = self.rng.uniform(1.8, 2.5)
        d0 = self.onset()
        members = [f for f in self.sim.firms if f.sector == sector]
        for f in members:
            if f.idx in self.taken:
                continue
            for d in range(d0, self.last + 1):
                self.claims(f, d, (m - 1) * self.base(f) / _CLAIM_SHARE * _FIRM_BEARING, consultations=True)
        self.case("decoy_season", tuple(k for f in members for k in firm_keys(f)), d0, self.last + 1,
                  f"{sector}: every firm ×{m:.1f}")


def _claim(w: _Writer, rng: random.Random, f: _Firm, person: int, ts: int, *, issue: str | None = None,
           amount: float | None = None, consultations: bool = False) -> dict[str, Any]:
    """One complaint or report about *f* (as the background writes them), on *issue*, naming
    *amount*; with *consultations*, a consultation as often as the background has them."""
    u = rng.random() * (_FIRM_BEARING if consultations else _CLAIM_SHARE)
    kind = 0 if u < KIND_SHARES["complaint"] else 1 if u < _CLAIM_SHARE else 2
    t = w.background_ticket(kind, f.idx, person, ts, issue=issue)
    if amount is not None:
        t["amount"] = float(round(amount))
    return t
