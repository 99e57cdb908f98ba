"""The state a scenario's planners and its writer share, and the small helpers over it.

:class:`_ScenarioState` declares what :class:`~earlywarn.simulate.scenario.Simulation`'s
constructor sets up (the config, the clock, the firms, the people counter, the reservations)
and the helpers every planner uses: seeded generators by purpose, person ids, day indices,
the long tail of a sector's firms, and how many incidents of each family a config asks for.
The planners are classes over it (:mod:`~earlywarn.simulate.background`,
:mod:`~earlywarn.simulate.incidents`, :mod:`~earlywarn.simulate.planners`), so each reads as
the method it was when the simulator was one class; ``Simulation`` combines them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from earlywarn.simulate.draws import _scramble
from earlywarn.simulate.population import _Firm
from earlywarn.simulate.records import Counts, SimConfig
from earlywarn.simulate.rhythm import _DAY, _HOUR
from earlywarn.simulate.vocab import _BIG_FIRMS

_PAST_DAYS = 70  # narratives date purchases up to ~2 months before the call


class _ScenarioState:
    """A scenario's shared state (set by ``Simulation.__init__``) and helpers over it."""

    cfg: SimConfig
    firms: list[_Firm]
    unplaced: list[str]
    _seed_text: str
    _t0: int  # first and last (exclusive) event time, UTC epoch seconds
    _t1: int
    _midnight0: int  # local midnight at or before the start: day index 0
    _dates: list[date]  # local dates from day index -_PAST_DAYS on
    _perm_b: int  # person ids are _scramble(number + _perm_b)
    _district_codes: tuple[str, ...]
    _district_cum: list[float]
    _firm_cum: list[float]
    _rank: dict[int, int]  # firm idx -> Zipf rank
    _platforms: list[_Firm]
    _by_sector: dict[str, list[_Firm]]
    _reserved: dict[str, list[tuple[int, int]]]  # key -> (t0, t1) windows of planned incidents
    _used: set[str]
    _next_person: int
    _festivals: dict[int, tuple[str, float]]
    _festival_orders: dict[int, list[int]]
    _decoy_counts: dict[str, int]

    def _rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self._seed_text}:{purpose}")

    def _person_id(self, idx: int) -> str:
        return f"P{_scramble(idx + self._perm_b):010d}"

    def _new_person(self) -> int:
        self._next_person += 1
        return self._next_person - 1

    def _day_index(self, ts: int) -> int:
        return (ts - self._midnight0) // _DAY

    def _date_of(self, day_idx: int) -> date:
        return self._dates[day_idx + _PAST_DAYS]

    def _local_hour(self, ts: int) -> int:
        return ((ts - self._midnight0) % _DAY) // _HOUR

    def _small(self, sectors: Sequence[str], min_rank: int | None = None) -> list[_Firm]:
        """Firms of these sectors in the long tail (usually no tickets on a given day)."""
        lo = min_rank if min_rank is not None else max(len(_BIG_FIRMS) + 1, len(self.firms) // 5)
        return [f for s in sectors for f in self._by_sector.get(s, ()) if self._rank[f.idx] >= lo]

    def _counts(self, spec: Counts | float, families: Sequence[str], rng: random.Random) -> dict[str, int]:
        """Family -> how many a config's *spec* asks for: its explicit pairs summed, or a rate
        per day after the warm-up spread round-robin in an order drawn from *rng* (and one
        festival decoy when there are any)."""
        if isinstance(spec, (int, float)):
            span = max(0.0, self.cfg.days - self.cfg.warmup_days)
            total = round(float(spec) * span)
            fams = [f for f in families if f != "decoy_festival"]
            order = rng.sample(fams, len(fams))
            out = {f: 0 for f in families}
            for i in range(total):
                out[order[i % len(order)]] += 1
            if "decoy_festival" in families and total:
                out["decoy_festival"] = 1
            return out
        out = {f: 0 for f in families}
        for f, n in spec:
            out[f] += n
        return out
