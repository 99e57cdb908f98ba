"""Scheduling injected incidents: room on the calendar, arrival times, people, and the label.

:class:`_IncidentScheduler` holds what every incident planner shares: keeping incidents
that name the same key apart (``_free`` / ``_reserve``), a daytime start after the warm-up,
bursty first-contact times, follow-up calls, variety among variants, and turning a
:class:`_Planned` incident into its :class:`~earlywarn.simulate.records.Incident` label.
The families' own planners are in :mod:`earlywarn.simulate.planners`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from earlywarn.simulate.families import _EXPECTED
from earlywarn.simulate.population import _Firm
from earlywarn.simulate.records import Incident, firm_key, text_key
from earlywarn.simulate.rhythm import _DAY, _HOUR, _HOUR_MAX, HOURLY_PROFILE
from earlywarn.simulate.state import _ScenarioState

_T = TypeVar("_T")


@dataclass(slots=True)
class _Planned:
    """An incident being planned: its tickets (dicts without ids yet) and label fields."""

    family: str
    tickets: list[dict[str, Any]]
    ts: list[int]
    dimension: str
    keys_from: Callable[[list[dict[str, Any]]], set[str]]
    description: str
    reserve: list[str]


class _IncidentScheduler(_ScenarioState):
    """The scheduling every incident family's planner uses."""

    def _free(self, keys: Sequence[str], t0: int, t1: int) -> bool:
        margin = 2 * _DAY  # keep label windows (plus the scorer's grace) apart
        return all(
            b + margin <= t0 or t1 + margin <= a for k in keys for a, b in self._reserved.get(k, ())
        )

    def _reserve(self, keys: Sequence[str], t0: int, t1: int) -> None:
        for k in keys:
            self._reserved.setdefault(k, []).append((t0, t1))

    def _fresh(self, rng: random.Random, options: Sequence[_T], name: Callable[[_T], str]) -> _T:
        """A random option, preferring one this scenario has not used yet (variety)."""
        unused = [o for o in options if name(o) not in self._used]
        choice = rng.choice(unused or list(options))
        self._used.add(name(choice))  # kept even if the plan is then dropped: variety is a preference
        return choice

    def _start(self, rng: random.Random, duration: int, first_hour: int, last_hour: int) -> int | None:
        """A start at a daytime hour (*first_hour*..*last_hour*) after the warm-up that leaves
        room for *duration* before the end, or None when the scenario is too short."""
        lo = self._t0 + int(self.cfg.warmup_days * _DAY)
        hi = self._t1 - duration - _HOUR
        if hi <= lo:
            return None
        for _ in range(20):
            ts = rng.randrange(lo, hi)
            midnight = ts - (ts - self._midnight0) % _DAY
            ts = midnight + rng.randrange(first_hour * _HOUR, last_hour * _HOUR)
            if lo <= ts <= hi:
                return ts
        return None

    def _arrivals(
        self, rng: random.Random, n: int, t0: int, duration: int, burst_frac: float, burst: int
    ) -> list[int]:
        """*n* first-contact times: a burst just after *t0*, then a decaying tail, fewer at night."""
        times = [t0]
        end = t0 + duration
        while len(times) < n:
            if rng.random() < burst_frac:
                off = int(rng.random() ** 1.3 * burst)
            else:
                off = int(rng.random() ** 1.8 * duration)
            ts = min(t0 + off, end)
            # People call less at night: thin night-time arrivals (they call next morning).
            if rng.random() < 0.25 + 0.75 * HOURLY_PROFILE[self._local_hour(ts)] / _HOUR_MAX:
                times.append(ts)
        return sorted(times)

    def _people_tickets(self, rng: random.Random, firsts: list[int], end: int) -> list[tuple[int, int, int]]:
        """(ts, person, nth) for each ticket: most people file once, some follow up."""
        out = []
        for ts in firsts:
            person = self._new_person()
            out.append((ts, person, 0))
            extra = (rng.random() < 0.10) + (rng.random() < 0.02)
            for k in range(extra):
                out.append((min(end, ts + rng.randrange(_HOUR // 2, 24 * _HOUR)), person, k + 1))
        out.sort()
        return out

    def _label(self, i: int, p: _Planned) -> Incident:
        expected, _dim = _EXPECTED[p.family]
        return Incident(
            incident_id=f"s{self.cfg.seed}-{p.family}-{i + 1}",
            family=p.family,
            expected_type=expected,
            dimension=p.dimension,
            keys=tuple(sorted(p.keys_from(p.tickets))),
            start_ts=float(min(p.ts)),
            end_ts=float(max(p.ts)),
            people=len({t["complainant_id"] for t in p.tickets if t.get("complainant_id")}),
            ticket_ids=tuple(t["ticket_id"] for t in sorted(p.tickets, key=lambda t: t["ticket_id"])),
            ticket_ts=tuple(float(ts) for _, ts in sorted(zip((t["ticket_id"] for t in p.tickets), p.ts))),
            description=p.description,
        )


def _firm_keys_of(firm: _Firm) -> Callable[[list[dict[str, Any]]], set[str]]:
    """Keys of *firm* as its tickets spell them (its USCC, and its name key if any ticket lacks a valid id)."""

    def keys(tickets: list[dict[str, Any]]) -> set[str]:
        return {k for t in tickets if _names(t, firm) and (k := firm_key(t))}

    return keys


def _names(ticket: dict[str, Any], firm: _Firm) -> bool:
    return str(ticket.get("firm_name", "")).strip() == firm.name


def _firm_issue_keys_of(firm: _Firm) -> Callable[[list[dict[str, Any]]], set[str]]:
    def keys(tickets: list[dict[str, Any]]) -> set[str]:
        return {
            f"{firm_key(t)}|{text_key(t['issue_category'])}"
            for t in tickets
            if _names(t, firm) and t.get("issue_category")
        }

    return keys
