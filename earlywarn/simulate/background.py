"""Planning the background: every ordinary ticket's time, kind, firm and caller.

:class:`_BackgroundPlanner` lays out the stream's usual shape (Poisson counts per hour
from the daily and weekly rhythm, the calendar's volume and sector lifts, festivals,
repeat callers, professional claimants) as compact tuples; their text is written later,
lazily, by :class:`~earlywarn.simulate.writer._Writer`. It also labels each shopping
festival as a decoy.
"""

from __future__ import annotations

import bisect
import random
from typing import Any

from earlywarn.simulate.draws import _cum, _poisson
from earlywarn.simulate.families import DECOY_FAMILIES
from earlywarn.simulate.records import Incident, text_key
from earlywarn.simulate.rhythm import (
    _CALENDAR_BY_DAY,
    _CONSULT_WITH_FIRM,
    _DAY,
    _ECOMMERCE,
    _FIRM_BEARING,
    _HOUR,
    _KINDS,
    HOURLY_PROFILE,
    KIND_SHARES,
    WEEKDAY_VOLUME,
)
from earlywarn.simulate.state import _ScenarioState


class _BackgroundPlanner(_ScenarioState):
    """Plans the background tickets and the festival decoys' labels."""

    def _festival_days(self, rng: random.Random) -> dict[int, tuple[str, float]]:
        """Day index -> (name, e-commerce multiplier) of every shopping festival in range."""
        out: dict[int, tuple[str, float]] = {}
        first, last = self._day_index(self._t0), self._day_index(self._t1 - 1)
        for d in range(first, last + 1):
            for c in _CALENDAR_BY_DAY.get(self._date_of(d), ()):
                if c.kind == "shopping_festival":
                    # A festival's pull varies from year to year: ×2–3 around its nominal value.
                    out[d] = (c.name, min(3.0, max(2.0, c.sectors[0][1] * rng.uniform(0.85, 1.15))))
        want = self._counts(self.cfg.decoys, DECOY_FAMILIES, rng).get("decoy_festival", 0)
        tries = 0
        after_warmup = self._day_index(self._t0 + int(self.cfg.warmup_days * _DAY))
        while len(out) < want and tries < 100:  # a platform's own anniversary sale
            tries += 1
            d = rng.randint(min(after_warmup, last), last)
            if d not in out and self._date_of(d).weekday() < 5:
                out[d] = ("店庆大促", rng.uniform(2.0, 3.0))
        return out

    def _day_profile(self, d: int) -> tuple[float, dict[str, float]]:
        """(volume multiplier, sector multipliers) of local day index *d*."""
        day = self._date_of(d)
        cal = _CALENDAR_BY_DAY.get(day, ())
        holiday = [c for c in cal if c.kind == "holiday"]
        volume = holiday[0].volume if holiday else WEEKDAY_VOLUME[day.weekday()]
        sectors: dict[str, float] = {}
        for c in cal:
            if c.kind == "shopping_festival":
                continue  # taken from self._festivals (seed-jittered)
            if c.kind != "holiday":
                volume *= c.volume
            for s, m in c.sectors:
                sectors[s] = max(sectors.get(s, 1.0), m)
        if d in self._festivals:
            m = self._festivals[d][1]
            for s in _ECOMMERCE:
                sectors[s] = max(sectors.get(s, 1.0), m)
        return volume, sectors

    def _plan_background(self, rng: random.Random) -> list[tuple[int, int, int, int, int, dict[str, Any] | None]]:
        """(ts, order, kind, firm, person, None) for every background ticket; fills
        ``self._festival_orders`` (festival day -> orders of its e-commerce tickets)."""
        cfg = self.cfg
        r = rng.random
        hour_share = [h / sum(HOURLY_PROFILE) for h in HOURLY_PROFILE]
        kind_cum = _cum([KIND_SHARES[k] for k in _KINDS])
        kind_top = kind_cum[-1]
        # Kinds among tickets that name a firm (a consultation names one 30 % of the time).
        firm_kind_cum = _cum([KIND_SHARES["complaint"], KIND_SHARES["report"],
                              KIND_SHARES["consultation"] * _CONSULT_WITH_FIRM])  # fmt: skip
        firm_kind_top = firm_kind_cum[-1]
        firms = self.firms
        firm_cum = self._firm_cum
        firm_top = firm_cum[-1]
        is_ecom = [f.sector in _ECOMMERCE for f in firms]
        sector_share: dict[str, float] = {}
        for f in firms:
            sector_share[f.sector] = sector_share.get(f.sector, 0.0) + f.weight
        extra_tables: dict[tuple[tuple[str, float], ...], list[float]] = {}
        plan: list[tuple[int, int, int, int, int, dict[str, Any] | None]] = []
        append = plan.append
        n_prof = cfg.professionals
        person = self._next_person  # the next new person
        prof_firms = self._small(("食品", "保健品", "电商平台")) or firms
        # A festival's label covers the sale day and two days of returns after it.
        festival_of = {d + k: d for d in sorted(self._festivals) for k in (2, 1, 0)}
        self._festival_orders: dict[int, list[int]] = {d: [] for d in self._festivals}
        bisect_ = bisect.bisect
        first, last = self._day_index(self._t0), self._day_index(self._t1 - 1)
        for d in range(first, last + 1):
            volume, sectors = self._day_profile(d)
            # Sector boosts add firm-bearing tickets about those sectors on top of the base day.
            extra = sum(sector_share.get(s, 0.0) * (m - 1) for s, m in sectors.items())
            p_extra = _FIRM_BEARING * extra / (1 + _FIRM_BEARING * extra)
            key = tuple(sorted(sectors.items()))
            if extra > 0 and key not in extra_tables:
                extra_tables[key] = _cum([f.weight * (sectors.get(f.sector, 1.0) - 1) for f in firms])
            extra_cum = extra_tables.get(key) if extra > 0 else None
            extra_top = extra_cum[-1] if extra_cum else 0.0
            fest = self._festival_orders.get(festival_of.get(d, -1))
            day_total = cfg.tickets_per_day * volume * (1 + _FIRM_BEARING * extra)
            midnight = self._midnight0 + d * _DAY
            for h in range(24):
                lo, hi = max(midnight + h * _HOUR, self._t0), min(midnight + (h + 1) * _HOUR, self._t1)
                if hi <= lo:
                    continue
                span = hi - lo
                n = _poisson(rng, day_total * hour_share[h] * span / _HOUR)
                times = [lo + int(r() * span) for _ in range(n)]
                times.sort()
                for ts in times:
                    if extra_cum is not None and r() < p_extra:  # an extra ticket about a boosted sector
                        kind = bisect_(firm_kind_cum, r() * firm_kind_top)
                        firm = bisect_(extra_cum, r() * extra_top)
                    else:
                        kind = bisect_(kind_cum, r() * kind_top)
                        firm = bisect_(firm_cum, r() * firm_top) if kind < 2 or r() < _CONSULT_WITH_FIRM else -1
                    # About 5 % of callers have called before (about anything).
                    if r() < 0.05 and person > n_prof + 1:
                        who = max(n_prof, person - 1 - int(r() * 3000))
                    else:
                        who = person
                        person += 1
                    if fest is not None and firm >= 0 and is_ecom[firm]:
                        fest.append(len(plan))
                    append((ts, len(plan), kind, firm, who, None))
            # Professional claimants work office hours on working days, many claims each.
            if self._date_of(d).weekday() < 5:
                for p in range(n_prof):
                    for _ in range(_poisson(rng, 1.5)):
                        ts = midnight + 9 * _HOUR + int(r() * 8 * _HOUR)
                        if self._t0 <= ts < self._t1:
                            f = prof_firms[int(r() * len(prof_firms))].idx
                            if fest is not None and is_ecom[f]:
                                fest.append(len(plan))
                            append((ts, len(plan), 1 if r() < 0.7 else 0, f, p, None))
        self._next_person = person
        return plan

    def _festival_labels(self, ids: dict[int, str], by_order: dict[int, tuple[int, int]]) -> list[Incident]:
        """One decoy label per festival: its e-commerce tickets, sale day and two days after."""
        if not self._decoy_counts.get("decoy_festival"):
            return []
        keys: set[str] = set()
        for f in self._platforms:
            keys.add(f.firm_id)
            keys.add("name:" + text_key(f.name))
        keys |= {text_key(i) for i in ("质量", "售后服务", "退费", "虚假宣传")}
        out = []
        for d, (name, mult) in sorted(self._festivals.items()):
            orders = sorted(self._festival_orders[d], key=lambda o: by_order[o])
            if not orders:
                continue
            out.append(
                Incident(
                    incident_id=f"s{self.cfg.seed}-decoy_festival-{len(out) + 1}",
                    family="decoy_festival",
                    expected_type=None,
                    dimension="firm",
                    keys=tuple(sorted(keys)),
                    start_ts=float(by_order[orders[0]][0]),
                    end_ts=float(by_order[orders[-1]][0]),
                    people=len({by_order[o][1] for o in orders} - {-1}),
                    ticket_ids=tuple(ids[o] for o in orders),
                    ticket_ts=tuple(float(by_order[o][0]) for o in orders),
                    description=f"{name}：电商 ×{mult:.1f}（当天及其后两天售后）",
                )
            )
        return out
